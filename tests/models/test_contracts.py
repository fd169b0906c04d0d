"""Grain lines and the grain checks after every build, on real DuckDB files and, for the push,
a whole `sync` against the emulators.

Each breaking case is a model directory, the real models plus one broken model, and the raw
rows that break it. Full: the last build (of the real models) passes, then the broken models
are built with the breaking rows. Incremental: the broken models pass on the first rows, and
break when the breaking rows arrive. Either way the build fails naming the model and a key,
and the warehouse keeps what the last build left, its state included.
"""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import dlt
import duckdb
import pytest
from helpers.contract_cases import BREACHES, FIRST_LEADS, FIRST_TRIGGERS, Breach, broken_models
from helpers.model_cases import SETTINGS, Raw, write_models

from emulators.footprints import FootprintsEmulator
from emulators.gameball import GameballEmulator
from emulators.infinity import InfinityEmulator
from emulators.owox import OwoxEmulator
from emulators.qubit import QubitEmulator
from emulators.scenario import Scenario
from pipelines.__main__ import main
from pipelines.models import contracts, incremental
from pipelines.models.build import ModelsReport, build_models
from pipelines.models.contracts import ContractBreached
from pipelines.models.plan import SQL_DIR, ModelError, plan
from pipelines.push import TARGETS
from pipelines.runtime import runner

TABLES = [model.table for model in plan(SETTINGS) if model.kind == "table"]


@pytest.fixture(autouse=True)
def incremental_for_any_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cases change one or two of a few leads: more than the share above which a build
    is full."""
    monkeypatch.setattr(incremental, "FULL_ABOVE", 1.0)


def build(path: Path, sql_dir: Path = SQL_DIR) -> ModelsReport:
    return build_models(dlt.destinations.duckdb(str(path)), config=SETTINGS, sql_dir=sql_dir)


def snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every model table (of the real models) and the build state, rows in a stable order."""
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            table: sorted(con.execute(f"from {table}").fetchall(), key=repr)
            for table in [*TABLES, incremental.STATE_TABLE]
        }


def relations(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("select table_schema, table_name from information_schema.tables")
        return {f"{schema}.{name}" for schema, name in rows.fetchall()}


@pytest.mark.parametrize("breach", BREACHES, ids=lambda breach: breach.name)
def test_contracts_breach_fails_a_full_build_and_keeps_the_last_build(
    tmp_path: Path, breach: Breach
) -> None:
    raw = Raw(tmp_path / "w.duckdb")
    raw.load(triggers=FIRST_TRIGGERS, leads=FIRST_LEADS)
    build(raw.path)
    before, tables_before = snapshot(raw.path), relations(raw.path)
    sql_dir = broken_models(tmp_path, breach.models)
    raw.load(triggers=breach.triggers, leads=breach.leads)

    with pytest.raises(ContractBreached) as breached:
        build(raw.path, sql_dir)

    assert str(breached.value) == breach.message.format(sql=sql_dir)
    assert breached.value.report.mode == "full"  # other models than the last build's
    assert snapshot(raw.path) == before
    assert relations(raw.path) == tables_before
    # The last build's state is intact: the real models go on from it, lead by lead.
    assert build(raw.path).mode == "incremental"


@pytest.mark.parametrize("breach", BREACHES, ids=lambda breach: breach.name)
def test_contracts_breach_fails_an_incremental_build_and_keeps_the_last_build(
    tmp_path: Path, breach: Breach
) -> None:
    sql_dir = broken_models(tmp_path, breach.models)
    raw = Raw(tmp_path / "w.duckdb")
    raw.load(triggers=FIRST_TRIGGERS, leads=FIRST_LEADS)
    assert build(raw.path, sql_dir).mode == "full"
    before = snapshot(raw.path)
    raw.load(triggers=breach.triggers, leads=breach.leads)

    with pytest.raises(ContractBreached) as breached:
        build(raw.path, sql_dir)

    assert str(breached.value) == breach.message.format(sql=sql_dir)
    assert breached.value.report.mode == "incremental"
    assert snapshot(raw.path) == before
    # Nothing was written to build on: the next build meets the same rows, and fails again.
    with pytest.raises(ContractBreached, match="breaks its grain"):
        build(raw.path, sql_dir)


def test_contracts_incremental_check_reads_only_the_changed_leads_of_lead_keyed_grains() -> None:
    models = plan(SETTINGS)
    number_redone = incremental.redone_by_number(models)
    checks = {
        model.table: contracts.grain_select(
            model, changed_only=True, leads=incremental.leads_table(model, number_redone)
        ).sql("duckdb")
        for model in models
        if model.kind == "table"
    }

    assert number_redone == {"analytics.lead_match_diagnostics"}
    for table, sql in checks.items():
        lead_keyed = not table.startswith("outbound.")
        by_number = table in number_redone
        assert (incremental.CHANGED_LEADS_TABLE in sql) == (lead_keyed and not by_number), table
        assert (incremental.NUMBER_CHANGED_LEADS_TABLE in sql) == by_number, (table, sql)


def test_contracts_grain_column_hidden_by_a_star_is_named_at_the_first_build(
    tmp_path: Path,
) -> None:
    raw = Raw(tmp_path / "w.duckdb")
    raw.load(triggers=FIRST_TRIGGERS, leads=FIRST_LEADS)
    # A star over another model's table: plan cannot tell its columns.
    sql_dir = broken_models(
        tmp_path, {"marts/copy.sql": "-- grain: no_such\nselect * from analytics.conversions"}
    )

    with pytest.raises(ModelError) as error:
        build(raw.path, sql_dir)

    message = str(error.value)
    assert message.startswith(
        f"{sql_dir}/marts/copy.sql:1: analytics.copy: its grain (no_such) could not be checked: "
    )
    assert "no_such" in message.split("could not be checked: ")[1]


@pytest.mark.parametrize(
    ("first_lines", "message"),
    [
        ("-- one row per lead", "{path}:1: the first line states the model's grain, as "),
        ("select lead_id from x.y", "{path}:1: the first line states the model's grain"),
        ("-- grain lead_id", "found '-- grain lead_id'"),
        ("-- grain:", "found '-- grain:'"),
        ("-- grain: Lead_ID", "(lowercase names); found '-- grain: Lead_ID'"),
        ("-- grain: lead_id call_id", "found '-- grain: lead_id call_id'"),
        ("-- grain: lead_id,", "found '-- grain: lead_id,'"),
        ("-- grain: lead_id, lead_id", "{path}:1: the grain names a column twice: lead_id, "),
        (
            "-- grain: lead_id, call_id",
            "{path}:1: the grain names call_id, which the select does not return "
            "(it returns lead_id, status)",
        ),
    ],
    ids=[
        "words only",
        "no comment",
        "no colon",
        "no column",
        "capitals",
        "no comma",
        "trailing comma",
        "twice",
        "not returned",
    ],
)
def test_contracts_model_without_a_readable_grain_is_refused_at_plan_time(
    tmp_path: Path, first_lines: str, message: str
) -> None:
    sql = "with leads as (select id as lead_id, status from footprints.leads)\nselect * from leads"
    sql_dir = write_models(tmp_path, {"marts/a.sql": f"{first_lines}\n{sql}"})

    with pytest.raises(ModelError) as error:
        plan(SETTINGS, sql_dir)

    assert message.format(path=sql_dir / "marts" / "a.sql") in str(error.value)


def test_contracts_grain_of_every_model() -> None:
    grains = {model.table: model.grain for model in plan(SETTINGS)}

    assert grains == {
        "staging.stg_footprints__leads": ("lead_id",),
        "staging.stg_infinity__triggers": ("trigger_id",),
        "staging.stg_infinity__trigger_custom_fields": ("trigger_id",),
        "intermediate.int_calls_matched_to_leads": ("lead_id", "call_id"),
        "intermediate.int_leads_converted": ("lead_id",),
        "analytics.call_lead_matches": ("lead_id", "call_id"),
        "analytics.conversions": ("lead_id",),
        "analytics.lead_match_diagnostics": ("lead_id",),
        # what the push keys each target's rows on (`Target.id_column`)
        "outbound.qubit_events": ("qubit_event_id",),
        "outbound.owox_hits": ("owox_hit_id",),
        "outbound.gameball_events": ("gameball_event_id",),
        "analytics.daily_funnel": ("day",),
    }


def test_contracts_outbound_grains_are_the_push_ids() -> None:
    grains = {model.table: model.grain for model in plan(SETTINGS)}

    for target in TARGETS.values():
        assert grains[target.table] == (target.id_column,), target.table


# --- a sync against the emulators ---------------------------------------------------------


def _sync(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    with monkeypatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(["sync"])
    return code, out.getvalue()


def test_contracts_sync_with_a_duplicated_outbound_id_pushes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scenario = Scenario(runs=(datetime.now(UTC),), triggers=400, leads=120, days=20)
    qubit = SQL_DIR / "outbound" / "qubit_events.sql"
    # One id for every conversion: the currency is the same for all.
    sql_dir = broken_models(
        tmp_path,
        {
            "outbound/qubit_events.sql": qubit.read_text().replace(
                "md5('qubit:' || conversions.lead_id)", "md5('qubit:' || conversions.currency)"
            )
        },
    )
    with (
        InfinityEmulator() as infinity,
        FootprintsEmulator() as crm,
        QubitEmulator() as qubit_receiver,
        OwoxEmulator() as owox,
        GameballEmulator() as gameball,
    ):
        scenario.serve(infinity, crm)
        env = {
            "SOURCES__INFINITY__BASE_URL": f"{infinity.url}/reports/v2",
            "SOURCES__INFINITY__IGRP": infinity.igrp,
            "SOURCES__INFINITY__USERNAME": infinity.username,
            "SOURCES__INFINITY__PASSWORD": infinity.password,
            "SOURCES__FOOTPRINTS__BASE_URL": crm.url,
            "SOURCES__FOOTPRINTS__CLIENT_KEY": crm.client_key,
            "SOURCES__FOOTPRINTS__CLIENT_SECRET": crm.client_secret,
            "SOURCES__FOOTPRINTS__START_DATE": str(scenario.first_day),
            "MODELS__CURRENCY": "RON",
            "DESTINATION__QUBIT__BASE_URL": qubit_receiver.url,
            "DESTINATION__QUBIT__TRACKING_ID": qubit_receiver.tracking_id,
            "DESTINATION__OWOX__ENDPOINT": owox.url,
            "DESTINATION__OWOX__TID": owox.tid,
            "DESTINATION__GAMEBALL__BASE_URL": gameball.base_url,
            "DESTINATION__GAMEBALL__API_KEY": gameball.api_key,
            "DESTINATION__GAMEBALL__MAX_REQUESTS_PER_SECOND": "1000",
            "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "warehouse.duckdb"),
            "SYNC__PIPELINES_DIR": str(tmp_path / "dlt-state"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
        receivers = (qubit_receiver, owox, gameball)
        with monkeypatch.context() as patch:
            patch.setattr(runner, "build_models", partial(build_models, sql_dir=sql_dir))
            code, output = _sync(env, monkeypatch)

        assert code != 0, output
        assert (
            f"{sql_dir}/outbound/qubit_events.sql: outbound.qubit_events breaks its grain "
            "(qubit_event_id): "
        ) in output
        assert [len(receiver.requests) for receiver in receivers] == [0, 0, 0]
        assert "outbound.deliveries" not in relations(tmp_path / "warehouse.duckdb")
        # The same sync with the real models sends to every target.
        code, output = _sync(env, monkeypatch)
        assert code == 0, output
        assert all(receiver.requests for receiver in receivers)
