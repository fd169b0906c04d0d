"""The private dlt calls in `pipelines.runtime.dlt_private` still do what the product needs.

Each test exercises one of them on a real pipeline into a real DuckDB file, so a dlt upgrade
that moves or changes one fails here, by name, rather than in a sync.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from pipelines.runtime import dlt_private

PINNED_DLT = "1.31.0"


def _pipeline(tmp_path: Path) -> Any:
    return dlt.pipeline(
        pipeline_name="private_api",
        destination=dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")),
        dataset_name="private_api",
        pipelines_dir=str(tmp_path / "dlt"),
    )


@dlt.source(name="numbers")
def _numbers(upto: int) -> Any:
    cursor = dlt.sources.incremental("row_id")

    @dlt.resource(name="rows", primary_key="row_id", write_disposition="merge")
    def rows(row_id: dlt.sources.incremental[int] = cursor) -> Any:
        dlt.current.source_state()["upto"] = upto
        yield [{"row_id": n} for n in range(1, upto + 1)]

    return rows


def test_dlt_private_written_against_the_pinned_dlt() -> None:
    assert dlt.__version__ == PINNED_DLT, (
        f"dlt is {dlt.__version__}, pipelines/runtime/dlt_private.py was written against "
        f"{PINNED_DLT}: re-check each private call there, then update PINNED_DLT"
    )


def test_dlt_private_reads_cursors_and_source_state(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    pipeline.run(_numbers(5))

    state = pipeline.state
    assert dlt_private.source_state(state, "numbers")["upto"] == 5
    assert dlt_private.incremental_last_value(state, "numbers", "rows", "row_id") == 5
    assert dlt_private.incremental_resources(state, "numbers")["rows"]["row_id"]["last_value"] == 5
    assert dlt_private.incremental_last_value(state, "numbers", "missing", "row_id") is None


def test_dlt_private_decompresses_the_state_stored_in_the_warehouse(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    pipeline.run(_numbers(3))

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        ((stored,),) = con.execute(
            "select state from private_api._dlt_pipeline_state order by version desc limit 1"
        ).fetchall()
    state = dlt_private.decompress_state(stored)
    assert dlt_private.incremental_last_value(state, "numbers", "rows", "row_id") == 3


def test_dlt_private_deletes_all_but_the_newest_loaded_packages(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    for upto in (1, 2, 3):
        pipeline.run(_numbers(upto))
    loaded = sorted(pipeline.list_completed_load_packages(), key=float)
    assert len(loaded) == 3

    dlt_private.delete_loaded_packages(pipeline, keep=1)

    assert pipeline.list_completed_load_packages() == [loaded[-1]]


@pytest.mark.parametrize("recorded", [False, True])
def test_dlt_private_tells_whether_a_job_outcome_was_recorded(
    tmp_path: Path, recorded: bool
) -> None:
    package = tmp_path / "package"
    job = package / "started_jobs" / "triggers.0123.0.parquet"
    job.parent.mkdir(parents=True)
    job.touch()
    if recorded:
        folder = package / dlt_private.PackageStorage.PENDING_TRANSITIONS_FOLDER
        folder.mkdir()
        (folder / job.name).touch()

    assert dlt_private.job_outcome_recorded(str(package), str(job)) is recorded


def test_dlt_private_maps_items_after_the_incremental_has_seen_them(tmp_path: Path) -> None:
    """The map drops the cursor column: run before the incremental, dlt would refuse the rows
    for lacking it; after, the cursor still moves to the highest value."""
    cursor = dlt.sources.incremental("row_id")

    @dlt.resource(name="rows", primary_key="id")
    def rows(row_id: dlt.sources.incremental[int] = cursor) -> Any:
        yield [{"id": n, "row_id": n * 10} for n in range(1, 4)]

    resource = rows()
    dlt_private.map_after_incremental(
        resource, lambda row: {k: v for k, v in row.items() if k != "row_id"}
    )
    pipeline = _pipeline(tmp_path)
    pipeline.run(resource)

    assert dlt_private.incremental_last_value(pipeline.state, "private_api", "rows", "row_id") == 30
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        columns = {
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'private_api' and table_name = 'rows'"
            ).fetchall()
        }
    assert "row_id" not in columns and "id" in columns


def test_dlt_private_drops_a_table_from_the_stored_schema(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    pipeline.run(_numbers(2))
    assert "rows" in pipeline.default_schema.tables

    dlt_private.drop_schema_tables(pipeline, "rows", "never_there")

    assert "rows" not in _pipeline(tmp_path).default_schema.tables
