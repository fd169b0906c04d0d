"""`status`: cursors, row counts, rejected rows, deliveries and the latest runs, from the
warehouse.

The runs come from `ops.runs` (`pipelines.runtime.history`), with the runs runs.jsonl has that
are not in it yet (a busy run, one that could not reach the warehouse); from runs.jsonl alone
only while the warehouse has no `ops.runs`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pipelines.push.ledger import LEDGER_TABLE
from pipelines.runtime import dlt_private, history, warehouse
from pipelines.runtime.warehouse import Warehouse
from pipelines.sources import rejected
from pipelines.sources.footprints.load import leads_cursor
from pipelines.sources.infinity.load import infinity_cursors
from pipelines.sources.rejected_migration import OLD_INFINITY_TABLE

DATASETS = ("infinity", "footprints")
RUNS_SHOWN = 5
ERROR_CHARS = 300  # of a run's error, in its line


def report() -> str:
    """A plain-text status page of the warehouse."""
    if warehouse.kind() != "duckdb":
        with warehouse.connect(dataset=DATASETS[0]) as db:
            lines = [f"Warehouse: {warehouse.kind()}", *_lines(db)]
        return "\n".join(lines)
    path = warehouse.duckdb_path()
    if not path.exists():
        return "\n".join(
            [
                f"No warehouse at {path} yet: run `make sync` (or `python -m pipelines sync`).",
                *_local_run_lines(),
            ]
        )
    with warehouse.read_only_duckdb() as db:
        lines = [f"Warehouse: {path}", *_lines(db)]
    return "\n".join(lines)


def _lines(db: Warehouse) -> list[str]:
    lines = []
    for dataset in DATASETS:
        lines += _dataset_lines(db, dataset)
    return lines + _delivery_lines(db) + _run_lines(db)


def _dataset_lines(db: Warehouse, dataset: str) -> list[str]:
    tables = db.tables(dataset)
    if not tables:
        return [f"{dataset}: not loaded yet"]
    lines = [f"{dataset}:"]
    state = _state(db, dataset) if "_dlt_pipeline_state" in tables else {}
    for route, row_id in infinity_cursors(state).items():
        lines.append(f"  cursor {route}: rowId {row_id}")
    complete_through = leads_cursor(state)
    if complete_through:
        lines.append(f"  cursor leads: complete through {complete_through}")
    for table in tables:
        if table.startswith("_dlt"):
            continue
        count = db.count(f"{dataset}.{table}")
        lines.append(f"  {dataset}.{table}: {count:,} rows")
    if rejected.TABLE in tables or OLD_INFINITY_TABLE in tables:
        lines += _rejected_lines(db, dataset, tables)
    if "_dlt_loads" in tables:
        ((last,),) = db.query(f"select max(inserted_at) from {dataset}._dlt_loads where status = 0")
        lines.append(f"  last load committed: {last:%Y-%m-%d %H:%M:%S %Z}" if last else "")
    return [line for line in lines if line]


def _rejected_lines(db: Warehouse, dataset: str, tables: list[str]) -> list[str]:
    """The latest rows set aside, read the same way for every source."""
    table = f"{dataset}.{rejected.TABLE}"
    if OLD_INFINITY_TABLE in tables or "source" not in db.columns(table):
        return [f"  rejected rows are in their shape before {table}: the next sync moves them"]
    lines = []
    for source, endpoint, row_key, error in db.query(
        f"select source, endpoint, row_key, error from {table} order by fetched_at desc limit 5"
    ):
        row = "" if row_key is None else f", row {row_key}"
        lines.append(f"  rejected: {source} {endpoint}{row}: {error}")
    return lines


def _delivery_lines(db: Warehouse) -> list[str]:
    """Ledger rows per target and status, and the latest failures with the target's words."""
    schema, table = LEDGER_TABLE.split(".")
    if table not in db.tables(schema):
        return ["deliveries: nothing pushed yet"]
    lines = ["deliveries:"]
    counts: dict[str, list[str]] = {}
    for target, status, n in db.query(
        f"select target, status, count(*) from {LEDGER_TABLE} group by target, status "
        "order by target, count(*) desc"
    ):
        counts.setdefault(target, []).append(f"{n:,} {status}")
    lines += [f"  {target}: {', '.join(parts)}" for target, parts in counts.items()]
    for target, lead_id, message in db.query(
        f"select target, lead_id, message from {LEDGER_TABLE} where status = 'failed' "
        "order by last_attempt_at desc nulls last limit 5"
    ):
        lines.append(f"  failed: {target}, lead {lead_id}: {message}")
    return lines


def _state(db: Warehouse, dataset: str) -> dict[str, Any]:
    rows = db.query(
        f"select state from {dataset}._dlt_pipeline_state order by version desc limit 1"
    )
    return dlt_private.decompress_state(rows[0][0]) if rows else {}


def _run_lines(db: Warehouse) -> list[str]:
    """The latest runs of `ops.runs`, and those of runs.jsonl not in it yet."""
    found = history.latest(db, RUNS_SHOWN)
    if found is None:
        return _local_run_lines()
    count, runs = found
    lines = [f"runs: {count:,} in {history.RUNS_TABLE}" + (", the latest:" if runs else "")]
    lines += [f"  {_run_line(run)}" for run in runs]
    pending = history.read_pending().runs
    recorded = history.recorded_ids(db, [run["run_id"] for run in pending])
    waiting = [run for run in pending if run["run_id"] not in recorded]
    if waiting:
        lines.append(
            f"  {len(waiting):,} more in runs.jsonl only, written to {history.RUNS_TABLE} by the "
            "next run that reaches the warehouse:"
        )
        lines += [f"  {_run_line(run)}" for run in waiting[::-1][:RUNS_SHOWN]]
    return lines


def _local_run_lines() -> list[str]:
    runs = history.latest_local(RUNS_SHOWN)
    if not runs:
        return ["runs: none recorded yet"]
    return [
        f"runs: none in {history.RUNS_TABLE} yet; the latest in {history.runs_file()}:",
        *(f"  {_run_line(run)}" for run in runs),
    ]


def _run_line(run: dict[str, Any]) -> str:
    """One run (a row of `ops.runs` or a line of runs.jsonl) as one line."""
    started = run.get("started_at")
    if isinstance(started, str):
        started = history.parse_timestamp(started)
    when = f"{started:%Y-%m-%d %H:%M:%S}Z" if isinstance(started, datetime) else "?"
    rows = run.get("rows") or {}
    if isinstance(rows, str):
        rows = json.loads(rows)
    counts = {t: n for t, n in rows.items() if isinstance(n, int)} if isinstance(rows, dict) else {}
    rejected = sum(n for table, n in counts.items() if table.endswith("rejected"))
    loaded = sum(counts.values()) - rejected
    seconds = run.get("seconds")
    took = f" in {seconds:.1f} s" if isinstance(seconds, int | float) else ""
    line = f"{when} {run.get('command')}: {run.get('status')}{took}, {loaded:,} rows"
    line += f" ({rejected:,} rejected)" if rejected else ""
    error = run.get("error")
    if isinstance(error, str) and error:
        line += f": {error[:ERROR_CHARS]}{'...' if len(error) > ERROR_CHARS else ''}"
    return line
