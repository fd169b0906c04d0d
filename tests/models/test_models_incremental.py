"""Incremental model builds on real DuckDB files: after each kind of sync, an incremental
build leaves every table exactly as a full build of the same data does; and the cases that
must build in full do.

Raw rows are written as dlt leaves them: merged on their key, each row carrying the id of
the load that last wrote it, and each load listed in its dataset's `_dlt_loads` once complete.
The starting data is every case of tests/models/test_models.py; `Raw` (tests/helpers) loads it.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
import sqlglot
from helpers.model_cases import (
    CONVERSION_CASES,
    DAY,
    MATCH_CASES,
    SECOND,
    SETTINGS,
    Raw,
    T,
    call,
    customer,
    lead,
    phone,
    write_raw,
)

from pipelines.models import incremental
from pipelines.models.build import ModelsReport, build_models
from pipelines.models.plan import SQL_DIR, ModelError, discover, plan
from pipelines.models.settings import ModelSettings

DEFAULT_FULL_ABOVE = incremental.FULL_ABOVE
TABLES = [model.table for model in plan(SETTINGS) if model.kind == "table"]
VIEWS = [model.table for model in plan(SETTINGS) if model.kind == "view"]
STAGING = [model.table for model in plan(SETTINGS) if model.layer == "staging"]
DIAGNOSTICS = "analytics.lead_match_diagnostics"


def build(path: Path, **options: Any) -> ModelsReport:
    options.setdefault("config", SETTINGS)
    return build_models(dlt.destinations.duckdb(str(path)), **options)


def rows(path: Path, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def tables(path: Path) -> dict[str, list[tuple]]:
    """Every table past staging, its rows in a stable order."""
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: sorted(con.execute(f"from {t}").fetchall(), key=repr) for t in TABLES}


def assert_same_as_full(path: Path, config: ModelSettings = SETTINGS, **options: Any) -> None:
    """A full build of a copy of `path` leaves every table as `path` has it."""
    copy = path.with_name(f"{path.stem}-full.duckdb")
    shutil.copyfile(path, copy)
    report = build(copy, config=config, full=True, **options)
    assert report.mode == "full"
    assert tables(path) == tables(copy)


def attributed(path: Path, lead_id: str) -> dict[str, Any] | None:
    found = rows(
        path,
        "select attributed_call_id, campaign from analytics.conversions "
        f"where lead_id = '{lead_id}'",
    )
    return found[0] if found else None


@pytest.fixture(autouse=True)
def incremental_for_any_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cases change a few of 27 leads: more than the share above which a build is full."""
    monkeypatch.setattr(incremental, "FULL_ABOVE", 1.0)


@pytest.fixture
def raw(tmp_path: Path) -> Raw:
    """Every case of tests/models/test_models.py, loaded and built once (in full)."""
    raw = Raw(tmp_path / "w.duckdb")
    raw.load(
        triggers=[row for case in MATCH_CASES for row in case.triggers]
        + [row for case in CONVERSION_CASES for row in case.triggers],
        leads=[row for case in MATCH_CASES for row in case.leads]
        + [case.lead for case in CONVERSION_CASES],
    )
    first = build(raw.path)
    assert (first.mode, first.reason) == ("full", "no earlier build to update")
    return raw


def test_incremental_first_build_is_full_with_staging_as_views(raw: Raw) -> None:
    kinds = dict(
        (f"{r['table_schema']}.{r['table_name']}", r["table_type"])
        for r in rows(
            raw.path, "select table_schema, table_name, table_type from information_schema.tables"
        )
    )
    state = rows(raw.path, f"select input_table, input_rows, mode from {incremental.STATE_TABLE}")

    assert {t: kinds[t] for t in VIEWS} == dict.fromkeys(VIEWS, "VIEW")
    assert kinds["staging.model_settings"] == kinds["staging.model_converted_statuses"] == "VIEW"
    assert {t: kinds[t] for t in TABLES} == dict.fromkeys(TABLES, "BASE TABLE")
    assert incremental.CHANGED_LEADS_TABLE not in kinds
    assert sorted((s["input_table"], s["input_rows"], s["mode"]) for s in state) == [
        ("footprints.leads", 27, "full"),
        ("infinity.triggers", 36, "full"),
    ]


def test_incremental_nothing_new_changes_nothing(raw: Raw) -> None:
    before = tables(raw.path)

    report = build(raw.path)

    assert (report.mode, report.changed_leads) == ("incremental", 0)
    assert "0 leads new or changed since the last build" in report.summary()
    assert tables(raw.path) == before


def test_incremental_new_leads_equal_a_full_build(raw: Raw) -> None:
    raw.load(
        leads=[
            lead("n1", T, "+447700900105"),  # m5's number: its three calls match
            customer("n2", "+447700900108"),  # m8's number: converted, with a call
            lead("n3", T, None),
            customer("n4", phone(99)),  # no call from that number
        ]
    )

    report = build(raw.path)

    assert (report.mode, report.changed_leads) == ("incremental", 4)
    assert report.leads == 31
    assert rows(
        raw.path,
        "select lead_id, call_id, is_attributed from analytics.call_lead_matches "
        "where lead_id like 'n%' order by lead_id, call_rank",
    ) == [
        {"lead_id": "n1", "call_id": 152, "is_attributed": True},
        {"lead_id": "n1", "call_id": 153, "is_attributed": False},
        {"lead_id": "n1", "call_id": 151, "is_attributed": False},
        {"lead_id": "n2", "call_id": 181, "is_attributed": True},
    ]
    assert rows(
        raw.path,
        "select lead_id, skip_reason from outbound.qubit_events "
        "where lead_id like 'n%' order by lead_id",
    ) == [
        {"lead_id": "n2", "skip_reason": None},
        {"lead_id": "n4", "skip_reason": "no_attributed_call"},
    ]
    assert_same_as_full(raw.path)


def test_incremental_status_change_to_converted_equals_a_full_build(raw: Raw) -> None:
    assert attributed(raw.path, "m5") is None
    raw.load(leads=[customer("m5", "+447700900105")])  # re-loaded by Footprints' merge

    report = build(raw.path)

    assert (report.mode, report.changed_leads) == ("incremental", 1)
    assert attributed(raw.path, "m5") == {"attributed_call_id": 152, "campaign": "Boiler Cover"}
    assert rows(raw.path, "select skip_reason from outbound.owox_hits where lead_id = 'm5'") == [
        {"skip_reason": None}
    ]
    assert_same_as_full(raw.path)


def test_incremental_new_calls_change_the_attributed_call(raw: Raw) -> None:
    assert attributed(raw.path, "c8") == {"attributed_call_id": 2082, "campaign": "Autumn"}
    raw.load(
        triggers=[
            # later than c8's attributed call, still before the lead
            call(9001, T - timedelta(hours=1), phone(8), campaign="Winter"),
            # between repeat caller m7's two leads: only the later one (T + 3 days) matches it;
            # the earlier one's diagnostics gain a call after it
            call(9002, T + 2 * DAY, "+447700900107"),
        ]
    )

    report = build(raw.path)

    assert (report.mode, report.changed_leads) == ("incremental", 3)
    assert attributed(raw.path, "c8") == {"attributed_call_id": 9001, "campaign": "Winter"}
    assert rows(
        raw.path,
        "select lead_id, call_id, call_rank from analytics.call_lead_matches "
        "where lead_id in ('m7a', 'm7b') order by lead_id, call_rank",
    ) == [
        {"lead_id": "m7a", "call_id": 171, "call_rank": 1},
        {"lead_id": "m7b", "call_id": 9002, "call_rank": 1},
        {"lead_id": "m7b", "call_id": 172, "call_rank": 2},
        {"lead_id": "m7b", "call_id": 171, "call_rank": 3},
    ]
    assert rows(raw.path, "select cn from outbound.owox_hits where lead_id = 'c8'") == [
        {"cn": "Winter"}
    ]
    assert_same_as_full(raw.path)


def test_incremental_reloaded_trigger_moves_its_match_and_fields(raw: Raw, tmp_path: Path) -> None:
    # Rules b and c, for models that read calls through the matches only: without the
    # diagnostics (and the report on them), a re-loaded trigger is followed lead by lead.
    sql_dir = shutil.copytree(SQL_DIR, tmp_path / "sql")
    (sql_dir / "marts" / "lead_match_diagnostics.sql").unlink()
    (sql_dir / "reports" / "daily_funnel.sql").unlink()
    assert build(raw.path, sql_dir=sql_dir).mode == "full"
    # m8's only call now comes from m11's number, a day before m11 (later than m11's call);
    # c1's attributed call is re-loaded with another campaign.
    raw.load(
        triggers=[
            call(181, T - DAY, "+447700900111"),
            call(2001, T - DAY, phone(1), campaign="Spring"),
        ]
    )

    report = build(raw.path, sql_dir=sql_dir)

    assert (report.mode, report.changed_leads) == ("incremental", 3)
    assert rows(raw.path, "select * from analytics.call_lead_matches where lead_id = 'm8'") == []
    assert rows(
        raw.path,
        "select call_id from analytics.call_lead_matches where lead_id = 'm11' and is_attributed",
    ) == [{"call_id": 181}]
    assert attributed(raw.path, "c1") == {"attributed_call_id": 2001, "campaign": "Spring"}
    assert_same_as_full(raw.path, sql_dir=sql_dir)


def test_incremental_reloaded_trigger_builds_in_full_for_the_diagnostics(raw: Raw) -> None:
    # The diagnostics count every call from a lead's number: m8's count must drop with its
    # only call's re-load from another number, and nothing kept says which number that was.
    raw.load(triggers=[call(181, T - DAY, "+447700900111")])

    report = build(raw.path)

    assert (report.mode, report.reason) == (
        "full",
        "1 row(s) of infinity.triggers were re-loaded since the last build, and "
        "analytics.lead_match_diagnostics counts every call from a lead's number: a re-loaded "
        "trigger's earlier number is not known",
    )
    assert rows(
        raw.path,
        f"select lead_id, match_outcome, calls_from_number from {DIAGNOSTICS} "
        "where lead_id in ('m8', 'm11') order by lead_id",
    ) == [
        {"lead_id": "m11", "match_outcome": "matched", "calls_from_number": 2},
        {"lead_id": "m8", "match_outcome": "no_calls_from_number", "calls_from_number": 0},
    ]
    assert build(raw.path).mode == "incremental"
    assert_same_as_full(raw.path)


def test_incremental_calls_outside_the_window_change_only_the_diagnostics(raw: Raw) -> None:
    before = tables(raw.path)
    raw.load(
        triggers=[
            call(9101, T + SECOND, phone(1)),  # after c1 was created
            call(9102, T - 30 * DAY - SECOND, phone(1)),  # before the window
            call(9103, T - DAY, "+447700900999"),  # no lead has this number
            call(9104, T - DAY, phone(1), act="land"),  # a visit, not a call
            call(9105, T - DAY, None),  # no number
        ]
    )

    report = build(raw.path)

    assert (report.mode, report.changed_leads) == ("incremental", 1)
    assert report.reason == (
        "1 leads new or changed since the last build (1 of them for a call from their number, "
        "in analytics.lead_match_diagnostics only)"
    )
    after = tables(raw.path)
    assert {t: rows for t, rows in after.items() if t != DIAGNOSTICS} == {
        t: rows for t, rows in before.items() if t != DIAGNOSTICS
    }
    assert rows(
        raw.path,
        "select calls_from_number, matched_calls, nearest_call_before_at, nearest_call_after_at "
        f"from {DIAGNOSTICS} where lead_id = 'c1'",
    ) == [
        {
            "calls_from_number": 3,
            "matched_calls": 1,
            "nearest_call_before_at": T - DAY,
            "nearest_call_after_at": T + SECOND,
        }
    ]
    assert_same_as_full(raw.path)


def test_incremental_new_call_from_an_unmatched_leads_number_changes_its_diagnostics(
    raw: Raw,
) -> None:
    # m3 was only called after it (T + 1 s), m9's number never called
    raw.load(
        triggers=[
            call(9201, T - 40 * DAY, "+447700900103"),
            call(9202, T + 5 * DAY, "+447700900109"),
        ]
    )

    report = build(raw.path)

    assert (report.mode, report.changed_leads) == ("incremental", 2)
    assert rows(
        raw.path,
        "select lead_id, match_outcome, calls_from_number, nearest_call_before_at, "
        f"nearest_call_after_at from {DIAGNOSTICS} where lead_id in ('m3', 'm9') order by 1",
    ) == [
        {
            "lead_id": "m3",
            "match_outcome": "calls_only_before_window",
            "calls_from_number": 2,
            "nearest_call_before_at": T - 40 * DAY,
            "nearest_call_after_at": T + SECOND,
        },
        {
            "lead_id": "m9",
            "match_outcome": "calls_only_after_lead",
            "calls_from_number": 1,
            "nearest_call_before_at": None,
            "nearest_call_after_at": T + 5 * DAY,
        },
    ]
    assert "Unmatched leads: no_phone 3, calls_only_after_lead 2, calls_only_before_window 2." in (
        report.summary()
    )
    assert_same_as_full(raw.path)


def test_incremental_load_in_progress_is_redone_when_it_completes(raw: Raw) -> None:
    load_id = raw.load(leads=[customer("p1", phone(1))], complete=False)
    first = build(raw.path)
    # the same load goes on: more rows under its id, then it completes
    raw.load(leads=[customer("p2", phone(2))], load_id=load_id)

    second = build(raw.path)

    assert (first.mode, first.changed_leads) == ("incremental", 1)
    assert (second.mode, second.changed_leads) == ("incremental", 2)
    assert attributed(raw.path, "p2") == {"attributed_call_id": 2002, "campaign": "Boiler Cover"}
    assert_same_as_full(raw.path)


def test_incremental_settings_change_builds_in_full(raw: Raw) -> None:
    week = ModelSettings(**{**SETTINGS.__dict__, "attribution_window_days": 7})

    report = build(raw.path, config=week)
    again = build(raw.path, config=week)

    assert report.mode == "full"
    assert report.reason == "the models, the settings, the raw tables' columns or sqlglot changed"
    assert rows(raw.path, "select * from analytics.call_lead_matches where lead_id = 'm1'") == []
    assert (again.mode, again.changed_leads) == ("incremental", 0)


def test_incremental_sql_change_builds_in_full(raw: Raw, tmp_path: Path) -> None:
    sql_dir = shutil.copytree(SQL_DIR, tmp_path / "sql")
    assert build(raw.path, sql_dir=sql_dir).mode == "incremental"
    path = sql_dir / "outbound" / "gameball_events.sql"
    path.write_text(path.read_text().replace("md5('gameball:'", "md5('gb:'"))

    report = build(raw.path, sql_dir=sql_dir)

    assert (report.mode, report.reason) == (
        "full",
        "the models, the settings, the raw tables' columns or sqlglot changed",
    )
    assert rows(
        raw.path,
        "select gameball_event_id = md5('gb:c1') as new_id from outbound.gameball_events "
        "where lead_id = 'c1'",
    ) == [{"new_id": True}]


def test_incremental_sqlglot_upgrade_builds_in_full(
    raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sqlglot writes the incremental statements: rows written by two versions could differ.
    monkeypatch.setattr(sqlglot, "__version__", "0.0.0-next")

    report = build(raw.path)

    assert (report.mode, report.reason) == (
        "full",
        "the models, the settings, the raw tables' columns or sqlglot changed",
    )
    assert build(raw.path).mode == "incremental"


def test_incremental_unreadable_state_builds_in_full_saying_why(raw: Raw) -> None:
    raw.execute(f"alter table {incremental.STATE_TABLE} drop column fingerprint")

    report = build(raw.path)

    assert report.mode == "full"
    assert report.reason.startswith("the last build's state could not be read (")
    assert "fingerprint" in report.reason
    assert build(raw.path).mode == "incremental"


def test_incremental_rows_with_an_older_load_id_build_in_full(raw: Raw) -> None:
    # The sync host's clock stepped back: the new load's id sorts below the last build's.
    raw.load(leads=[customer("n1", phone(1))], load_id="1700000000.000001")

    report = build(raw.path)

    assert report.mode == "full"
    assert report.reason == (
        "footprints.leads gained 1 row(s) but only 0 carry a load id newer than the last "
        "build's (a clock that stepped back?)"
    )
    assert attributed(raw.path, "n1") is not None
    assert_same_as_full(raw.path)


def test_incremental_full_can_be_asked_for(raw: Raw) -> None:
    report = build(raw.path, full=True)

    assert (report.mode, report.reason, report.changed_leads) == ("full", "asked for", None)
    assert "Models (full: asked for): 8 tables and 4 views built" in report.summary()


def test_incremental_many_changed_leads_build_in_full(
    raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "FULL_ABOVE", DEFAULT_FULL_ABOVE)
    raw.load(leads=[lead(f"x{n}", T, phone(1)) for n in range(10)])

    report = build(raw.path)

    assert (report.mode, report.reason) == (
        "full",
        "10 of 37 leads changed since the last build",
    )
    assert report.matched_leads == 20 + 10


def test_incremental_rows_removed_build_in_full(raw: Raw) -> None:
    raw.execute("delete from footprints.leads where id = 'c1'")

    report = build(raw.path)

    assert (report.mode, report.reason) == (
        "full",
        "footprints.leads has fewer rows than at the last build",
    )
    assert attributed(raw.path, "c1") is None


def test_incremental_missing_model_table_builds_in_full(raw: Raw) -> None:
    raw.execute("drop table analytics.conversions")

    report = build(raw.path)

    assert (report.mode, report.reason) == (
        "full",
        "analytics.conversions is not in the warehouse as a table",
    )


def test_incremental_needs_load_ids_in_the_raw_tables(tmp_path: Path) -> None:
    write_raw(tmp_path / "w.duckdb", [call(1, T - DAY, phone(1))], [customer("c1", phone(1))])
    build(tmp_path / "w.duckdb")

    report = build(tmp_path / "w.duckdb")

    assert report.mode == "full"
    assert report.reason.startswith("footprints.leads has no _dlt_load_id column")


def test_incremental_replaces_tables_of_an_earlier_layout(tmp_path: Path) -> None:
    """A warehouse whose staging models and settings were tables (as first built) gets views."""
    raw = Raw(tmp_path / "w.duckdb")
    raw.load(triggers=[call(1, T - DAY, phone(1))], leads=[customer("c1", phone(1))])
    for table in [*STAGING, "staging.model_settings"]:
        raw.execute("create schema if not exists staging")
        raw.execute(f"create table {table} as select 1 as old")

    report = build(raw.path)

    assert report.mode == "full"
    assert rows(
        raw.path,
        "select count(*) as n from information_schema.tables "
        "where table_schema = 'staging' and table_type = 'VIEW'",
    ) == [{"n": len(STAGING) + 2}]
    assert attributed(raw.path, "c1") == {"attributed_call_id": 1, "campaign": "Boiler Cover"}


def test_incremental_failed_update_leaves_the_previous_tables(raw: Raw) -> None:
    # A table no longer of its model's shape (altered by hand): the incremental build gets as
    # far as the last model's insert, after every earlier table's rows were redone.
    raw.execute("alter table outbound.qubit_events drop column skip_reason")
    before = tables(raw.path)
    raw.load(leads=[customer("n1", phone(1))])

    with pytest.raises(ModelError, match=r"outbound/qubit_events\.sql: .*failed") as failed:
        build(raw.path)

    assert failed.value.report is not None and failed.value.report.mode == "incremental"
    assert [run.table for run in failed.value.report.runs][-1] == "outbound.owox_hits"
    assert tables(raw.path) == before  # the earlier tables' updates rolled back with it
    assert build(raw.path, full=True).mode == "full"
    report = build(raw.path)
    assert (report.mode, report.changed_leads) == ("incremental", 0)
    assert_same_as_full(raw.path)
    assert attributed(raw.path, "n1") is not None


def test_incremental_failed_full_build_leaves_the_previous_tables(raw: Raw, tmp_path: Path) -> None:
    sql_dir = shutil.copytree(SQL_DIR, tmp_path / "sql")
    assert build(raw.path, sql_dir=sql_dir).mode == "incremental"
    before = tables(raw.path)
    raw.load(leads=[customer("n1", phone(1))])
    path = sql_dir / "outbound" / "qubit_events.sql"
    good = path.read_text()
    path.write_text(good.replace("conversions.qubit_visitor_id as", "conversions.no_such as"))

    with pytest.raises(ModelError, match=r"outbound/qubit_events\.sql:"):
        build(raw.path, sql_dir=sql_dir)

    # every earlier model had been rebuilt in the same transaction: all rolled back
    assert tables(raw.path) == before
    path.write_text(good)
    report = build(raw.path, sql_dir=sql_dir)
    assert (report.mode, report.changed_leads) == ("incremental", 1)
    assert_same_as_full(raw.path, sql_dir=sql_dir)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        (
            "select lead_id, now() as seen_at from intermediate.int_leads_converted",
            "{origin} reads the clock or randomness (NOW())",
        ),
        (
            "select lead_id, random() as r from analytics.conversions",
            "{origin} reads the clock or randomness (RANDOM())",
        ),
        (
            "select lead_id, count(*) over () as calls "
            "from analytics.conversions cross join staging.stg_infinity__triggers",
            "{origin} reads staging.stg_infinity__triggers other than through "
            "intermediate.int_calls_matched_to_leads",
        ),
        ("select lead_id from analytics.conversions", None),
    ],
    ids=["clock", "random", "triggers", "per lead"],
)
def test_incremental_refused_for_models_that_are_not_per_lead(
    tmp_path: Path, sql: str, reason: str | None
) -> None:
    (tmp_path / "sql" / "marts").mkdir(parents=True)
    (tmp_path / "sql" / "marts" / "extra.sql").write_text(f"-- grain: lead_id\n{sql}")
    (model,) = discover(tmp_path / "sql")

    found = incremental.not_incremental(model)

    assert found == (reason.format(origin=model.origin) if reason else None)


@pytest.mark.parametrize(
    ("view", "reason"),
    [
        (
            "select row_id as trigger_id, callerphone_e164, current_date as seen_on "
            "from infinity.triggers",
            "{origin} reads the clock or randomness (CURRENT_DATE)",
        ),
        (
            "select row_id as trigger_id, callerphone_e164 from infinity.triggers",
            "{origin} reads infinity.triggers other than through "
            "intermediate.int_calls_matched_to_leads",
        ),
    ],
    ids=["clock", "triggers"],
)
def test_incremental_refused_for_models_reading_such_views(
    tmp_path: Path, view: str, reason: str
) -> None:
    # A view's select runs inside the table that reads it: it is checked with that table.
    (tmp_path / "sql" / "staging").mkdir(parents=True)
    (tmp_path / "sql" / "marts").mkdir(parents=True)
    (tmp_path / "sql" / "staging" / "stg_infinity__calls.sql").write_text(
        f"-- grain: trigger_id\n{view}"
    )
    (tmp_path / "sql" / "marts" / "calls_per_lead.sql").write_text(
        "-- grain: lead_id\n"
        "select leads.lead_id, count(calls.trigger_id) as calls "
        "from staging.stg_footprints__leads as leads "
        "left join staging.stg_infinity__calls as calls "
        "on calls.callerphone_e164 = leads.phone_e164 group by leads.lead_id"
    )
    by_table = {model.table: model for model in discover(tmp_path / "sql")}
    mart = by_table["analytics.calls_per_lead"]

    assert incremental.not_incremental(mart) is None  # its own SQL alone looks per lead
    views = {table: model for table, model in by_table.items() if model.kind == "view"}
    found = incremental.not_incremental(mart, views)

    assert found == reason.format(origin=mart.origin)


def test_incremental_models_reading_every_call_by_number_are_named(tmp_path: Path) -> None:
    # Reading the calls by number (not through the matches) is redone lead by lead only for
    # the models rule d follows: those named in incremental.BY_NUMBER.
    by_number = (
        "-- grain: lead_id\n"
        "select leads.lead_id, count(calls.trigger_id) as calls "
        "from staging.stg_footprints__leads as leads "
        "left join staging.stg_infinity__triggers as calls "
        "on calls.caller_phone_e164 = leads.phone_e164 group by leads.lead_id"
    )
    (tmp_path / "sql" / "marts").mkdir(parents=True)
    for name in ("lead_match_diagnostics", "calls_per_lead"):
        (tmp_path / "sql" / "marts" / f"{name}.sql").write_text(by_number)
    by_table = {model.table: model for model in discover(tmp_path / "sql")}
    named, unnamed = by_table[DIAGNOSTICS], by_table["analytics.calls_per_lead"]

    assert incremental.not_incremental(named) is None
    assert incremental.not_incremental(unnamed) == (
        f"{unnamed.origin} reads staging.stg_infinity__triggers other than through "
        "intermediate.int_calls_matched_to_leads"
    )


def test_incremental_model_without_lead_id_builds_in_full(raw: Raw, tmp_path: Path) -> None:
    sql_dir = shutil.copytree(SQL_DIR, tmp_path / "sql")
    (sql_dir / "marts" / "leads_per_status.sql").write_text(
        "-- grain: status\nselect status, count(*) as leads "
        "from staging.stg_footprints__leads group by status"
    )
    build(raw.path, sql_dir=sql_dir)

    report = build(raw.path, sql_dir=sql_dir)

    assert (report.mode, report.reason) == (
        "full",
        "analytics.leads_per_status has no lead_id column",
    )
