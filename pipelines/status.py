"""`status`: cursors, row counts, rejected rows and the last run, read from the warehouse."""

from __future__ import annotations

import json
from typing import Any

import duckdb
from dlt.pipeline.state_sync import decompress_state

from pipelines import runner, warehouse
from pipelines.footprints import leads_cursor
from pipelines.ledger import LEDGER_TABLE
from pipelines.settings import SyncError

DATASETS = ("infinity", "footprints")


def report() -> str:
    """A plain-text status page of the DuckDB warehouse."""
    path = warehouse.duckdb_path()
    if not path.exists():
        return f"No warehouse at {path} yet: run `make sync` (or `python -m pipelines sync`)."
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        holder = warehouse.lock_holder(error)
        if holder:
            raise SyncError(f"The warehouse {path} is held by {holder}; try again later.") from None
        raise
    try:
        lines = [f"Warehouse: {path}"]
        for dataset in DATASETS:
            lines += _dataset_lines(con, dataset)
        lines += _delivery_lines(con)
    finally:
        con.close()
    lines += _last_run_lines()
    return "\n".join(lines)


def _dataset_lines(con: duckdb.DuckDBPyConnection, dataset: str) -> list[str]:
    tables = [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "order by table_name",
            [dataset],
        ).fetchall()
    ]
    if not tables:
        return [f"{dataset}: not loaded yet"]
    lines = [f"{dataset}:"]
    state = _state(con, dataset) if "_dlt_pipeline_state" in tables else {}
    for route, row_id in runner.infinity_cursors(state).items():
        lines.append(f"  cursor {route}: rowId {row_id}")
    complete_through = leads_cursor(state)
    if complete_through:
        lines.append(f"  cursor leads: complete through {complete_through}")
    for table in tables:
        if table.startswith("_dlt"):
            continue
        count = con.execute(f'select count(*) from "{dataset}"."{table}"').fetchone()[0]
        lines.append(f"  {dataset}.{table}: {count:,} rows")
    if "rejected" in tables:
        for endpoint, error in con.execute(
            f'select endpoint, error from "{dataset}".rejected order by fetched_at desc limit 5'
        ).fetchall():
            lines.append(f"  rejected: {endpoint}: {error}")
    if "triggers_rejected" in tables:
        for route, row_id, error in con.execute(
            f'select route, row_id, error from "{dataset}".triggers_rejected '
            "order by fetched_at desc limit 5"
        ).fetchall():
            lines.append(f"  rejected: route {route}, rowId {row_id}: {error}")
    if "_dlt_loads" in tables:
        last = con.execute(
            f'select max(inserted_at) from "{dataset}"._dlt_loads where status = 0'
        ).fetchone()[0]
        lines.append(f"  last load committed: {last:%Y-%m-%d %H:%M:%S %Z}" if last else "")
    return [line for line in lines if line]


def _delivery_lines(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Ledger rows per target and status, and the latest failures with the target's words."""
    schema, table = LEDGER_TABLE.split(".")
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()[0]
    if not found:
        return ["deliveries: nothing pushed yet"]
    lines = ["deliveries:"]
    counts: dict[str, list[str]] = {}
    for target, status, n in con.execute(
        f"select target, status, count(*) from {LEDGER_TABLE} group by all "
        "order by target, count(*) desc"
    ).fetchall():
        counts.setdefault(target, []).append(f"{n:,} {status}")
    lines += [f"  {target}: {', '.join(parts)}" for target, parts in counts.items()]
    for target, lead_id, message in con.execute(
        f"select target, lead_id, message from {LEDGER_TABLE} where status = 'failed' "
        "order by last_attempt_at desc nulls last limit 5"
    ).fetchall():
        lines.append(f"  failed: {target}, lead {lead_id}: {message}")
    return lines


def _state(con: duckdb.DuckDBPyConnection, dataset: str) -> dict[str, Any]:
    row = con.execute(
        f'select state from "{dataset}"._dlt_pipeline_state order by version desc limit 1'
    ).fetchone()
    return decompress_state(row[0]) if row else {}


def _last_run_lines() -> list[str]:
    log_path = runner.pipelines_dir() / "runs.jsonl"
    if not log_path.exists():
        return ["Last run: none recorded on this machine"]
    last_line = log_path.read_text(encoding="utf-8").strip().splitlines()[-1]
    run = json.loads(last_line)
    line = (
        f"Last run: {run['command']} at {run['started_at']}, {run['status']}, "
        f"{run['seconds']:.1f} s, rows {sum(run['rows'].values()):,}"
    )
    return [line + (f": {run['error']}" if run["error"] else "")]
