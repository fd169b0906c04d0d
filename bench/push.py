"""Push throughput per target against a naive sender, with a fixed latency on every answer.

A warehouse is built by the real models from N conversions (10,000 by default), every one
sendable to every target. Each target's receiver runs in its own process with a latency on
every answer (20 ms by default). For each target, measured in the same run:

- push: `pipelines.push.push([target])`, in this process: ledger reads and writes included;
- naive: the same payloads sent one request at a time, one event per request, nothing
  recorded. Its rate is measured on the first `--naive-sample` events (a rate does not
  depend on how many are sent; all 10,000 would take 200 s per target).

Printed (and written to bench/results/push.md): events per second of each, and their ratio.
Every push is checked: its report counts each conversion sent and nothing failed.

Run: `make bench`, or `.venv/bin/python -m bench.push --conversions 2000`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb

from pipelines.models.build import build_models
from pipelines.models.settings import ModelSettings
from pipelines.push import TARGETS, push
from pipelines.push.delivery import Pending

RESULTS = Path(__file__).resolve().parent / "results" / "push.md"
TID, API_KEY, TRACKING_ID = "UA-12345-1", "bench-gameball-key", "bench-tracking"
SETTINGS = ModelSettings(currency="RON", owox_tid=TID)

# The conversions' calls, three days before the run: recent, as a scheduled push sees them.
RAW_SQL = """
create schema infinity;
create schema footprints;
create table infinity.triggers as
select
    i as row_id,
    timestamp '{called_at}' as trigger_datetime,
    'call' as act,
    '+4477' || lpad(i::varchar, 8, '0') as caller_phone_e164,
    'Google Ads' as ch_name, 'ppc' as ch_type, 'google' as src,
    'Boiler Cover' as campaign, 'Exact' as ad_group, 'boiler cover' as term,
    'vid-' || i as vid, 120 as call_duration,
    'qv-' || i as c_qubit_visitor_id, i || '.1789000000' as c_ga_client_id
from range(1, {n} + 1) as r(i);
create table footprints.leads as
select
    'L' || lpad(i::varchar, 7, '0') as id,
    timestamp '{called_at}' + interval 1 hour as created_at,
    'customer' as status,
    timestamp '{called_at}' + interval 2 day + i * interval 1 second
        as timestamp_status_change,
    100.0 + i % 50 as contract_value,
    null::bigint as sku__price, null::bigint as offer__price,
    '+4477' || lpad(i::varchar, 8, '0') as user_phone,
    '+4477' || lpad(i::varchar, 8, '0') as user_phone_e164,
    'lead' || i || '@example.com' as user_email,
    'client-' || i as client_id, 'EXT-' || i as user_external_id
from range(1, {n} + 1) as r(i);
"""


def build_warehouse(path: Path, conversions: int) -> None:
    with duckdb.connect(str(path)) as con:
        called_at = (datetime.now(UTC) - timedelta(days=3)).replace(tzinfo=None, microsecond=0)
        con.execute(RAW_SQL.format(n=conversions, called_at=called_at))
    build_models(dlt.destinations.duckdb(str(path)), config=SETTINGS)


def start_receiver(module: str, latency_ms: float, *args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            f"emulators.{module}",
            "--latency-ms",
            str(latency_ms),
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    urllib.request.urlopen(f"{url}/_emulator/health", timeout=10).read()
    return process, url


def receiver_settings(target: str, url: str) -> dict[str, str]:
    return {
        "qubit": {
            "DESTINATION__QUBIT__BASE_URL": url,
            "DESTINATION__QUBIT__TRACKING_ID": TRACKING_ID,
        },
        "owox": {"DESTINATION__OWOX__ENDPOINT": url, "DESTINATION__OWOX__TID": TID},
        "gameball": {
            "DESTINATION__GAMEBALL__BASE_URL": f"{url}/api/v3.0",
            "DESTINATION__GAMEBALL__API_KEY": API_KEY,
            # The default (40/s, Gameball's own limit) would measure the limit, not the push.
            "DESTINATION__GAMEBALL__MAX_REQUESTS_PER_SECOND": "10000",
        },
    }[target]


RECEIVER_ARGS = {
    "qubit": ("--tracking-id", TRACKING_ID),
    "owox": ("--tid", TID),
    "gameball": ("--api-key", API_KEY),
}


def naive_rate(target_name: str, warehouse: Path, sample: int) -> float:
    """Events per second sending `sample` payloads one request, one event, at a time."""
    target = TARGETS[target_name].from_config()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(f"select * from {target.table} order by lead_id limit {sample}")
        names = [d[0] for d in cursor.description]
        rows: list[dict[str, Any]] = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    session = target.session()
    started = time.perf_counter()
    for row in rows:
        payload = target.payload(row)
        pending = Pending(row[target.id_column], row["lead_id"], payload, "", row)
        (outcome,) = target.send(session, [pending])
        assert outcome.status == "sent", outcome
    return len(rows) / (time.perf_counter() - started)


def push_rate(target_name: str, conversions: int) -> tuple[float, int]:
    started = time.perf_counter()
    report = push([target_name])
    seconds = time.perf_counter() - started
    (result,) = report.targets
    assert result.sent == conversions and not result.problem, report.summary()
    return conversions / seconds, result.sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.push", description=__doc__)
    parser.add_argument("--conversions", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--naive-sample", type=int, default=300)
    args = parser.parse_args(argv)

    lines = [
        f"# Push: {args.conversions:,} conversions per target, {args.latency_ms:g} ms per answer",
        "",
        "| target | push events/s | naive events/s | ratio | push s |",
        "|---|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-push-") as work:
        warehouse = Path(work) / "warehouse.duckdb"
        os.environ.update(
            DESTINATION__DUCKDB__CREDENTIALS=str(warehouse),
            RUNTIME__DLTHUB_TELEMETRY="false",
        )
        build_warehouse(warehouse, args.conversions)
        for target in TARGETS:
            process, url = start_receiver(target, args.latency_ms, *RECEIVER_ARGS[target])
            try:
                os.environ.update(receiver_settings(target, url))
                naive = naive_rate(target, warehouse, args.naive_sample)
                rate, sent = push_rate(target, args.conversions)
            finally:
                process.terminate()
                process.wait(timeout=30)
            lines.append(
                f"| {target} | {rate:,.0f} | {naive:,.1f} | {rate / naive:,.1f}x | "
                f"{sent / rate:.1f} |"
            )
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
