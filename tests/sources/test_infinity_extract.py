"""Full and incremental loads of Infinity triggers: exactly the source's rows, once each."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import Workspace, source_row_ids, trigger_requests

from emulators.infinity import InfinityEmulator
from emulators.infinity_data import REFERENCE_SAMPLE_LINES, generate_triggers
from pipelines.runtime.loading import KEPT_LOADED_PACKAGES


def _trigger(row_id: int, **fields: str) -> dict[str, str]:
    return {"rowId": str(row_id), "triggerDatetime": "2026-11-01 10:00:00", "act": "call", **fields}


def test_sync_full_then_incremental_loads_every_row_once(
    emulator: InfinityEmulator, workspace: Workspace, triggers: list[dict[str, str]]
) -> None:
    emulator.add_triggers(triggers)
    expected_first = source_row_ids(emulator)

    first = workspace.run("sync")

    assert first.code == 0, first.output
    assert workspace.row_ids() == expected_first
    assert f"infinity.triggers {len(expected_first):,}" in first.stdout
    pages = [q for q in trigger_requests(emulator) if q.get("format") == ["json"]]
    assert len(pages) > 3, "the data set must span several pages"
    assert all(q["sort[]"] == ["rowId-asc"] and q["limit"] == ["500"] for q in pages)

    more = generate_triggers(777, seed=12, first_row_id=int(triggers[-1]["rowId"]) + 5)
    emulator.add_triggers(more)
    expected = source_row_ids(emulator)
    emulator.requests.clear()

    second = workspace.run("sync")

    assert second.code == 0, second.output
    assert workspace.row_ids() == expected
    new_rows = len(expected) - len(expected_first)
    assert f"Rows loaded: {new_rows:,} (infinity.triggers {new_rows:,})" in second.stdout
    first_filter = trigger_requests(emulator)[0]["filter[]"]
    assert first_filter == [f"rowId-gt-value-{expected_first[-1]}"]


def test_sync_routes_overlap_without_duplicates(
    emulator: InfinityEmulator,
    workspace: Workspace,
    triggers: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator.add_triggers(triggers)
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", '["calls", "all", "itemisedCalls"]')

    result = workspace.run("sync")

    assert result.code == 0, result.output
    assert workspace.row_ids() == sorted(int(t["rowId"]) for t in triggers)
    assert workspace.row_ids("infinity.itemised_calls") == source_row_ids(emulator, "calls")
    cursors = dict(
        line.split(": rowId ")
        for line in workspace.run("status").stdout.splitlines()
        if "cursor" in line
    )
    assert set(cursors) == {"  cursor calls", "  cursor all", "  cursor itemised_calls"}


def test_rowid_is_compared_as_an_integer(emulator: InfinityEmulator, workspace: Workspace) -> None:
    # As text, "10" < "9": a string cursor would stop at "9" and skip 10, 12 and 100.
    emulator.add_triggers([_trigger(n) for n in (8, 9, 10, 11)])
    assert workspace.run("sync").code == 0
    emulator.add_triggers([_trigger(n) for n in (12, 100)])

    assert workspace.run("sync").code == 0

    assert workspace.row_ids() == [8, 9, 10, 11, 12, 100]


def test_new_machine_resumes_from_the_cursor_stored_in_the_warehouse(
    emulator: InfinityEmulator, workspace: Workspace, triggers: list[dict[str, str]]
) -> None:
    emulator.add_triggers(triggers)
    assert workspace.run("sync").code == 0
    last = workspace.row_ids()[-1]
    shutil.rmtree(workspace.root / "dlt-state")  # the local dlt folder is gone
    emulator.add_triggers([_trigger(last + 3)])
    emulator.requests.clear()

    result = workspace.run("sync")

    assert result.code == 0, result.output
    assert trigger_requests(emulator)[0]["filter[]"] == [f"rowId-gt-value-{last}"]
    assert workspace.row_ids()[-2:] == [last, last + 3]
    assert "Rows loaded: 1 " in result.stdout


def test_reference_sample_rows_load_with_notes_verbatim(
    emulator: InfinityEmulator, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", '["all"]')
    for line in REFERENCE_SAMPLE_LINES:
        row_id = int(line.split('"rowId":"')[1].split('"')[0])
        emulator.add_raw_line(line, row_id=row_id, trigger_datetime="2018-01-16 13:20:11")

    result = workspace.run("sync")

    assert result.code == 0, result.output
    rows = workspace.query(
        "select row_id, notes, src_phone_number, caller_phone_e164, lead_score, lands "
        "from infinity.triggers order by row_id"
    )
    notes = (
        '[{"note": "Test Note 1", "createDatetime": "2023-01-01 09:00:00"}, '
        '{"note": "Test Note 2", "createDatetime": "2023-01-02 10:30:00"}]'
    )
    assert rows == [
        (1, notes, "0123456", "+440123456", 100, None),
        (2, notes, "test.user2", None, 300, 0),
    ]
    assert "2 line(s) with unescaped JSON repaired" in result.stdout
    assert "No rows rejected" in result.stdout


def test_unreadable_line_is_set_aside_and_not_repeated(
    emulator: InfinityEmulator, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", '["all"]')
    emulator.add_triggers([_trigger(n) for n in (100, 101, 103)])
    garbage = '{"rowId":"102","triggerDatetime":"2026-11-01 10:00:00","act":"call","x":tru'
    emulator.add_raw_line(garbage, row_id=102, trigger_datetime="2026-11-01 10:00:00")

    result = workspace.run("sync")
    workspace.run("extract", "infinity", "--start-date", "2026-11-01", "--end-date", "2026-11-01")

    assert result.code == 0, result.output
    assert workspace.row_ids() == [100, 101, 103]
    rejected = workspace.query(
        "select source, endpoint, row_key, raw, error, fetched_at is not null "
        "from infinity.rejected"
    )
    assert len(rejected) == 1
    source, endpoint, row_key, raw, error, has_time = rejected[0]
    assert (source, endpoint, row_key, raw, has_time) == (
        "infinity",
        "GET /triggers/all",
        "102",
        garbage,
        True,
    )
    assert error
    assert "1 unreadable row(s) set aside in infinity.rejected" in result.stdout
    assert "rejected: infinity GET /triggers/all, row 102: " in workspace.run("status").stdout


def test_line_without_an_integer_row_id_is_set_aside_without_a_row_key(
    emulator: InfinityEmulator, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", '["all"]')
    emulator.add_triggers([_trigger(n) for n in (100, 101)])
    line = '{"rowId":"n/a","triggerDatetime":"2026-11-01 10:00:00","act":"call"}'
    emulator.add_raw_line(line, row_id=99, trigger_datetime="2026-11-01 10:00:00")

    result = workspace.run("sync")

    assert result.code == 0, result.output
    assert workspace.row_ids() == [100, 101]
    ((row_key, raw, error),) = workspace.query("select row_key, raw, error from infinity.rejected")
    assert (row_key, error) == (None, "rowId missing or not an integer")
    assert json.loads(json.loads(raw)["invalid_values"]) == {"row_id": "n/a"}
    assert "Cursors: all at rowId 101." in result.stdout


def test_values_that_do_not_fit_their_type_are_kept_verbatim(
    emulator: InfinityEmulator, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", '["all"]')
    emulator.add_triggers(
        [
            _trigger(5, callDuration="95", txv="12.50", lat="51.5072", goal="1", rec="0"),
            _trigger(6, callDuration="n/a", txv="", lat="north", triggerDatetime="0000-00-00"),
        ]
    )

    assert workspace.run("sync").code == 0

    rows = workspace.query(
        "select row_id, call_duration, txv, lat, goal, rec, trigger_datetime, invalid_values "
        "from infinity.triggers order by row_id"
    )
    assert rows[0][:6] == (5, 95, pytest.approx(12.5), 51.5072, True, False)
    assert str(rows[0][6]) == "2026-11-01 10:00:00"
    assert rows[0][7] is None
    assert rows[1][1:4] == (None, None, None)
    assert json.loads(rows[1][7]) == {
        "call_duration": "n/a",
        "lat": "north",
        "trigger_datetime": "0000-00-00",
    }


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("07700 900123", "+447700900123"),
        ("+44 7700 900123", "+447700900123"),
        ("00447700900123", "+447700900123"),
        ("(020) 7946 0958", "+442079460958"),
        ("+40 721 234 567", "+40721234567"),
        ("123", None),
        ("test.user2", None),
        ("", None),
    ],
)
def test_caller_phone_is_normalised_to_e164(
    emulator: InfinityEmulator, workspace: Workspace, raw: str, e164: str | None
) -> None:
    emulator.add_triggers([_trigger(7, srcPhoneNumber=raw)])

    assert workspace.run("sync").code == 0

    assert workspace.query("select caller_phone_e164 from infinity.triggers") == [(e164,)]


def test_backfill_rereads_a_date_range_without_moving_the_cursor(
    emulator: InfinityEmulator, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", '["all"]')
    emulator.add_triggers(
        [
            _trigger(1, triggerDatetime="2026-10-01 09:00:00"),
            _trigger(2, triggerDatetime="2026-10-02 09:00:00"),
            _trigger(3, triggerDatetime="2026-10-01 23:30:00"),  # 2 October in London
        ]
    )

    result = workspace.run(
        "extract",
        "infinity",
        "--start-date",
        "2026-10-01",
        "--end-date",
        "2026-10-01",
        "--tz",
        "Europe/London",
    )

    assert result.code == 0, result.output
    assert workspace.row_ids() == [1]
    assert trigger_requests(emulator)[0]["tz"] == ["Europe/London"]
    assert "cursor" not in workspace.run("status").stdout
    assert workspace.run("sync").code == 0
    assert workspace.row_ids() == [1, 2, 3]


def test_backfill_over_loaded_rows_keeps_one_row_per_row_id(
    emulator: InfinityEmulator,
    workspace: Workspace,
    triggers: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", '["all"]')
    emulator.add_triggers(triggers)
    assert workspace.run("sync").code == 0
    cursor = [line for line in workspace.run("status").stdout.splitlines() if "cursor" in line]
    # Newer rows, not synced yet: the backfill loads them, above the cursor.
    emulator.add_triggers(generate_triggers(40, seed=13, first_row_id=workspace.row_ids()[-1] + 9))
    expected = source_row_ids(emulator, "all")

    backfill = workspace.run(
        "extract", "infinity", "--start-date", "2026-01-01", "--end-date", "2026-12-31"
    )

    assert backfill.code == 0, backfill.output
    assert f"infinity.triggers {len(expected):,}" in backfill.stdout
    assert workspace.row_ids() == expected
    assert [line for line in workspace.run("status").stdout.splitlines() if "cursor" in line] == (
        cursor
    )
    # The cursor is below rows already loaded: the sync re-reads them and merges.
    assert workspace.run("sync").code == 0
    assert workspace.row_ids() == expected


def test_trigger_columns_are_typed(
    emulator: InfinityEmulator, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", '["all"]')
    emulator.add_triggers(generate_triggers(50, seed=3))

    assert workspace.run("sync").code == 0

    types = dict(
        workspace.query(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'infinity' and table_name = 'triggers'"
        )
    )
    assert types["row_id"] == "BIGINT"
    assert types["trigger_datetime"] == "TIMESTAMP"
    assert types["call_duration"] == "INTEGER"
    assert types["txv"].startswith("DECIMAL")
    assert types["lat"] == types["long"] == "DOUBLE"
    assert types["goal"] == "BOOLEAN"
    assert types["pt_utm_source"] == types["c_ga_client_id"] == "VARCHAR"


def test_dlt_keeps_only_the_newest_loaded_packages_without_their_data_files(
    emulator: InfinityEmulator,
    workspace: Workspace,
    triggers: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator.add_triggers(triggers)
    monkeypatch.setenv("SOURCES__INFINITY__PAGE_SIZE", "100")
    monkeypatch.setenv("SOURCES__INFINITY__PAGES_PER_LOAD", "1")  # a package per 100 rows

    result = workspace.run("sync")

    assert result.code == 0, result.output
    assert workspace.row_ids() == source_row_ids(emulator)
    loaded = workspace.root / "dlt-state" / "infinity" / "load" / "loaded"
    packages = sorted(p.name for p in loaded.iterdir())
    assert len(packages) == KEPT_LOADED_PACKAGES
    assert not [p for p in loaded.rglob("*") if p.suffix in (".parquet", ".gz", ".sql")]
    loads = [r[0] for r in workspace.query("select load_id from infinity._dlt_loads")]
    assert len(loads) > KEPT_LOADED_PACKAGES
    assert packages == sorted(sorted(loads, key=float)[-KEPT_LOADED_PACKAGES:])


def test_cursor_stays_at_the_highest_row_when_the_last_page_ends_with_a_broken_line(
    emulator: InfinityEmulator, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One page: rows, then an unreadable line with a low rowId. dlt keeps a cursor per item
    # type (Arrow rows, dict rows) and saves whichever ran last; the broken line must not win.
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", '["all"]')
    emulator.add_triggers([_trigger(n) for n in (5000, 5001, 5003)])
    garbage = '{"rowId":"1000","triggerDatetime":"2026-11-01 10:00:00","act":"call","x":tru'
    emulator.add_raw_line(garbage, row_id=1000, trigger_datetime="2026-11-01 10:00:00")

    first = workspace.run("sync")
    emulator.add_triggers([_trigger(5009)])
    second = workspace.run("sync")

    assert first.code == 0 and second.code == 0, first.output + second.output
    assert "Cursors: all at rowId 5003." in first.stdout
    assert trigger_requests(emulator)[-2]["filter[]"] == ["rowId-gt-value-5003"]
    assert "Rows loaded: 1 (infinity.triggers 1)" in second.stdout
    assert workspace.row_ids() == [5000, 5001, 5003, 5009]
    assert workspace.count("infinity.rejected") == 1
