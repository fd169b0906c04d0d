"""Rejected rows kept by the code before `pipelines.sources.rejected`, moved into its one shape
in place on the first run after the upgrade: each source's load calls `migrate_*` once its
pending packages are loaded, before it fetches anything.

- Infinity kept them in `infinity.triggers_rejected` (route, row_id, raw_line). They move to
  `infinity.rejected` (endpoint `GET /triggers/<route>`, the rowId as text, the line as `raw`);
  then the old table is dropped from dlt's schema (so dlt neither recreates nor lists it) and
  from the warehouse, with its staging copy.
- Footprints kept them in `footprints.rejected` without `source` and `row_key`. They are
  written again with both, under the new `rejected_id`, and the old rows deleted.

The copy goes through dlt, not SQL: the old rows are read (rows set aside are few), shaped by
the same `rejected_row` as new ones (a sha256 id in SQL would be written differently for
DuckDB and BigQuery) and loaded like any rejected rows, so dlt creates or widens the table as
it does for a new row and merges on `rejected_id`.

Crash-safe: the old rows are removed only after the load of their copies committed. Killed
before, the next run finds them still there and copies them again, and the merge on
`rejected_id` replaces the first copies: nothing lost, nothing doubled. Killed after, only the
removal is left, and the next run does it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import dlt
import orjson

from pipelines.runtime import dlt_private, warehouse
from pipelines.runtime.loading import forget_loaded_packages
from pipelines.runtime.report import RunReport
from pipelines.sources import rejected
from pipelines.sources.footprints.fetch import row_key
from pipelines.sources.infinity import route_endpoint

OLD_INFINITY_TABLE = "triggers_rejected"


def migrate_infinity(pipeline: Any, report: RunReport, wait: float) -> None:
    """`infinity.triggers_rejected` into `infinity.rejected`, then dropped."""
    moved = copy_infinity(pipeline, wait)
    if moved is None:
        return
    warehouse.while_warehouse_free(partial(_drop_old_infinity_table, pipeline), wait)
    if moved:
        report.notes.append(_note(moved, f"infinity.{OLD_INFINITY_TABLE}", "infinity"))


def copy_infinity(pipeline: Any, wait: float) -> int | None:
    """The first step: the old rows copied; how many, None when there is no old table.

    The old table leaves dlt's schema first, so the load of the copies also stores the schema
    without it in the warehouse.
    """
    dlt_private.drop_schema_tables(pipeline, OLD_INFINITY_TABLE)
    rows = warehouse.while_warehouse_free(partial(_old_infinity_rows, pipeline), wait)
    if rows:
        _load(pipeline, [rejected.as_arrow(rows)], wait)
    return None if rows is None else len(rows)


def migrate_footprints(
    pipeline: Any, report: RunReport, wait: float, file_format: str | None = None
) -> None:
    """`footprints.rejected` rows without a `source` written again in the new shape."""
    moved = copy_footprints(pipeline, wait, file_format)
    if moved is None:
        return
    warehouse.while_warehouse_free(partial(_delete_old_footprints_rows, pipeline), wait)
    if moved:
        report.notes.append(_note(moved, f"footprints.{rejected.TABLE}", "footprints"))


def copy_footprints(pipeline: Any, wait: float, file_format: str | None = None) -> int | None:
    """The first step: the old rows copied and the table widened, even without rows; how
    many, None when there is nothing in the old shape."""
    rows = warehouse.while_warehouse_free(partial(_old_footprints_rows, pipeline), wait)
    if rows is None:
        return None
    _load(pipeline, _with_table_schema(rows), wait, file_format)
    return len(rows)


def _old_infinity_rows(pipeline: Any) -> list[dict[str, Any]] | None:
    if not _storage_columns(pipeline, OLD_INFINITY_TABLE):
        return None
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(OLD_INFINITY_TABLE)
        found = client.execute_sql(
            f"select route, row_id, raw_line, error, fetched_at from {table}"
        )
    return [
        rejected.rejected_row(
            "infinity",
            route_endpoint(route),
            raw_line,
            error,
            None if row_id is None else str(row_id),
            fetched_at,
        )
        for route, row_id, raw_line, error, fetched_at in found or []
    ]


def _old_footprints_rows(pipeline: Any) -> list[dict[str, Any]] | None:
    columns = _storage_columns(pipeline, rejected.TABLE)
    if not columns:
        return None
    widened = "source" in columns
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(rejected.TABLE)
        found = client.execute_sql(
            f"select endpoint, raw, error, fetched_at from {table}"
            + (" where source is null" if widened else "")
        )
    if widened and not found:
        return None
    return [
        rejected.rejected_row("footprints", endpoint, raw, error, _row_key(raw), fetched_at)
        for endpoint, raw, error, fetched_at in found or []
    ]


def _row_key(raw: str) -> str | None:
    try:
        return row_key(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return None


def _storage_columns(pipeline: Any, table: str) -> dict[str, Any]:
    """The columns of a table of the pipeline's dataset in the warehouse; empty if it is not."""
    with pipeline.destination_client() as client:
        if not client.is_storage_initialized():
            return {}
        return dict(dict(client.get_storage_tables([table])).get(table) or {})


def _with_table_schema(rows: list[dict[str, Any]]) -> Iterator[Any]:
    yield rows
    # Makes dlt add the new columns to the table even when no row is carried.
    yield dlt.mark.materialize_table_schema()


def _load(
    pipeline: Any, data: list[Any] | Iterator[Any], wait: float, file_format: str | None = None
) -> None:
    pipeline.extract(rejected.resource(data), loader_file_format=file_format)
    pipeline.normalize()
    warehouse.while_warehouse_free(pipeline.load, wait)
    forget_loaded_packages(pipeline)


def _drop_old_infinity_table(pipeline: Any) -> None:
    """The staging copy first: while the table itself is there, the next run comes back."""
    with pipeline.sql_client() as client:
        with client.with_staging_dataset():
            if client.has_dataset():
                client.drop_tables(OLD_INFINITY_TABLE)
        client.drop_tables(OLD_INFINITY_TABLE)


def _delete_old_footprints_rows(pipeline: Any) -> None:
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(rejected.TABLE)
        client.execute_sql(f"delete from {table} where source is null")


def _note(moved: int, old: str, dataset: str) -> str:
    return (
        f"Rejected rows: {moved:,} moved from {old} into {dataset}.{rejected.TABLE}, "
        "the one shape of rejected rows."
    )
