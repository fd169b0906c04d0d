"""One shape for rejected rows: `infinity.rejected` and `footprints.rejected` alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from helpers import ROOT, Workspace

from emulators.footprints import FootprintsEmulator
from emulators.footprints_data import generate_footprints
from emulators.infinity import InfinityEmulator

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
