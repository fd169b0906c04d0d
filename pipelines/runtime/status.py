"""`status`: cursors, row counts, rejected rows, deliveries and the last run, from the warehouse."""

from __future__ import annotations

import json
from typing import Any

from pipelines.push.ledger import LEDGER_TABLE
from pipelines.runtime import dlt_private, warehouse
from pipelines.runtime.loading import pipelines_dir
from pipelines.runtime.warehouse import Warehouse
from pipelines.sources import rejected
from pipelines.sources.footprints.load import leads_cursor
from pipelines.sources.infinity.load import infinity_cursors
from pipelines.sources.rejected_migration import OLD_INFINITY_TABLE

DATASETS = ("infinity", "footprints")


def report() -> str:
    """A plain-text status page of the warehouse."""
    if warehouse.kind() != "duckdb":
        with warehouse.connect(dataset=DATASETS[0]) as db:
            lines = [f"Warehouse: {warehouse.kind()}", *_lines(db)]
        return "\n".join(lines + _last_run_lines())
    path = warehouse.duckdb_path()
    if not path.exists():
        return f"No warehouse at {path} yet: run `make sync` (or `python -m pipelines sync`)."
    with warehouse.read_only_duckdb() as db:
        lines = [f"Warehouse: {path}", *_lines(db)]
    return "\n".join(lines + _last_run_lines())


def _lines(db: Warehouse) -> list[str]:
    lines = []
    for dataset in DATASETS:
        lines += _dataset_lines(db, dataset)
    return lines + _delivery_lines(db)


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


def _last_run_lines() -> list[str]:
    log_path = pipelines_dir() / "runs.jsonl"
    if not log_path.exists():
        return ["Last run: none recorded on this machine"]
    run = _last_record(log_path.read_text(encoding="utf-8"))
    if run is None:
        return ["Last run: none recorded on this machine"]
    line = (
        f"Last run: {run['command']} at {run['started_at']}, {run['status']}, "
        f"{run['seconds']:.1f} s, rows {sum(run['rows'].values()):,}"
    )
    return [line + (f": {run['error']}" if run["error"] else "")]


def _last_record(text: str) -> dict[str, Any] | None:
    """The last whole line of runs.jsonl: a full disk can leave the last one cut short."""
    for line in reversed(text.splitlines()):
        try:
            return dict(json.loads(line))
        except ValueError:
            continue
    return None
