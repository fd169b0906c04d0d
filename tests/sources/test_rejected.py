"""One shape for rejected rows: `infinity.rejected` and `footprints.rejected` alike, and the
in-place migration of a warehouse built by the code before (commit bdb0d63).

tests/fixtures/before_one_rejected_shape.tar.gz is that warehouse file and dlt's working folder
as that code left them after extracting both sources, made by
tests/fixtures/make_before_one_rejected_shape.py (its docstring says how): rows set aside in
`infinity.triggers_rejected` by routes `calls` and `all`, and three Footprints records without
an `_id` in `footprints.rejected` (from GET /api/channels, /api/location, /api/lead/actions).
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from helpers import ROOT, Workspace

from emulators.footprints import FootprintsEmulator
from emulators.footprints_data import generate_footprints
from emulators.infinity import InfinityEmulator
from pipelines.runtime.loading import make_pipeline
from pipelines.sources import rejected_migration

KEY, SECRET, PIN = "fp-key-7c1e0f", "fp-secret-9a8b7c6d5e", "4815162342"
FIXTURE = ROOT / "tests" / "fixtures" / "before_one_rejected_shape.tar.gz"
STAMP = "2026-11-01 10:00:00"
SHAPE = {
    ("rejected_id", "VARCHAR", "NO"),
    ("source", "VARCHAR", "YES"),
    ("endpoint", "VARCHAR", "YES"),
    ("row_key", "VARCHAR", "YES"),
    ("raw", "VARCHAR", "YES"),
    ("error", "VARCHAR", "YES"),
    ("fetched_at", "TIMESTAMP WITH TIME ZONE", "YES"),
    ("_dlt_load_id", "VARCHAR", "NO"),
}
# dlt adds its row id to the rows it receives as dicts (Footprints'), not to Arrow tables.
DLT_ID = ("_dlt_id", "VARCHAR", "NO")


@pytest.fixture
def crm() -> Iterator[FootprintsEmulator]:
    server = FootprintsEmulator(client_key=KEY, client_secret=SECRET, pin=PIN).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def both(
    workspace: Workspace, crm: FootprintsEmulator, monkeypatch: pytest.MonkeyPatch
) -> Workspace:
    """The workspace with both sources configured: Footprints from two days ago, Infinity's
    routes those of the old warehouse."""
    env = {
        "SOURCES__INFINITY__ROUTES": '["calls", "all"]',
        "SOURCES__FOOTPRINTS__BASE_URL": crm.url,
        "SOURCES__FOOTPRINTS__CLIENT_KEY": KEY,
        "SOURCES__FOOTPRINTS__CLIENT_SECRET": SECRET,
        "SOURCES__FOOTPRINTS__GRANT_TYPE": "pin",
        "SOURCES__FOOTPRINTS__PIN": PIN,
        "SOURCES__FOOTPRINTS__START_DATE": (datetime.now(UTC).date() - timedelta(2)).isoformat(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    workspace.env.update(env)
    return workspace


def _extract_both(workspace: Workspace) -> str:
    """Both extracts, as `sync` runs them (without its models: these triggers have no custom
    fields); their summaries."""
    results = [workspace.run("extract", source) for source in ("infinity", "footprints")]
    assert all(result.code == 0 for result in results), [r.output for r in results]
    return "\n".join(result.stdout for result in results)


def _columns(workspace: Workspace, table: str) -> set[tuple[str, str, str]]:
    schema, name = table.split(".")
    return set(
        workspace.query(
            "select column_name, data_type, is_nullable from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = '{name}'"
        )
    )


def _rows(workspace: Workspace, table: str) -> set[tuple]:
    return set(
        workspace.query(f"select source, endpoint, row_key, raw, error, fetched_at from {table}")
    )


def _tables(workspace: Workspace) -> set[str]:
    rows = workspace.query("select table_schema, table_name from information_schema.tables")
    return {f"{schema}.{name}" for schema, name in rows}


def test_both_sources_set_rows_aside_in_the_same_shape(
    emulator: InfinityEmulator, crm: FootprintsEmulator, both: Workspace
) -> None:
    emulator.add_triggers(
        [{"rowId": str(n), "triggerDatetime": STAMP, "act": "call"} for n in (100, 101, 103)]
    )
    garbage = f'{{"rowId":"102","triggerDatetime":"{STAMP}","act":"call","x":tru'
    emulator.add_raw_line(garbage, row_id=102, trigger_datetime=STAMP)
    today = datetime.now(UTC).date()
    crm.load(generate_footprints(5, seed=3, start=today - timedelta(2), end=today))
    crm.set_reference("channels", [{"name": "Walk-in"}])

    summaries = _extract_both(both)

    assert _columns(both, "infinity.rejected") == SHAPE
    assert _columns(both, "footprints.rejected") == SHAPE | {DLT_ID}
    infinity = _rows(both, "infinity.rejected")
    assert {row[:4] for row in infinity} == {
        ("infinity", f"GET /triggers/{route}", "102", garbage) for route in ("calls", "all")
    }
    assert len(infinity) == 2 and all(row[4] and row[5] for row in infinity)
    ((*footprints, fetched_at),) = _rows(both, "footprints.rejected")
    assert footprints == [
        "footprints",
        "GET /api/channels",
        None,
        '{"name":"Walk-in"}',
        "no _id: cannot be merged",
    ]
    assert fetched_at is not None
    assert "2 unreadable row(s) set aside in infinity.rejected" in summaries
    assert "1 unreadable row(s) set aside in footprints.rejected" in summaries
    status = both.run("status").stdout
    assert "rejected: infinity GET /triggers/calls, row 102: unexpected end of data" in status
    assert "rejected: footprints GET /api/channels: no _id: cannot be merged" in status


def _unpack_fixture(workspace: Workspace) -> None:
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(workspace.root, filter="data")


def _serve_again(emulator: InfinityEmulator, crm: FootprintsEmulator, workspace: Workspace) -> None:
    """What the old warehouse was loaded from: its unreadable line, and the reference records
    without an `_id`, which every sync reads again."""
    emulator.add_triggers(
        [{"rowId": str(n), "triggerDatetime": STAMP, "act": "call"} for n in (100, 101, 103)]
    )
    ((line,),) = workspace.query("select distinct raw_line from infinity.triggers_rejected")
    emulator.add_raw_line(line, row_id=102, trigger_datetime=STAMP)
    references = {"GET /api/channels": "channels", "GET /api/location": "locations"}
    for endpoint, raw in workspace.query("select endpoint, raw from footprints.rejected"):
        if endpoint in references:
            crm.set_reference(references[endpoint], [orjson.loads(raw)])


def _expected(workspace: Workspace) -> dict[str, set[tuple]]:
    """The old rows as the new shape holds them."""
    infinity = workspace.query(
        "select route, row_id, raw_line, error, fetched_at from infinity.triggers_rejected"
    )
    footprints = workspace.query("select endpoint, raw, error, fetched_at from footprints.rejected")
    return {
        "infinity.rejected": {
            ("infinity", f"GET /triggers/{route}", str(row_id), raw, error, fetched_at)
            for route, row_id, raw, error, fetched_at in infinity
        },
        "footprints.rejected": {
            ("footprints", endpoint, None, raw, error, fetched_at)
            for endpoint, raw, error, fetched_at in footprints
        },
    }


def _without_fetched_at(rows: set[tuple]) -> set[tuple]:
    return {row[:-1] for row in rows}


def _stored_schemas(workspace: Workspace, dataset: str) -> list[str]:
    """dlt's schema of the dataset: the local file (when there is one) and the newest stored
    in the warehouse."""
    local = workspace.root / "dlt-state" / dataset / "schemas" / f"{dataset}.schema.json"
    stored = workspace.query(
        f"select schema from {dataset}._dlt_version order by inserted_at desc limit 1"
    )[0][0]
    return [*([local.read_text()] if local.exists() else []), stored]


@pytest.mark.parametrize("machine", ["same machine", "new machine"])
def test_warehouse_of_the_code_before_is_migrated_in_place(
    emulator: InfinityEmulator, crm: FootprintsEmulator, both: Workspace, machine: str
) -> None:
    _unpack_fixture(both)
    if machine == "new machine":
        shutil.rmtree(both.root / "dlt-state")  # dlt restores its schema from the warehouse
    _serve_again(emulator, crm, both)
    expected = _expected(both)
    assert len(expected["infinity.rejected"]) == 2 and len(expected["footprints.rejected"]) == 3
    before = both.run("status")
    assert before.code == 0, before.output
    for dataset in ("infinity", "footprints"):
        assert f"rejected rows are in their shape before {dataset}.rejected" in before.stdout

    first = _extract_both(both)

    assert "Rejected rows: 2 moved from infinity.triggers_rejected into infinity.rejected" in first
    assert "Rejected rows: 3 moved from footprints.rejected into footprints.rejected" in first
    tables = _tables(both)
    assert "infinity.triggers_rejected" not in tables
    assert "infinity_staging.triggers_rejected" not in tables
    assert all(
        "triggers_rejected" not in json.loads(schema)["tables"]
        for schema in _stored_schemas(both, "infinity")
    )
    assert _rows(both, "infinity.rejected") == expected["infinity.rejected"]
    # Every extract reads the reference lists again: those two rows were fetched again.
    footprints = _rows(both, "footprints.rejected")
    assert _without_fetched_at(footprints) == _without_fetched_at(expected["footprints.rejected"])
    not_fetched_again = {row for row in footprints if row[1] == "GET /api/lead/actions"}
    assert len(not_fetched_again) == 1 and not_fetched_again <= expected["footprints.rejected"]
    assert _columns(both, "infinity.rejected") == SHAPE
    assert _columns(both, "footprints.rejected") == SHAPE | {DLT_ID}
    status = both.run("status").stdout
    assert "rejected: infinity GET /triggers/all, row 102: unexpected end of data" in status
    assert "rejected: footprints GET /api/lead/actions: no _id: cannot be merged" in status

    # The unreadable line fetched again, by both routes, replaces its migrated rows.
    backfill = both.run(
        "extract", "infinity", "--start-date", "2026-11-01", "--end-date", "2026-11-01"
    )
    second = _extract_both(both)

    assert backfill.code == 0, backfill.output
    assert "infinity.rejected 2" in backfill.stdout
    assert "Rejected rows" not in second
    assert _without_fetched_at(_rows(both, "infinity.rejected")) == _without_fetched_at(
        expected["infinity.rejected"]
    )
    assert _without_fetched_at(_rows(both, "footprints.rejected")) == _without_fetched_at(
        expected["footprints.rejected"]
    )
    assert both.count("infinity.rejected") == 2 and both.count("footprints.rejected") == 3
    assert "infinity.triggers_rejected" not in _tables(both)


def test_migration_killed_between_copy_and_removal_ends_with_each_row_once(
    emulator: InfinityEmulator, crm: FootprintsEmulator, both: Workspace
) -> None:
    _unpack_fixture(both)
    _serve_again(emulator, crm, both)
    expected = _expected(both)
    infinity, footprints = make_pipeline("infinity"), make_pipeline("footprints")

    # Killed twice after the copies committed, before the old rows were removed.
    for _ in range(2):
        assert rejected_migration.copy_infinity(infinity, wait=30) == 2
        assert rejected_migration.copy_footprints(footprints, wait=30, file_format="parquet") == 3
        assert _rows(both, "infinity.rejected") == expected["infinity.rejected"]
        assert both.count("infinity.triggers_rejected") == 2
        assert both.count("footprints.rejected") == 6
    _extract_both(both)

    assert "infinity.triggers_rejected" not in _tables(both)
    assert _rows(both, "infinity.rejected") == expected["infinity.rejected"]
    assert _without_fetched_at(_rows(both, "footprints.rejected")) == _without_fetched_at(
        expected["footprints.rejected"]
    )
    assert both.count("footprints.rejected") == 3
