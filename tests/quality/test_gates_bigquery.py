"""The gates on BigQuery: every measure's SQL written for BigQuery uses nothing BigQuery lacks,
and (marked `bigquery`, run by `make test-bigquery`) the same business judged on the
local-bigquery emulator and on DuckDB gives the same gate report, breaches and all."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest
import sqlglot
from helpers.model_cases import RAW_COLUMNS, SETTINGS
from helpers.quality_cases import NOW, ORDINARY_ROWS, Business, write_raw_tables

from emulators.bigquery import MISSING, LocalBigQuery, available
from pipelines.models.build import build_models
from pipelines.models.settings import ModelSettings
from pipelines.push import TARGETS
from pipelines.quality import measures
from pipelines.quality.gates import GateReport, RunFacts, check
from pipelines.quality.settings import QualitySettings
from pipelines.runtime import warehouse
from pipelines.runtime.transpile import bigquery_problems, transpile

MEASURES = {
    "latest trigger": measures.latest_sql("infinity.triggers", "trigger_datetime", NOW),
    "latest lead": measures.latest_sql("footprints.leads", "created_at", NOW),
    "volume": measures.volume_sql(NOW),
    "match rates": measures.match_rates_sql(NOW),
    "skipped": measures.skipped_sql("outbound.qubit_events", NOW),
}


@pytest.mark.parametrize("sql", MEASURES.values(), ids=MEASURES.keys())
def test_gates_measures_are_bigquery_sql(sql: str) -> None:
    bigquery = transpile(sql, "bigquery")

    assert len(sqlglot.parse(bigquery, read="bigquery")) == 1
    assert bigquery_problems(bigquery) == []
    assert "CAST('" in bigquery and "AS TIMESTAMP)" in bigquery  # now, as a literal


# --- on the local-bigquery emulator --------------------------------------------------------

_DLT_TYPES = {
    "bigint": "bigint",
    "integer": "bigint",
    "double": "double",
    "varchar": "text",
    "timestamp": "timestamp",
}
_KEYS = {"infinity.triggers": "row_id", "footprints.leads": "id"}
WORLDS = {
    "an ordinary day": (Business(NOW), SETTINGS),
    # freshness, volume, both match rates and Qubit's skipped share, at once
    "Infinity silent for 30 h, no currency": (
        Business(NOW, triggers_stopped=timedelta(hours=30)),
        replace(SETTINGS, currency=None),
    ),
}


@pytest.fixture
def local_bigquery(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBigQuery]:
    if not available():
        pytest.fail(MISSING, pytrace=False)
    with LocalBigQuery() as emulator:
        for key, value in {**emulator.client_env(), "RUNTIME__DLTHUB_TELEMETRY": "false"}.items():
            monkeypatch.setenv(key, value)
        yield emulator


def _load_bigquery(emulator: LocalBigQuery, work: Path, rows: dict[str, list[dict]]) -> None:
    """The raw rows, loaded by dlt as the sources load them."""
    for table, values in rows.items():
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
            [{column: row.get(column) for column in columns} for row in values],
            table_name=name,
            write_disposition="merge",
            primary_key=_KEYS[table],
            columns=columns,
        )


def _judge(destination: Any, models: ModelSettings) -> GateReport:
    build_models(destination, config=models)
    facts = RunFacts(("infinity", "footprints"), True, tuple(TARGETS), ORDINARY_ROWS)
    with warehouse.connect(destination) as db:
        return check(db, QualitySettings.from_config(), NOW, facts)


@pytest.mark.bigquery
@pytest.mark.filterwarnings("ignore:Cannot create BigQuery Storage client:UserWarning")
@pytest.mark.parametrize("world", WORLDS, ids=lambda world: world)
def test_gates_on_bigquery_judge_as_on_duckdb(
    local_bigquery: LocalBigQuery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, world: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUALITY__MIN_MATCH_RATE", "0.05")
    business, models = WORLDS[world]
    triggers, leads = business.rows()
    write_raw_tables(tmp_path / "warehouse.duckdb", triggers, leads)
    _load_bigquery(
        local_bigquery, tmp_path, {"infinity.triggers": triggers, "footprints.leads": leads}
    )

    on_duckdb = _judge(dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")), models)
    on_bigquery = _judge(local_bigquery.destination(), models)

    assert on_bigquery == on_duckdb
    if world == "an ordinary day":
        assert on_bigquery.breaches == [] and len(on_bigquery.passed) == 10
    else:
        assert {breach.gate for breach in on_bigquery.breaches} == {
            "freshness_triggers",
            "volume",
            "match_rate",
            "match_rate_drop",
            "skipped_share_qubit",
        }
