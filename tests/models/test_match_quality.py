"""The match-quality models on real DuckDB files: `analytics.lead_match_diagnostics` says for
every lead why it matched a call or not; `analytics.daily_funnel` (a view) counts each day's
calls, leads, conversions and sends, deliveries from the ledger included as soon as a push
records them. The cases are hand-computed (tests/helpers/match_quality_cases.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from helpers.match_quality_cases import (
    DIAGNOSTICS_CASES,
    FUNNEL_AFTER_PUSH,
    FUNNEL_BEFORE_PUSH,
    FUNNEL_LEADS,
    FUNNEL_LEDGER,
    FUNNEL_TRIGGERS,
    DiagnosticsCase,
)
from helpers.model_cases import SETTINGS, Raw

from pipelines.models import incremental
from pipelines.models.build import ModelsReport, build_models
from pipelines.push.ledger import Ledger
from pipelines.runtime import warehouse


def rows(path: Path, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def build(path: Path) -> ModelsReport:
    return build_models(dlt.destinations.duckdb(str(path)), config=SETTINGS)


def loaded(path: Path, triggers: list[dict], leads: list[dict]) -> Raw:
    raw = Raw(path)
    raw.load(triggers=triggers, leads=leads)
    return raw


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelsReport]:
    """Every diagnostics case in one warehouse, built once."""
    raw = loaded(
        tmp_path_factory.mktemp("diagnostics") / "w.duckdb",
        [row for case in DIAGNOSTICS_CASES for row in case.triggers],
        [row for case in DIAGNOSTICS_CASES for row in case.leads],
    )
    return raw.path, build(raw.path)


@pytest.mark.parametrize("case", DIAGNOSTICS_CASES, ids=lambda case: case.name)
def test_match_quality_diagnostics_per_lead(
    diagnosed: tuple[Path, ModelsReport], case: DiagnosticsCase
) -> None:
    path, _ = diagnosed
    ids = ", ".join(f"'{lead_id}'" for lead_id in case.expected)
    found = rows(
        path,
        f"select * from analytics.lead_match_diagnostics where lead_id in ({ids}) order by lead_id",
    )
    created = {row["id"]: row["created_at"] for row in case.leads}

    assert {row.pop("lead_id"): row for row in found} == {
        lead_id: {"created_at": created[lead_id], **expected}
        for lead_id, expected in case.expected.items()
    }


def test_match_quality_summary_counts_the_unmatched_by_outcome(
    diagnosed: tuple[Path, ModelsReport],
) -> None:
    _, report = diagnosed

    assert report.outcomes == {
        "matched": 5,
        "no_phone": 4,
        "calls_only_before_window": 3,
        "no_calls_from_number": 2,
        "calls_only_after_lead": 1,
    }
    assert (report.leads, report.matched_leads) == (15, 5)
    assert (
        "Leads matched to a call: 5 of 15 (33.3%). Conversions: 0, 0 with an attributed call. "
        "Unmatched leads: no_phone 4, calls_only_before_window 3, no_calls_from_number 2, "
        "calls_only_after_lead 1."
    ) in report.summary()


DOUBLES = ("match_rate", "conversion_value")


def funnel(path: Path) -> list[dict[str, Any]]:
    return rows(path, "select * from analytics.daily_funnel order by day")


def test_match_quality_funnel_counts_each_day_and_deliveries_once_pushed(tmp_path: Path) -> None:
    raw = loaded(tmp_path / "w.duckdb", FUNNEL_TRIGGERS, FUNNEL_LEADS)
    first = build(raw.path)
    before_push = funnel(raw.path)
    ledger_before_push = rows(raw.path, "select count(*) as n from outbound.deliveries")

    with warehouse.connect(dlt.destinations.duckdb(str(raw.path))) as db:
        Ledger(db).record(FUNNEL_LEDGER)
    after_push = funnel(raw.path)
    again = build(raw.path)

    assert first.mode == "full"
    assert ledger_before_push == [{"n": 0}]  # the build made the ledger, empty, for the view
    assert before_push == FUNNEL_BEFORE_PUSH
    # a view: the push's rows show at once, without a build
    assert after_push == FUNNEL_AFTER_PUSH
    # the ledger is read by the report only: a push does not make the next build full
    assert (again.mode, again.changed_leads) == ("incremental", 0)
    assert rows(raw.path, f"select input_table from {incremental.STATE_TABLE} order by 1") == [
        {"input_table": "footprints.leads"},
        {"input_table": "infinity.triggers"},
    ]
    assert funnel(raw.path) == FUNNEL_AFTER_PUSH


def test_match_quality_funnel_is_a_view_listed_in_the_build(tmp_path: Path) -> None:
    raw = loaded(tmp_path / "w.duckdb", FUNNEL_TRIGGERS, FUNNEL_LEADS)

    report = build(raw.path)

    kinds = rows(
        raw.path,
        "select table_name, table_type from information_schema.tables "
        "where table_schema = 'analytics' order by table_name",
    )
    assert kinds == [
        {"table_name": "call_lead_matches", "table_type": "BASE TABLE"},
        {"table_name": "conversions", "table_type": "BASE TABLE"},
        {"table_name": "daily_funnel", "table_type": "VIEW"},
        {"table_name": "lead_match_diagnostics", "table_type": "BASE TABLE"},
    ]
    types = {
        row["column_name"]: row["column_type"]
        for row in rows(raw.path, "describe analytics.daily_funnel")
    }
    # plain types for BI tools: a date, whole numbers, two doubles
    assert types == {
        name: "DATE" if name == "day" else "DOUBLE" if name in DOUBLES else "BIGINT"
        for name in FUNNEL_BEFORE_PUSH[0]
    }
    # built last, and not counted: that would compute it
    assert [(run.table, run.rows) for run in report.runs][-1] == ("analytics.daily_funnel", None)
    assert "analytics.daily_funnel" not in report.rows
    assert "analytics.daily_funnel (report, " in report.summary()
