"""Wall time of `python -m pipelines extract footprints` against the ideal for its requests.

The Footprints emulator runs in its own process with a fixed latency on every answer (50 ms
by default) and serves N new leads (2,000 by default) created over the 30 days up to
yesterday. `extract footprints` runs as its own process against a fresh warehouse, so
interpreter start-up, imports, normalize and load all count. Its run summary states how
many requests it made; the ideal is

    requests x latency / max_workers

the time those requests take if the worker pool is never idle and nothing else costs time.
The ratio wall / ideal is printed (target: at most 1.3), the median of `--repeats` runs.

Run: `make bench`, or `.venv/bin/python -m bench.footprints_load --leads 500 --repeats 1`.
The table is printed and written to bench/results/footprints.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "footprints.md"
KEY, SECRET = "bench-key", "bench-secret"
DAYS = 30
MAX_WORKERS = 8


def start_emulator(leads: int, latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    today = datetime.now(UTC).date()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators.footprints",
            "--leads",
            str(leads),
            "--latency-ms",
            str(latency_ms),
            "--start",
            str(today - timedelta(days=DAYS - 1)),
            "--end",
            str(today - timedelta(days=1)),
            "--client-key",
            KEY,
            "--client-secret",
            SECRET,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        raise RuntimeError(f"the emulator did not start: {url!r}")
    return process, url


def extract_once(url: str, work: Path) -> tuple[float, int, int]:
    """Seconds, requests made and leads loaded by one `extract footprints` process."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    today = datetime.now(UTC).date()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "SYNC__"))},
        "SOURCES__FOOTPRINTS__BASE_URL": url,
        "SOURCES__FOOTPRINTS__CLIENT_KEY": KEY,
        "SOURCES__FOOTPRINTS__CLIENT_SECRET": SECRET,
        "SOURCES__FOOTPRINTS__START_DATE": str(today - timedelta(days=DAYS - 1)),
        "SOURCES__FOOTPRINTS__MAX_WORKERS": str(MAX_WORKERS),
        "DESTINATION__DUCKDB__CREDENTIALS": str(work / "warehouse.duckdb"),
        "SYNC__PIPELINES_DIR": str(work / "state"),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "extract", "footprints"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"extract footprints failed:\n{done.stdout}\n{done.stderr}")
    requests = int(re.search(r"([\d,]+) requests\.", done.stdout)[1].replace(",", ""))
    leads = int(re.search(r"footprints\.leads ([\d,]+)", done.stdout)[1].replace(",", ""))
    return seconds, requests, leads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=2_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    emulator, url = start_emulator(args.leads, args.latency_ms)
    work = Path(tempfile.mkdtemp(prefix="bench-footprints-"))
    try:
        runs = [extract_once(url, work) for _ in range(args.repeats)]
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    seconds = statistics.median(r[0] for r in runs)
    requests = runs[0][1]
    ideal = requests * args.latency_ms / 1000 / MAX_WORKERS
    table = "\n".join(
        [
            f"`extract footprints`, {args.leads:,} generated leads ({runs[0][2]:,} listed), "
            f"{args.latency_ms:g} ms per request, max_workers {MAX_WORKERS}, "
            f"median of {args.repeats}:",
            "",
            "| figure | value |",
            "|---|---|",
            f"| requests made | {requests:,} |",
            f"| ideal: requests x latency / workers | {ideal:.2f} s |",
            f"| wall time of the process | {seconds:.2f} s "
            f"(runs: {', '.join(f'{r[0]:.2f}' for r in runs)}) |",
            f"| **ratio wall / ideal** (target <= 1.3) | **{seconds / ideal:.2f}x** |",
        ]
    )
    print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
