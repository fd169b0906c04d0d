"""Every model written for BigQuery: it parses in BigQuery's dialect and uses nothing BigQuery
lacks, and the model files keep the layout rules (grain lines, staging renames only).

One test (marked `bigquery`, run by `make test-bigquery`) builds on the local-bigquery
emulator: a grain breach fails the build there too, and the next build is full."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import pytest
import sqlglot
from helpers.contract_cases import BREACHES, FIRST_LEADS, FIRST_TRIGGERS, Breach, broken_models
from helpers.match_quality_cases import (
    DIAGNOSTICS_CASES,
    FUNNEL_AFTER_PUSH,
    FUNNEL_BEFORE_PUSH,
    FUNNEL_LEADS,
    FUNNEL_LEDGER,
    FUNNEL_TRIGGERS,
    HOUR,
    Z,
    diagnosed,
)
from helpers.model_cases import DAY, RAW_COLUMNS, SECOND, SETTINGS, T, call
from sqlglot import exp

from emulators.bigquery import MISSING, LocalBigQuery, available
from pipelines.models import contracts, incremental
from pipelines.models.build import build_models, create_sql, create_table_sql, error_location
from pipelines.models.contracts import ContractBreached
from pipelines.models.plan import Model, plan
from pipelines.models.settings import ModelSettings
from pipelines.push.ledger import Ledger
from pipelines.runtime import warehouse
from pipelines.runtime.transpile import bigquery_problems, to_dialect, transpile

MODELS = plan(ModelSettings(qubit_visitor_id_field="pt_qubit_id"))


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.table)
def test_models_transpile_to_bigquery_without_unsupported_constructs(model: Model) -> None:
    bigquery = transpile(model.sql, "bigquery")

    parsed = sqlglot.parse_one(bigquery, read="bigquery")

    assert isinstance(parsed, exp.Query)
    assert bigquery_problems(bigquery) == []
    assert {f"{t.db}.{t.name}" for t in parsed.find_all(exp.Table) if t.db} == model.reads


@pytest.mark.parametrize(
    ("duckdb", "bigquery"),
    [
        (
            "select ts - interval (s.days) day from x cross join s",
            "SELECT TIMESTAMP_SUB(ts, INTERVAL s.days DAY) FROM x CROSS JOIN s",
        ),
        (
            "select date_diff('second', a, b) from x",
            "SELECT TIMESTAMP_DIFF(b, a, SECOND) FROM x",
        ),
        (
            "select date_diff('millisecond', timestamp '1970-01-01', ts) from x",
            "SELECT TIMESTAMP_DIFF(ts, CAST('1970-01-01' AS TIMESTAMP), MILLISECOND) FROM x",
        ),
        ("select cast(a as timestamp) from x", "SELECT CAST(a AS TIMESTAMP) FROM x"),
        ("select md5('q:' || id) from x", "SELECT TO_HEX(MD5('q:' || id)) FROM x"),
        (
            "select cast(round(v) as bigint), cast(v as double) from x",
            "SELECT CAST(ROUND(v) AS INT64), CAST(v AS FLOAT64) FROM x",
        ),
    ],
)
def test_models_transpile_keeps_timestamps_bigquery_timestamps(duckdb: str, bigquery: str) -> None:
    assert transpile(duckdb, "bigquery", pretty=False) == bigquery


@pytest.mark.parametrize(
    ("sql", "dialect", "problem"),
    [
        ("select epoch(ts) from x", "duckdb", "TIME_TO_UNIX()"),
        ("select epoch_ms(ts) from x", "duckdb", "TIMESTAMP_MILLIS()"),
        ("select epoch_us(ts) from x", "duckdb", "EPOCH_US(): not on the list"),
        ("select strftime(ts, '%Y') from x", "duckdb", "FORMAT_DATE(): takes a DATE"),
        ("select date_diff('day', a, b) from x", "duckdb", "DATE_DIFF(): takes DATEs"),
        ("SELECT FORMAT_DATE('%Y', ts) FROM x", "bigquery", "FORMAT_DATE(): takes a DATE"),
        ("SELECT CAST(a AS DATETIME) FROM x", "bigquery", "DATETIME: the warehouse's"),
        ("SELECT DATE_SUB(ts, INTERVAL 1 DAY) FROM x", "bigquery", "DATE_SUB(): takes a DATE"),
        # DuckDB's own names, as the emulator would accept them
        ("SELECT EPOCH(ts) FROM x", "bigquery", "EPOCH(): DuckDB only"),
        ("SELECT STRFTIME(ts, '%Y') FROM x", "bigquery", "STRFTIME(): DuckDB only"),
        ("SELECT LIST_VALUE(1, 2) FROM x", "bigquery", "LIST_VALUE(): DuckDB only"),
    ],
)
def test_models_bigquery_check_fails_on_what_bigquery_lacks(
    sql: str, dialect: str, problem: str
) -> None:
    bigquery = transpile(sql, "bigquery") if dialect == "duckdb" else sql

    assert any(problem in found for found in bigquery_problems(bigquery)), bigquery


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.table)
def test_models_start_with_their_grain_then_one_line_saying_it(model: Model) -> None:
    first, second, third = model.sql.splitlines()[:3]

    assert first == f"-- grain: {', '.join(model.grain)}"
    assert second.startswith("-- one row per ")
    assert not third.startswith("--")


@pytest.mark.parametrize(
    "model", [m for m in MODELS if m.table.startswith("staging.")], ids=lambda m: m.table
)
def test_models_staging_reads_one_raw_table_and_joins_nothing(model: Model) -> None:
    assert len(model.reads) == 1
    assert next(iter(model.reads)).split(".")[0] in {"infinity", "footprints"}
    assert not list(model.query.find_all(exp.Join))
    assert not list(model.query.find_all(exp.Where, exp.Group, exp.Window))


def test_models_bigquery_error_position_is_mapped_to_the_model_line() -> None:
    model = next(m for m in MODELS if m.table == "analytics.conversions")
    executed = create_table_sql(model.table, model.query, "bigquery")
    row, text = next(
        (n, line)
        for n, line in enumerate(executed.splitlines(), 1)
        if "custom_fields.ga_client_id" in line
    )
    message = f"Unrecognized name: custom_fields at [{row}:{text.index('custom_fields') + 1}]"
    line = next(n for n, t in enumerate(model.sql.splitlines(), 1) if "fields.ga_client_id" in t)

    assert error_location(model, message, executed, None) == f"sql/marts/conversions.sql:{line}"
    assert error_location(model, "Binder Error\n\nLINE 7: x", "", 1) == (
        "sql/marts/conversions.sql:6"
    )


def _incremental_statements() -> list[tuple[str, str]]:
    """Every statement an incremental build writes, for BigQuery, by what it does."""
    state = incremental.State(
        "0" * 64,
        {
            table: incremental.InputState(table, 10, True, "1760000000.000001")
            for table in (incremental.RAW_LEADS, incremental.RAW_TRIGGERS)
        },
    )
    by_table = {model.table: model for model in MODELS}
    lead_keyed = {m.table for m in MODELS if m.kind == "table"} | {incremental.LEADS_VIEW}
    statements = [
        (
            "changed leads",
            create_sql(
                incremental.CHANGED_LEADS_TABLE,
                incremental.changed_leads_select(by_table, state),
                "bigquery",
            ),
        ),
        (
            "state",
            create_sql(
                incremental.STATE_TABLE, incremental.state_select(state, "full"), "bigquery"
            ),
        ),
        (
            "number changed leads",
            create_sql(
                incremental.NUMBER_CHANGED_LEADS_TABLE,
                incremental.number_changed_leads_select(by_table, state),
                "bigquery",
            ),
        ),
        ("state read", transpile(incremental.STATE_READ, "bigquery")),
        *(
            (f"input {table}", transpile(incremental.input_sql(table, True, loads), "bigquery"))
            for table in (incremental.RAW_LEADS, incremental.RAW_TRIGGERS)
            for loads in (None, f"{table.split('.')[0]}._dlt_loads")
        ),
    ]
    for model in MODELS:
        if model.kind == "view":
            statements.append(
                (f"{model.table} view", create_sql(model.table, model.query, "bigquery", "view"))
            )
            continue
        leads = incremental.leads_table(model, incremental.redone_by_number(MODELS))
        delete = incremental.delete_changed(model.table, leads)
        insert = incremental.insert_changed(model, lead_keyed, leads)
        statements.append((f"{model.table} delete", to_dialect(delete, "bigquery")))
        statements.append((f"{model.table} insert", to_dialect(insert, "bigquery")))
    return statements


@pytest.mark.parametrize(("what", "bigquery"), _incremental_statements(), ids=lambda x: x)
def test_models_incremental_statements_are_bigquery_sql(what: str, bigquery: str) -> None:
    parsed = sqlglot.parse(bigquery, read="bigquery")

    assert len(parsed) == 1 and parsed[0] is not None
    assert bigquery_problems(bigquery) == []
    if what.endswith(" view"):
        assert bigquery.startswith(f"CREATE OR REPLACE VIEW {what.removesuffix(' view')} AS")
    if what.endswith("changed leads"):
        assert "UNION DISTINCT" in bigquery


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.table)
def test_models_bigquery_tables_with_a_lead_id_are_clustered_by_it(model: Model) -> None:
    table = " ".join(create_sql(model.table, model.query, "bigquery", model.kind).split())
    on_duckdb = create_sql(model.table, model.query, "duckdb", model.kind)

    clustered = f"CREATE OR REPLACE TABLE {model.table} CLUSTER BY lead_id AS"
    assert table.startswith(clustered) == (model.kind == "table")
    assert "CLUSTER BY" not in on_duckdb.upper()
    assert "CLUSTER BY" not in create_sql(
        "staging.t", sqlglot.parse_one("select 1 as id"), "bigquery"
    )


@pytest.mark.parametrize("changed_only", [False, True], ids=["full", "incremental"])
@pytest.mark.parametrize(
    "model", [m for m in MODELS if m.kind == "table"], ids=lambda model: model.table
)
def test_models_grain_checks_are_bigquery_sql(model: Model, changed_only: bool) -> None:
    bigquery = to_dialect(contracts.grain_select(model, changed_only=changed_only), "bigquery")

    parsed = sqlglot.parse(bigquery, read="bigquery")

    assert len(parsed) == 1 and parsed[0] is not None
    assert bigquery_problems(bigquery) == []


# --- on the local-bigquery emulator --------------------------------------------------------

_DLT_TYPES = {
    "bigint": "bigint",
    "integer": "bigint",
    "double": "double",
    "varchar": "text",
    "timestamp": "timestamp",
}
_KEYS = {"infinity.triggers": "row_id", "footprints.leads": "id"}


@pytest.fixture
def local_bigquery(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBigQuery]:
    if not available():
        pytest.fail(MISSING, pytrace=False)
    with LocalBigQuery() as emulator:
        for key, value in {**emulator.client_env(), "RUNTIME__DLTHUB_TELEMETRY": "false"}.items():
            monkeypatch.setenv(key, value)
        yield emulator


def _load(emulator: LocalBigQuery, work: Path, triggers: list[dict], leads: list[dict]) -> None:
    """The raw rows, merged on their keys by dlt as the sources load them."""
    for table, rows in (("infinity.triggers", triggers), ("footprints.leads", leads)):
        if not rows:
            continue
        schema, name = table.split(".")
        pipeline = dlt.pipeline(
            pipeline_name=f"raw_{schema}",
            destination=emulator.destination(),
            dataset_name=schema,
            pipelines_dir=str(work / "dlt"),
        )
        columns: dict[str, Any] = {
            column: {"data_type": _DLT_TYPES[sql_type], "nullable": True}
            for column, sql_type in RAW_COLUMNS[table].items()
        }
        pipeline.run(
            [{column: row.get(column) for column in columns} for row in rows],
            table_name=name,
            write_disposition="merge",
            primary_key=_KEYS[table],
            columns=columns,
        )


@pytest.mark.bigquery
@pytest.mark.filterwarnings("ignore:Cannot create BigQuery Storage client:UserWarning")
@pytest.mark.parametrize("breach", BREACHES, ids=lambda breach: breach.name)
def test_models_bigquery_grain_breach_fails_the_build_and_the_next_is_full(
    local_bigquery: LocalBigQuery,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    breach: Breach,
) -> None:
    monkeypatch.setattr(incremental, "FULL_ABOVE", 1.0)  # a few leads change of a few
    sql_dir = broken_models(tmp_path, breach.models)
    destination = local_bigquery.destination()

    def build() -> Any:
        return build_models(destination, config=SETTINGS, sql_dir=sql_dir)

    _load(local_bigquery, tmp_path, FIRST_TRIGGERS, FIRST_LEADS)
    assert build().mode == "full"
    _load(local_bigquery, tmp_path, breach.triggers, breach.leads)

    with pytest.raises(ContractBreached) as breached:
        build()

    assert str(breached.value) == breach.message.format(sql=sql_dir)
    assert breached.value.report.mode == "incremental"
    # No DDL transactions: the tables were replaced, but the state was removed first and
    # not written again, so the next build cannot go on from the bad tables.
    with dlt.dataset(destination, "staging").sql_client as client:
        tables = client.execute_sql("select table_name from staging.INFORMATION_SCHEMA.TABLES")
    assert incremental.STATE_TABLE.split(".")[1] not in {row[0] for row in tables}
    with pytest.raises(ContractBreached) as again:
        build()
    assert (again.value.report.mode, again.value.report.reason) == (
        "full",
        "no earlier build to update",
    )


def _records(destination: Any, sql: str) -> list[dict[str, Any]]:
    """Rows as dicts, BigQuery's UTC timestamps as the naive UTC times DuckDB returns."""
    with warehouse.connect(destination) as db:
        rows = db.records(sql)
    return [
        {k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in row.items()}
        for row in rows
    ]


@pytest.mark.bigquery
@pytest.mark.filterwarnings("ignore:Cannot create BigQuery Storage client:UserWarning")
def test_models_bigquery_match_quality_models_as_on_duckdb(
    local_bigquery: LocalBigQuery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "FULL_ABOVE", 1.0)  # a few leads change of a few
    destination = local_bigquery.destination()
    funnel = "select * from analytics.daily_funnel order by day"
    _load(local_bigquery, tmp_path, FUNNEL_TRIGGERS, FUNNEL_LEADS)
    first = build_models(destination, config=SETTINGS)
    before_push = _records(destination, funnel)
    with warehouse.connect(destination) as db:
        Ledger(db).record(FUNNEL_LEDGER)
    after_push = _records(destination, funnel)
    # then the diagnostics cases, and a call from f2's number long before it
    _load(
        local_bigquery,
        tmp_path,
        [
            *(row for case in DIAGNOSTICS_CASES for row in case.triggers),
            call(4101, T - 40 * DAY, Z),
        ],
        [row for case in DIAGNOSTICS_CASES for row in case.leads],
    )
    second = build_models(destination, config=SETTINGS)

    assert (first.mode, second.mode) == ("full", "incremental")
    assert before_push == FUNNEL_BEFORE_PUSH
    assert after_push == FUNNEL_AFTER_PUSH
    found = _records(
        destination, "select * exclude (created_at) from analytics.lead_match_diagnostics"
    )
    expected = {
        lead_id: row for case in DIAGNOSTICS_CASES for lead_id, row in case.expected.items()
    }
    expected["f2"] = diagnosed(
        "calls_only_before_window", "e164", Z, 2, 0, T - 40 * DAY, T + 12 * HOUR - SECOND
    )
    by_lead = {row.pop("lead_id"): row for row in found}
    assert {lead_id: by_lead[lead_id] for lead_id in expected} == expected
