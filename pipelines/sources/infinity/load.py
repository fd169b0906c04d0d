"""How Infinity loads: route by route, in chunks of `pages_per_load` pages, each chunk
appended when every row it can fetch is new and merged otherwise.

- Routes overlap (`calls` is inside `all`) and dlt's upsert does not de-duplicate rows within
  one load package, so each route is loaded in packages of its own.
- Rows above everything in the table cannot be updates: appending them skips dlt's staging
  copy and MERGE, half the load time (the append floor). A backfill merges.
- A load killed after DuckDB committed a copy but before dlt recorded it is undone before
  dlt re-runs it, so every row lands once.
- The cursors are dlt's incremental state, saved in the warehouse with each chunk's rows.
- Rejected rows of the code before `infinity.rejected` move into it before the first chunk
  (`pipelines.sources.rejected_migration`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import replace
from functools import partial
from typing import Any

from dlt.destinations.exceptions import DatabaseUndefinedRelation

from pipelines.runtime import dlt_private, warehouse
from pipelines.runtime.loading import load_pending, make_pipeline, normalize_and_load, wait_seconds
from pipelines.runtime.progress import Progress
from pipelines.runtime.report import RunReport
from pipelines.sources.infinity import infinity_source, route_resource_name, route_table
from pipelines.sources.infinity.client import TriggerClient
from pipelines.sources.infinity.settings import ROUTES, Backfill, InfinitySettings
from pipelines.sources.rejected_migration import migrate_infinity

log = logging.getLogger("pipelines")


def extract(report: RunReport, progress: Progress, backfill: Backfill | None) -> None:
    """Infinity triggers into `infinity.*`, chunk by chunk until every route is drained."""
    config = InfinitySettings.from_config()
    pages_per_load = config.pages_per_load
    wait = wait_seconds()
    pipeline = make_pipeline("infinity")
    warehouse.while_warehouse_free(pipeline.sync_destination, wait)
    if warehouse.kind() == "duckdb":
        # BigQuery load jobs are atomic and dlt finds a started one again by its job id.
        warehouse.while_warehouse_free(partial(_undo_uncertain_row_copies, pipeline), wait)
    load_pending(pipeline)
    migrate_infinity(pipeline, report, wait)
    report.cursors_before = infinity_cursors(pipeline.state)
    client = TriggerClient(config)
    try:
        # Routes overlap (`calls` is inside `all`) and dlt's upsert does not de-duplicate rows
        # within one load package, so each route is loaded in packages of its own.
        for route in config.routes:
            chunk = 0
            more: list[int] = []  # the rowId the last chunk stopped after, when it did
            while chunk == 0 or more:
                chunk += 1
                # A backfill has no cursor to resume from: it continues from the last chunk.
                after = more[-1] if backfill and more else None
                more.clear()
                # Rows above everything in the table cannot be updates: appending them skips
                # dlt's staging copy and MERGE, half the load time. A backfill merges.
                append_above = (
                    None
                    if backfill
                    else warehouse.while_warehouse_free(
                        partial(_append_floor, pipeline, route), wait
                    )
                )
                source = infinity_source(
                    replace(config, routes=(route,)),
                    max_pages=pages_per_load,
                    backfill=backfill,
                    on_page=progress.page,
                    on_more_pending=more.append,
                    client=client,
                    append_above=append_above,
                    after=after,
                )
                warehouse.cluster_by_load(source.resources.values())
                pipeline.extract(source)
                counts = normalize_and_load(pipeline, report, wait)
                report.cursors = infinity_cursors(pipeline.state)
                loaded = ", ".join(f"{t} {n:,}" for t, n in counts.items()) or "no new rows"
                progress.step(f"infinity/{route}: chunk {chunk} loaded: {loaded}")
    finally:
        client.close()


def _append_floor(pipeline: Any, route: str) -> int | None:
    """The highest row_id in the route's table (-1 if none) when the route's cursor is at or
    above it, so every row the route can still fetch is new; None when it is not."""
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(route_table(route))
        try:
            ((highest,),) = client.execute_sql(f"select max(row_id) from {table}")
        except DatabaseUndefinedRelation:
            highest = None
    highest = -1 if highest is None else int(highest)
    last = dlt_private.incremental_last_value(
        pipeline.state, "infinity", route_resource_name(route), "row_id"
    )
    cursor = int(last or 0)
    return highest if cursor >= highest else None


def _undo_uncertain_row_copies(pipeline: Any) -> None:
    """Delete rows that a killed load may have committed without dlt recording it.

    dlt re-runs a load job that was started but not recorded as finished. A job that copies a
    file of rows is not idempotent: killed after DuckDB committed the copy but before dlt
    recorded it, the re-run would insert the rows a second time. In Infinity's packages the
    file's row_ids are found nowhere else in the job's target (an appended chunk is above the
    table's highest row_id; a merged one is copied to a staging table emptied for its
    package), so deleting them there first makes the re-run load each row exactly once.
    """
    row_tables = {route_table(route) for route in ROUTES}
    for load_id in pipeline.list_normalized_load_packages():
        package = pipeline.get_load_package_info(load_id)
        for job in package.jobs.get("started_jobs", []):
            name = job.job_file_info.table_name
            if name not in row_tables or job.job_file_info.file_format != "parquet":
                continue
            if dlt_private.job_outcome_recorded(package.package_path, job.file_path):
                continue
            staging = package.schema.tables[name].get("write_disposition") == "merge"
            with pipeline.sql_client() as client:
                with client.with_staging_dataset() if staging else nullcontext():
                    table = client.make_qualified_table_name(name)
                source = str(job.file_path).replace("'", "''")
                client.execute_sql(
                    f"delete from {table} where row_id in "
                    f"(select row_id from read_parquet('{source}'))"
                )
            log.info("infinity: re-running an interrupted copy into %s exactly once", table)


def infinity_cursors(state: Mapping[str, Any]) -> dict[str, int]:
    """route resource -> last loaded rowId, from dlt state (local or restored)."""
    cursors = {}
    for name, incremental in dlt_private.incremental_resources(state, "infinity").items():
        value = incremental.get("row_id", {}).get("last_value")
        if value is not None:
            cursors[name.removeprefix("route_")] = int(value)
    return cursors
