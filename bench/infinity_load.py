"""Load speed of `python -m pipelines extract infinity`, against DuckDB's own JSON reader.

What is measured, all in one run on one machine:

1. Extract: wall time of `python -m pipelines extract infinity` (its own process: route `all`,
   page_size 10,000, the default pages_per_load) fetching N triggers from the Infinity emulator
   (another process) into a fresh DuckDB file, from process start to exit, so interpreter
   start-up and imports count, as they do for an operator. The run must exit 0 and leave
   exactly N distinct row_id in infinity.triggers.
2. Floor: the same N rows, fetched beforehand (untimed) into one newline-delimited JSON file,
   loaded by DuckDB itself with `CREATE TABLE t AS SELECT * FROM read_json(...)` into a fresh
   DuckDB file, connect and close (checkpoint) included: roughly the least work that turns
   this data into a DuckDB table, with no HTTP, typing or dlt bookkeeping.
3. The ratio extract / floor; the target is at most 1.5.
4. Peak memory (max RSS, from `wait4`) of the extract process at N/2, N and 2N rows, each
   against a fresh emulator and warehouse, to show whether peak memory grows with the number of
   rows. One load chunk is pages_per_load x page_size rows (20 x 10,000 = 200,000 by default):
   within a chunk the warehouse's insert grows with its rows, so at the default N the N/2 and N
   sizes differ; 2N is two chunks and shows whether chunking bounds it. Max RSS varies by about
   10% between identical runs, so the timed runs' peaks are listed too.

Why a ratio: the machine is shared and noisy, so absolute seconds say little from one run to
the next. The floor is measured in the same run, interleaved with the extract runs (extract,
floor, extract, floor, ...) so that noise affects both alike, and each is the median of
`--repeats` runs. Compare ratios across runs, not seconds.

Run: `make bench`, or `.venv/bin/python -m bench.infinity_load --rows 20000 --repeats 1` for a
quick check. The table is printed and written to bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import requests

from bench.report import markdown_table, note

RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"
PAGE_SIZE = 10_000
SEED = 7
# The emulator CLI's defaults (pipelines/emulators/infinity.py, main()).
IGRP, USERNAME, PASSWORD = "1", "demo", "demo-pass"
# Generating a few hundred thousand rows takes the emulator a while before it listens.
EMULATOR_START_SECONDS = 600.0
STOP_SECONDS = 10.0
# Settings the runs must not inherit from the caller's environment (they would change what is
# measured); the benchmark sets its own.
INHERITED_PREFIXES = (
    "SOURCES__",
    "DESTINATION__",
    "SYNC__",
    "HTTP__",
    "RUNTIME__",
    "EXTRACT__",
    "NORMALIZE__",
    "LOAD__",
    "DATA_WRITER__",
)


class BenchError(RuntimeError):
    """A run failed or produced the wrong data: the figures would be meaningless."""


@dataclass(frozen=True)
class ExtractRun:
    seconds: float
    max_rss_kib: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's pid, then wait; SIGKILL if it does not exit in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def emulator(rows: int, workdir: Path) -> Iterator[str]:
    """An Infinity emulator process serving `rows` triggers; yields its base URL."""
    port = free_port()
    log_path = workdir / f"emulator-{rows}-{port}.log"
    command = [sys.executable, "-m", "emulators.infinity"]
    command += ["--port", str(port), "--rows", str(rows), "--seed", str(SEED)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        deadline = started + EMULATOR_START_SECONDS
        while True:
            if process.poll() is not None:
                raise BenchError(
                    f"emulator exited with {process.returncode} before serving:\n{tail(log_path)}"
                )
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                if requests.get(f"{url}/_emulator/health", timeout=2).status_code == 200:
                    break
            if time.perf_counter() > deadline:
                raise BenchError(f"emulator not healthy after {EMULATOR_START_SECONDS:.0f} s")
            time.sleep(0.2)
        note(f"emulator with {rows:,} rows ready in {time.perf_counter() - started:.1f} s")
        yield url
    finally:
        stop(process)


def extract_env(url: str, run_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES)}
    env.update(
        {
            "SOURCES__INFINITY__BASE_URL": f"{url}/reports/v2",
            "SOURCES__INFINITY__IGRP": IGRP,
            "SOURCES__INFINITY__USERNAME": USERNAME,
            "SOURCES__INFINITY__PASSWORD": PASSWORD,
            "SOURCES__INFINITY__ROUTES": '["all"]',
            "SOURCES__INFINITY__PAGE_SIZE": str(PAGE_SIZE),
            "DESTINATION__DUCKDB__CREDENTIALS": str(run_dir / "warehouse.duckdb"),
            "SYNC__PIPELINES_DIR": str(run_dir / "pipelines"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
    )
    return env


def run_extract(url: str, rows: int, workdir: Path) -> ExtractRun:
    """One `python -m pipelines extract infinity` into a fresh warehouse, checked afterwards."""
    run_dir = Path(tempfile.mkdtemp(prefix="extract-", dir=workdir))
    try:
        log_path = run_dir / "extract.log"
        # cwd is the run's own folder, so the project's .dlt/config.toml is not read.
        command = [sys.executable, "-m", "pipelines", "extract", "infinity"]
        with open(log_path, "wb") as log:
            started = time.perf_counter()
            process = subprocess.Popen(
                command,
                cwd=run_dir,
                env=extract_env(url, run_dir),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            # wait4 reaps the child and returns its resource usage (ru_maxrss in KiB on Linux).
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if process.returncode is None:
                process.kill()
                process.wait()
        if process.returncode != 0:
            raise BenchError(f"extract exited with {process.returncode}:\n{tail(log_path)}")
        with duckdb.connect(str(run_dir / "warehouse.duckdb"), read_only=True) as con:
            total, distinct = con.execute(
                "select count(*), count(distinct row_id) from infinity.triggers"
            ).fetchone()
        if distinct != rows or total != rows:
            raise BenchError(
                f"infinity.triggers has {distinct:,} distinct row_id in {total:,} rows, "
                f"expected {rows:,}:\n{tail(log_path)}"
            )
        return ExtractRun(seconds, usage.ru_maxrss)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def fetch_ndjson(url: str, rows: int, path: Path) -> None:
    """Every row of route `all`, keyset-paged as the API requires, into one NDJSON file."""
    after, fetched = 0, 0
    with requests.Session() as session, open(path, "wb") as out:
        while True:
            response = session.get(
                f"{url}/reports/v2/igrps/{IGRP}/triggers/all",
                params={
                    "format": "json",
                    "sort[]": "rowId-asc",
                    "limit": PAGE_SIZE,
                    "filter[]": f"rowId-gt-value-{after}",
                },
                auth=(USERNAME, PASSWORD),
                timeout=60,
            )
            response.raise_for_status()
            body = response.content.rstrip(b"\n")
            if not body:
                break
            lines = body.split(b"\n")
            out.write(body + b"\n")
            fetched += len(lines)
            after = int(orjson.loads(lines[-1])["rowId"])
    if fetched != rows:
        raise BenchError(f"fetched {fetched:,} rows for the floor, expected {rows:,}")


def time_floor(ndjson: Path, workdir: Path, rows: int) -> float:
    """DuckDB's own read_json into a fresh file, connect to close; the row count is checked."""
    database = workdir / "floor.duckdb"
    source = str(ndjson).replace("'", "''")
    started = time.perf_counter()
    con = duckdb.connect(str(database))
    try:
        con.execute(
            f"create table t as select * from read_json('{source}', format='newline_delimited')"
        )
    finally:
        con.close()  # checkpoints: the data is in the file, as it is after the extract
    seconds = time.perf_counter() - started
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            (count,) = con.execute("select count(*) from t").fetchone()
    finally:
        database.unlink(missing_ok=True)
        database.with_name(database.name + ".wal").unlink(missing_ok=True)
    if count != rows:
        raise BenchError(f"the floor table has {count:,} rows, expected {rows:,}")
    return seconds


def positive_int(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError("must be at least 2")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.infinity_load", description=__doc__)
    parser.add_argument("--rows", type=positive_int, default=200_000, help="triggers to load")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each timed measurement")
    args = parser.parse_args(argv)
    rows, repeats = args.rows, max(1, args.repeats)
    half, double = rows // 2, rows * 2
    nproc = len(os.sched_getaffinity(0))
    extract_seconds: list[float] = []
    floor_seconds: list[float] = []
    peak_kib: dict[int, int] = {}
    timed_peak_kib: list[int] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-infinity-") as tmp:
            workdir = Path(tmp)
            # Memory first, each size against a fresh emulator (this also warms the page cache
            # with the modules every later extract imports).
            for size in (half, rows, double):
                with emulator(size, workdir) as url:
                    run = run_extract(url, size, workdir)
                peak_kib[size] = run.max_rss_kib
                note(f"memory: {size:,} rows peaked at {run.max_rss_kib / 1024:.0f} MiB")
            with emulator(rows, workdir) as url:
                ndjson = workdir / "triggers.ndjson"
                fetch_ndjson(url, rows, ndjson)
                size_mib = ndjson.stat().st_size / 2**20
                note(f"floor input: {rows:,} rows, {size_mib:.0f} MiB of NDJSON")
                for attempt in range(1, repeats + 1):
                    run = run_extract(url, rows, workdir)
                    extract_seconds.append(run.seconds)
                    timed_peak_kib.append(run.max_rss_kib)
                    note(f"extract {attempt}/{repeats}: {run.seconds:.2f} s")
                    floor_seconds.append(time_floor(ndjson, workdir, rows))
                    note(f"floor {attempt}/{repeats}: {floor_seconds[-1]:.2f} s")
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1

    extract_s = statistics.median(extract_seconds)
    floor_s = statistics.median(floor_seconds)
    ratio = extract_s / floor_s
    peak_half, peak_full = peak_kib[half] / 1024, peak_kib[rows] / 1024
    peak_double = peak_kib[double] / 1024
    table = markdown_table(
        [
            ("rows", f"{rows:,}"),
            ("nproc", str(nproc)),
            ("extract rows/s", f"{rows / extract_s:,.0f}"),
            ("floor (DuckDB read_json) rows/s", f"{rows / floor_s:,.0f}"),
            (f"extract s (median of {repeats})", f"{extract_s:.2f}"),
            (f"floor s (median of {repeats})", f"{floor_s:.2f}"),
            ("extract s, each run", ", ".join(f"{s:.2f}" for s in extract_seconds)),
            ("floor s, each run", ", ".join(f"{s:.2f}" for s in floor_seconds)),
            ("extract / floor (target <= 1.5)", f"{ratio:.2f}x"),
            (f"extract peak RSS MiB, {half:,} rows", f"{peak_half:.0f}"),
            (f"extract peak RSS MiB, {rows:,} rows", f"{peak_full:.0f}"),
            (f"extract peak RSS MiB, {double:,} rows", f"{peak_double:.0f}"),
            (f"peak RSS {rows:,} / {half:,} rows", f"{peak_full / peak_half:.2f}x"),
            (f"peak RSS {double:,} / {rows:,} rows", f"{peak_double / peak_full:.2f}x"),
            (
                f"extract peak RSS MiB, timed runs ({rows:,})",
                ", ".join(f"{kib / 1024:.0f}" for kib in timed_peak_kib),
            ),
        ]
    )
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.write_text(
        f"`python -m bench.infinity_load --rows {rows} --repeats {repeats}`, {stamp}\n\n{table}\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
