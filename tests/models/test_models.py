"""SQL models on a real DuckDB file: raw rows in, model rows out; the runner's order and errors.

Raw tables are created directly with just the columns the models read. Cases that do not
depend on settings share one warehouse, each on its own phone numbers and lead ids, so the
whole table of cases costs one build.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from helpers.model_cases import (
    CONVERSION_CASES,
    DAY,
    MATCH_CASES,
    SECOND,
    SETTINGS,
    ConversionCase,
    MatchCase,
    T,
    call,
    customer,
    lead,
    phone,
    write_models,
    write_raw,
)

from pipelines.models.build import InputsMissing, ModelsReport, build_models
from pipelines.models.plan import ModelError, plan
from pipelines.models.settings import ModelSettings
from pipelines.runtime.settings import SettingError


@dataclass
class Warehouse:
    path: Path
    report: ModelsReport

    def rows(self, sql: str) -> list[dict[str, Any]]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def row(self, table: str, lead_id: str) -> dict[str, Any] | None:
        found = self.rows(f"select * from {table} where lead_id = '{lead_id}'")
        assert len(found) <= 1
        return found[0] if found else None


def build(path: Path, triggers: list[dict], leads: list[dict], **settings: Any) -> Warehouse:
    write_raw(path, triggers, leads)
    config = ModelSettings(**{**SETTINGS.__dict__, **settings})
    return Warehouse(path, build_models(dlt.destinations.duckdb(str(path)), config=config))


# --- call_lead_matches ------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Every case above, in one warehouse, built once."""
    leads = [row for case in MATCH_CASES for row in case.leads]
    leads += [case.lead for case in CONVERSION_CASES]
    triggers = [row for case in MATCH_CASES for row in case.triggers]
    triggers += [row for case in CONVERSION_CASES for row in case.triggers]
    return build(tmp_path_factory.mktemp("models") / "warehouse.duckdb", triggers, leads)


@pytest.mark.parametrize("case", MATCH_CASES, ids=lambda case: case.name)
def test_models_call_lead_matches(scenario: Warehouse, case: MatchCase) -> None:
    ids = ", ".join(f"'{row['id']}'" for row in case.leads)
    rows = scenario.rows(
        "select lead_id, call_id, call_rank, is_attributed from analytics.call_lead_matches "
        f"where lead_id in ({ids}) order by lead_id, call_rank"
    )

    assert [tuple(r.values()) for r in rows] == case.expected


@pytest.mark.parametrize("case", CONVERSION_CASES, ids=lambda case: case.name)
def test_models_conversions_and_skip_reasons(scenario: Warehouse, case: ConversionCase) -> None:
    lead_id = case.lead["id"]
    conversion = scenario.row("analytics.conversions", lead_id)
    skips = tuple(
        (scenario.row(f"outbound.{table}", lead_id) or {}).get("skip_reason", "absent")
        for table in ("qubit_events", "owox_hits", "gameball_events")
    )

    if case.expected is None:
        assert conversion is None
        assert skips == ("absent", "absent", "absent")
    else:
        assert conversion is not None
        assert {k: conversion[k] for k in case.expected} == case.expected
        assert skips == case.skips


def test_models_outbound_rows_carry_every_payload_field(scenario: Warehouse) -> None:
    converted_at = T + 2 * DAY
    ms = int((converted_at.replace(tzinfo=UTC)).timestamp() * 1000)

    qubit = scenario.row("outbound.qubit_events", "c1")
    owox = scenario.row("outbound.owox_hits", "c1")
    gameball = scenario.row("outbound.gameball_events", "c1")

    assert qubit == {
        "qubit_event_id": hashlib.md5(b"qubit:c1").hexdigest(),
        "lead_id": "c1",
        "converted_at": converted_at,
        "context__id": "qv-2001",
        "meta__type": "ecBasketTransactionSummary",
        "meta__ts": ms,
        "meta__source": "callsync",
        "total_object": "basket",
        "total__value": 1200.5,
        "total__currency": "RON",
        "transaction__id": "c1",
        "skip_reason": None,
    }
    assert owox == {
        "owox_hit_id": hashlib.md5(b"owox:c1").hexdigest(),
        "lead_id": "c1",
        "converted_at": converted_at,
        "v": "1",
        "tid": "UA-12345-1",
        "cid": "2001.1789000000",
        "t": "event",
        "ec": "offline conversion",
        "ea": "customer",
        "el": "c1",
        "ev": 1201,  # half away from zero, in DuckDB and BigQuery alike
        "tel": phone(1),
        "ds": "call center",
        "cn": "Boiler Cover",
        "cs": "google",
        "cm": "ppc",
        "ck": "boiler cover",
        "hit_ts": ms,
        "skip_reason": None,
    }
    assert gameball == {
        "gameball_event_id": hashlib.md5(b"gameball:c1").hexdigest(),
        "lead_id": "c1",
        "converted_at": converted_at,
        "player_unique_id": "client-c1",
        "mobile": phone(1),
        "email": "c1@example.com",
        "event_name": "crm_conversion",
        "metadata__total_amount": 1200.5,
        "metadata__currency": "RON",
        "metadata__lead_id": "c1",
        "metadata__channel": "Google Ads",
        "metadata__source": "google",
        "metadata__campaign": "Boiler Cover",
        "skip_reason": None,
    }


def test_models_every_conversion_has_one_row_per_target(scenario: Warehouse) -> None:
    conversions = scenario.rows("select lead_id from analytics.conversions order by lead_id")
    for table, id_column in (
        ("qubit_events", "qubit_event_id"),
        ("owox_hits", "owox_hit_id"),
        ("gameball_events", "gameball_event_id"),
    ):
        rows = scenario.rows(
            f"select lead_id, {id_column} as id from outbound.{table} order by lead_id"
        )
        assert [r["lead_id"] for r in rows] == [c["lead_id"] for c in conversions]
        assert len({r["id"] for r in rows}) == len(rows)


def test_models_report_rows_per_model_and_match_rate(scenario: Warehouse) -> None:
    report = scenario.report
    counts = {
        run.table: scenario.rows(f"select count(*) as n from {run.table}")[0]["n"]
        for run in report.runs
        if run.table != "analytics.daily_funnel"  # a report: not counted
    }
    # 13 + 14 leads; matched: 8 of the match cases, and every conversion case but c9 (its
    # call came after the lead) and c14 (no phone number)
    leads, matched = 27, 8 + 12

    assert report.rows == counts
    assert set(counts) >= {
        "analytics.call_lead_matches",
        "analytics.conversions",
        "analytics.lead_match_diagnostics",
        "outbound.qubit_events",
        "outbound.owox_hits",
        "outbound.gameball_events",
    }
    assert (report.leads, report.matched_leads) == (leads, matched)
    assert report.outbound["gameball"] == {None: 12, "no_player_id": 1}
    assert f"Leads matched to a call: {matched} of {leads}" in report.summary()
    # no phone: m9b, m10, c14; m9's number never called; m3 and c9 were called after the
    # lead, m2 before the window
    assert (
        "Unmatched leads: no_phone 3, calls_only_after_lead 2, calls_only_before_window 1, "
        "no_calls_from_number 1."
    ) in report.summary()
    assert "gameball 12 to send, 1 skipped (no_player_id 1)" in report.summary()


def test_models_diagnostics_agree_with_the_matches(scenario: Warehouse) -> None:
    leads = scenario.rows("select lead_id from staging.stg_footprints__leads order by 1")
    diagnostics = scenario.rows(
        "select lead_id, match_outcome = 'matched' as matched, matched_calls "
        "from analytics.lead_match_diagnostics order by lead_id"
    )
    matches = scenario.rows(
        "select lead_id, count(*) as n from analytics.call_lead_matches group by 1"
    )
    matched = {row["lead_id"]: row["n"] for row in matches}

    assert [row["lead_id"] for row in diagnostics] == [row["lead_id"] for row in leads]
    assert [(r["matched"], r["matched_calls"]) for r in diagnostics] == [
        (r["lead_id"] in matched, matched.get(r["lead_id"], 0)) for r in diagnostics
    ]


# --- settings that change the rows ----------------------------------------------------------


def _one_customer(**lead_fields: Any) -> tuple[list[dict], list[dict]]:
    return [call(1, T - DAY, phone(1))], [customer("c1", phone(1), **lead_fields)]


def test_models_deterministic_ids_stable_across_rebuilds(tmp_path: Path) -> None:
    triggers, leads = _one_customer()
    first = build(tmp_path / "w.duckdb", triggers, leads)
    ids_sql = (
        "select q.qubit_event_id, o.owox_hit_id, g.gameball_event_id from outbound.qubit_events q "
        "join outbound.owox_hits o using (lead_id) join outbound.gameball_events g using (lead_id) "
        "where lead_id = 'c1'"
    )
    before = first.rows(ids_sql)
    leads.append(customer("c2", phone(2)))
    triggers.append(call(2, T - 2 * DAY, phone(1)))
    after = build(tmp_path / "w.duckdb", triggers, leads).rows(ids_sql)

    assert (
        before
        == after
        == [
            {
                "qubit_event_id": hashlib.md5(b"qubit:c1").hexdigest(),
                "owox_hit_id": hashlib.md5(b"owox:c1").hexdigest(),
                "gameball_event_id": hashlib.md5(b"gameball:c1").hexdigest(),
            }
        ]
    )


def test_models_attribution_window_is_a_setting(tmp_path: Path) -> None:
    leads = [lead("w", T, phone(1))]
    triggers = [call(1, T - 7 * DAY, phone(1)), call(2, T - 7 * DAY - SECOND, phone(1))]

    built = build(tmp_path / "w.duckdb", triggers, leads, attribution_window_days=7)

    assert built.rows("select call_id from analytics.call_lead_matches") == [{"call_id": 1}]


def test_models_without_currency_qubit_rows_are_skipped(tmp_path: Path) -> None:
    built = build(tmp_path / "w.duckdb", *_one_customer(), currency=None)

    assert built.row("analytics.conversions", "c1")["currency"] is None
    assert built.row("outbound.qubit_events", "c1")["skip_reason"] == "no_currency"
    assert built.row("outbound.owox_hits", "c1")["skip_reason"] is None


def test_models_gameball_player_id_can_be_the_external_id(tmp_path: Path) -> None:
    built = build(tmp_path / "w.duckdb", *_one_customer(), gameball_player_id="user_external_id")

    assert built.row("outbound.gameball_events", "c1")["player_unique_id"] == "EXT-c1"


def test_models_visitor_ids_read_from_configured_custom_fields(tmp_path: Path) -> None:
    built = build(
        tmp_path / "w.duckdb",
        *_one_customer(),
        qubit_visitor_id_field="pt_qubit_id",
        ga_client_id_field="c_qubit_visitor_id",
    )

    conversion = built.row("analytics.conversions", "c1")
    assert (conversion["qubit_visitor_id"], conversion["ga_client_id"]) == ("pt-1", "qv-1")


QUBIT_VERTICALS = [
    ("ecommerce", "ecBasketTransactionSummary", "basket"),
    ("egaming", "egBetslipTransactionSummary", "betslip"),
    ("publisher", "pbBasketTransactionSummary", "basket"),
    ("logistics", "loBasketTransactionSummary", "basket"),
    ("travel", "trPackageTransactionSummary", "package"),
    ("finance", "fiBasketTransactionSummary", "basket"),
]


@pytest.mark.parametrize(("vertical", "event_type", "total_object"), QUBIT_VERTICALS)
def test_models_qubit_event_type_by_vertical(
    tmp_path: Path, vertical: str, event_type: str, total_object: str
) -> None:
    built = build(
        tmp_path / "w.duckdb", *_one_customer(), qubit_vertical=vertical, qubit_source="co@2"
    )

    row = built.row("outbound.qubit_events", "c1")
    assert (row["meta__type"], row["total_object"], row["meta__source"]) == (
        event_type,
        total_object,
        "co@2",
    )


# --- the runner -----------------------------------------------------------------------------


def test_models_build_order_follows_the_tables_each_model_reads() -> None:
    models = plan(SETTINGS)
    position = {model.table: index for index, model in enumerate(models)}

    for model in models:
        for table in model.reads & position.keys():
            assert position[table] < position[model.table], (model.table, table)
    assert [m.table for m in models][-4:] == [
        "outbound.gameball_events",
        "outbound.owox_hits",
        "outbound.qubit_events",
        "analytics.daily_funnel",  # reports last
    ]


def test_models_order_within_a_layer_comes_from_the_sql(tmp_path: Path) -> None:
    sql_dir = write_models(
        tmp_path,
        {
            "intermediate/a.sql": "-- grain: x\nselect * from intermediate.b",
            "intermediate/b.sql": "-- grain: x\nselect * from intermediate.c",
            "intermediate/c.sql": "-- grain: x\nselect * from staging.s",
            "staging/s.sql": "-- grain: x\nselect 1 as x from footprints.leads",
        },
    )

    tables = [m.table for m in plan(SETTINGS, sql_dir) if m.table.startswith("intermediate")]

    assert tables == ["intermediate.c", "intermediate.b", "intermediate.a"]


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (
            {
                "intermediate/a.sql": "-- grain: x\nselect * from intermediate.b",
                "intermediate/b.sql": "-- grain: x\nselect * from intermediate.a",
            },
            "models read each other in a cycle: {sql}/intermediate/a.sql, {sql}/intermediate/b.sql",
        ),
        (
            {"marts/a.sql": "-- grain: x\nselect *\nfrom leads"},
            "{sql}/marts/a.sql:3: reads leads without a schema; write schema.table",
        ),
        (
            {"marts/a.sql": "-- grain: a\nselect a,\n  from where"},
            "{sql}/marts/a.sql:3:",
        ),
        (
            {"marts/a.sql": "-- grain: x\nselect 1 as x; select 2 as x"},
            "{sql}/marts/a.sql: a model is exactly one select statement",
        ),
        (
            {"exports/a.sql": "select 1"},
            "{sql}/exports/a.sql: models live in sql/<staging|intermediate|marts|outbound|reports>",
        ),
        (
            {
                "reports/r.sql": "-- grain: x\nselect 1 as x from analytics.conversions",
                "marts/m.sql": "-- grain: x\nselect x from analytics.r",
            },
            "{sql}/marts/m.sql: reads analytics.r, a report",
        ),
    ],
    ids=["cycle", "no schema", "syntax", "two statements", "unknown layer", "reads a report"],
)
def test_models_unreadable_sql_is_refused_naming_the_file(
    tmp_path: Path, models: dict[str, str], message: str
) -> None:
    sql_dir = write_models(tmp_path, models)

    with pytest.raises(ModelError) as error:
        plan(SETTINGS, sql_dir)

    assert message.format(sql=sql_dir) in str(error.value)


def test_models_sql_error_names_the_model_file_and_line(tmp_path: Path) -> None:
    write_raw(tmp_path / "w.duckdb", *_one_customer())
    sql_dir = write_models(
        tmp_path,
        {
            "staging/stg_z.sql": (
                "-- grain: id\nselect\n  id,\n  no_such_column\nfrom footprints.leads"
            ),
            "marts/b.sql": "-- grain: id\nselect * from staging.stg_z",
        },
    )

    with pytest.raises(ModelError) as error:
        build_models(
            dlt.destinations.duckdb(str(tmp_path / "w.duckdb")), config=SETTINGS, sql_dir=sql_dir
        )

    message = str(error.value)
    assert message.startswith(f"{sql_dir}/staging/stg_z.sql:4: staging.stg_z failed: ")
    assert "no_such_column" in message
    assert list(error.value.report.rows) == ["staging.stg_infinity__trigger_custom_fields"]


def test_models_custom_field_must_be_a_column_of_the_triggers(tmp_path: Path) -> None:
    write_raw(tmp_path / "w.duckdb", *_one_customer())
    config = ModelSettings(qubit_visitor_id_field="c_missing")

    with pytest.raises(SettingError) as error:
        build_models(dlt.destinations.duckdb(str(tmp_path / "w.duckdb")), config=config)

    assert str(error.value) == (
        "Setting models.qubit_visitor_id_field [MODELS__QUBIT_VISITOR_ID_FIELD] names "
        "c_missing, which infinity.triggers does not have; its custom fields are: "
        "c_ga_client_id, c_qubit_visitor_id, pt_qubit_id"
    )


def test_models_name_every_raw_table_not_loaded_yet(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema footprints")

    with pytest.raises(InputsMissing) as missing:
        build_models(dlt.destinations.duckdb(str(tmp_path / "w.duckdb")), config=SETTINGS)

    assert str(missing.value).startswith(
        "footprints.leads, infinity.triggers not in the warehouse yet"
    )


def test_models_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "MODELS__ATTRIBUTION_WINDOW_DAYS": "14",
        "MODELS__CONVERTED_STATUSES": '["customer", "won"]',
        "MODELS__CURRENCY": "ron",
        "MODELS__QUBIT_VISITOR_ID_FIELD": "pt_qubit_id",
        "MODELS__GA_CLIENT_ID_FIELD": "c_ga",
        "MODELS__GAMEBALL_PLAYER_ID": "user_external_id",
        "DESTINATION__QUBIT__VERTICAL": "travel",
        "DESTINATION__QUBIT__SOURCE": "acme@1.0.0",
        "DESTINATION__OWOX__TID": "UA-1-2",
        "DESTINATION__GAMEBALL__EVENT_NAME": "place_order",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    assert ModelSettings.from_config() == ModelSettings(
        attribution_window_days=14,
        converted_statuses=("customer", "won"),
        currency="RON",
        qubit_visitor_id_field="pt_qubit_id",
        ga_client_id_field="c_ga",
        gameball_player_id="user_external_id",
        qubit_vertical="travel",
        qubit_source="acme@1.0.0",
        owox_tid="UA-1-2",
        gameball_event_name="place_order",
    )


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("MODELS__ATTRIBUTION_WINDOW_DAYS", "0", "must be at least 1"),
        ("MODELS__ATTRIBUTION_WINDOW_DAYS", "a month", "must be a whole number"),
        ("MODELS__CONVERTED_STATUSES", "[]", "must name at least one Footprints status"),
        ("MODELS__CONVERTED_STATUSES", '["customer"', "must be a list"),
        ("MODELS__CURRENCY", "euro", "must be an ISO 4217 code"),
        ("MODELS__QUBIT_VISITOR_ID_FIELD", "visitor_id", "must name an Infinity custom field"),
        ("MODELS__GA_CLIENT_ID_FIELD", "c_GA; drop table x", "must name an Infinity custom"),
        ("MODELS__GAMEBALL_PLAYER_ID", "email", "must be one of client_id, user_external_id"),
        ("DESTINATION__QUBIT__VERTICAL", "retail", "must be one of ecommerce, egaming"),
        ("DESTINATION__OWOX__TID", "G-ABC123", "must be a property id like UA-12345-1"),
    ],
)
def test_models_invalid_settings_are_refused_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingError) as error:
        ModelSettings.from_config()

    assert f"[{variable}]" in str(error.value)
    assert problem in str(error.value)


def test_models_staging_sql_runs_through_dlt_dataset_query(tmp_path: Path) -> None:
    """dlt's own dataset API, with the pinned sqlglot, reads the staging SQL like the runner.

    dlt 1.31's relations break with sqlglot >= 30.22 (FINDINGS); this fails loudly if an
    upgrade brings that back.
    """
    destination = dlt.destinations.duckdb(str(tmp_path / "w.duckdb"))
    triggers, leads = _one_customer(sku__price=900, offer__price=800)
    pipelines = {}
    for name, table, rows, timestamps in (
        ("infinity", "triggers", triggers, ["trigger_datetime"]),
        ("footprints", "leads", leads, ["created_at", "timestamp_status_change"]),
    ):
        pipelines[name] = dlt.pipeline(
            pipeline_name=name,
            destination=destination,
            dataset_name=name,
            pipelines_dir=str(tmp_path / "dlt"),
        )
        hints = {c: {"data_type": "timestamp", "timezone": False} for c in timestamps}
        pipelines[name].run(rows, table_name=table, columns=hints)
    built = build_models(destination, config=SETTINGS)

    for model in plan(SETTINGS):
        if not model.table.startswith("staging.stg_"):
            continue
        source = next(iter(model.reads)).split(".")[0]
        relation = pipelines[source].dataset().query(model.sql, query_dialect="duckdb")
        with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
            expected = con.execute(f"select * from {model.table}").fetchall()
        assert sorted(relation.fetchall(), key=str) == sorted(expected, key=str), model.table
    assert built.rows["staging.stg_footprints__leads"] == 1


def test_models_cli_builds_incrementally_and_in_full_when_asked(workspace: Any) -> None:
    write_raw(workspace.warehouse, *_one_customer())
    with duckdb.connect(str(workspace.warehouse)) as con:
        for table in ("infinity.triggers", "footprints.leads"):  # as dlt loads them
            con.execute(f"alter table {table} add column _dlt_load_id varchar default '1'")

    first = workspace.run("models")
    again = workspace.run("models")
    full = workspace.run("models", "--full")

    assert first.code == again.code == full.code == 0, first.output + again.output + full.output
    assert "Models (full: no earlier build to update)" in first.stdout
    assert "Models (incremental: 0 leads new or changed since the last build)" in again.stdout
    assert "Models (full: asked for)" in full.stdout
    assert workspace.query("select lead_id from analytics.conversions") == [("c1",)]
