"""`python -m pipelines report` on real DuckDB files: what each chart holds against the warehouse,
the window of days, panels without data, errors, secrets, and SQL that BigQuery can run."""

from __future__ import annotations

import html
import inspect
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers.report_demo import Demo, report_cli

from emulators.footprints import FootprintsEmulator
from emulators.gameball import GameballEmulator
from emulators.infinity import InfinityEmulator
from pipelines.__main__ import main
from pipelines.report import figures, write_report
from pipelines.report.figures import Window
from pipelines.runtime import warehouse
from pipelines.runtime.transpile import bigquery_problems, transpile
from pipelines.runtime.warehouse import Warehouse

_FIGURE = re.compile(r'<script type="application/json" id="figure-([\w-]+)">(.*?)</script>', re.S)
_ABSENT = re.compile(r'<p class="absent" data-absent="([\w-]+)">(.*?)</p>', re.S)
DATED_CHARTS = ("funnel", "match-rate", "diagnostics", "deliveries", "runs")


def _charts(page: str) -> dict[str, dict[str, Any]]:
    """The figure each chart of the page draws, by chart."""
    return {name: json.loads(data) for name, data in _FIGURE.findall(page)}


def _absent(page: str) -> dict[str, str]:
    return {name: html.unescape(text) for name, text in _ABSENT.findall(page)}


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _naive(at: datetime) -> datetime:
    """A UTC time as DuckDB's TIMESTAMP holds it."""
    return at.astimezone(UTC).replace(tzinfo=None)


def _write(monkeypatch: pytest.MonkeyPatch, path: Path, out: Path, days: int, now: datetime) -> str:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(path))
    return write_report(days, out, now).read_text(encoding="utf-8")


def test_report_charts_hold_the_warehouse_figures(
    full_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    window = Window.ending(now, 60)
    page = _write(monkeypatch, full_demo, tmp_path / "report.html", 60, now)
    charts = _charts(page)
    since = f"timestamp '{window.first_day}'"

    expected_channels = _query(
        full_demo,
        "select case when attributed_call_id is null then '(no attributed call)' "
        "else coalesce(channel_name, '(call without a channel)') end, count(*), sum(value) "
        f"from analytics.conversions where converted_at >= {since} group by 1",
    )
    conversions, value = charts["channels"]["data"]
    drawn = zip(conversions["y"], conversions["x"], value["x"], strict=True)
    assert sorted((c, n, round(v, 2)) for c, n, v in drawn) == sorted(
        (c, n, round(v, 2)) for c, n, v in expected_channels
    )
    ((calls, leads, conversions_total),) = _query(
        full_demo,
        "select sum(calls), sum(leads), sum(conversions) from analytics.daily_funnel "
        f"where day >= date '{window.first_day}'",
    )
    assert calls > 0 and leads > 0 and conversions_total > 0
    assert f"<b>{calls:,}</b>calls" in page
    assert f"<b>{leads:,}</b>leads" in page
    assert f"<b>{conversions_total:,}</b>conversions" in page
    outcomes = dict(
        _query(
            full_demo,
            "select match_outcome, count(*) from analytics.lead_match_diagnostics "
            f"where created_at >= {since} group by 1",
        )
    )
    drawn_outcomes = {trace["name"]: sum(trace["y"]) for trace in charts["diagnostics"]["data"]}
    assert drawn_outcomes == outcomes
    skipped = dict(
        _query(
            full_demo,
            "select skip_reason, count(*) from outbound.owox_hits "
            "where skip_reason is not null group by 1",
        )
    )
    skip_chart = charts["skips"]["data"]
    owox = {t["name"]: t["x"][t["y"].index("owox")] for t in skip_chart if t["name"] in skipped}
    assert owox == skipped


def test_report_days_bounds_every_chart_to_the_last_days(
    full_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    week = Window.ending(now, 7)
    page_week = _write(monkeypatch, full_demo, tmp_path / "week.html", 7, now)
    page_all = _write(monkeypatch, full_demo, tmp_path / "all.html", 60, now)

    def earliest(page: str, chart: str) -> str:
        return min(str(x)[:10] for trace in _charts(page)[chart]["data"] for x in trace["x"])

    assert "<h1>callsync: the last 7 days</h1>" in page_week
    for chart in DATED_CHARTS:
        assert earliest(page_week, chart) >= str(week.first_day), chart
    # The demo's data spans 60 days, so the bound is what keeps the older days out.
    assert earliest(page_all, "funnel") < str(week.first_day)
    ((in_week,),) = _query(
        full_demo,
        "select count(*) from analytics.conversions "
        f"where converted_at >= timestamp '{week.first_day}'",
    )
    assert sum(_charts(page_week)["channels"]["data"][0]["x"]) == in_week


def test_report_with_no_rows_in_the_window_says_so_and_names_the_latest_day(
    full_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = datetime.now(UTC) + timedelta(days=200)
    first_day = Window.ending(later, 30).first_day
    page = _write(monkeypatch, full_demo, tmp_path / "report.html", 30, later)
    absent = _absent(page)

    for panel, table, column in (
        ("funnel", "analytics.daily_funnel", "day"),
        ("diagnostics", "analytics.lead_match_diagnostics", "created_at"),
        ("channels", "analytics.conversions", "converted_at"),
        ("deliveries", "outbound.delivery_attempts", "attempted_at"),
        ("runs", "ops.runs", "started_at"),
    ):
        ((latest,),) = _query(full_demo, f"select cast(max({column}) as date) from {table}")
        assert absent[panel] == (
            f"No rows in {table} in the last 30 days (since {first_day}): "
            f"its latest is from {latest}."
        )
    assert not set(DATED_CHARTS) & set(_charts(page))


def test_report_before_models_push_and_runs_says_per_panel_which_table_is_missing(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "extracted-only.duckdb"
    shutil.copyfile(demo.warehouse, path)
    with duckdb.connect(str(path)) as con:
        for schema in ("staging", "intermediate", "analytics", "outbound", "ops"):
            con.execute(f"drop schema if exists {schema} cascade")

    page = _write(monkeypatch, path, tmp_path / "report.html", 30, datetime.now(UTC))

    models = "the models build it (`python -m pipelines models`, or a `sync`)."
    assert _charts(page) == {}
    assert _absent(page) == {
        "funnel": f"analytics.daily_funnel is not in the warehouse yet: {models}",
        "match-rate": f"analytics.daily_funnel is not in the warehouse yet: {models}",
        "diagnostics": f"analytics.lead_match_diagnostics is not in the warehouse yet: {models}",
        "channels": f"analytics.conversions is not in the warehouse yet: {models}",
        "deliveries": "outbound.delivery_attempts is not in the warehouse yet: the push writes "
        "it (`python -m pipelines push`, or a `sync`).",
        "skips": "No outbound rows yet: outbound.qubit_events, outbound.owox_hits, "
        "outbound.gameball_events are not in the warehouse; the models build them (`python -m "
        "pipelines models`, or a `sync`).",
        "runs": "ops.runs is not in the warehouse yet: every `sync`, `extract`, `models` and "
        "`push` adds its run to it.",
        "breaches": "ops.runs is not in the warehouse yet: every `sync`, `extract`, `models` "
        "and `push` adds its run to it.",
    }


def test_report_of_a_missing_or_empty_warehouse_is_one_clear_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.html"
    missing = report_cli(monkeypatch, tmp_path / "nowhere.duckdb", out)
    empty_file = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty_file)).close()
    empty = report_cli(monkeypatch, empty_file, out)

    assert missing.code == 1 and missing.stdout == ""
    assert missing.stderr == (
        f"No warehouse at {tmp_path / 'nowhere.duckdb'} yet: run `python -m pipelines sync` "
        "first, or point destination.duckdb.credentials [DESTINATION__DUCKDB__CREDENTIALS] at "
        "your warehouse file.\n"
    )
    assert empty.code == 1
    assert empty.stderr == (
        f"The warehouse {empty_file} holds no calls or leads yet: run `python -m pipelines "
        "sync` first, then the report.\n"
    )
    assert not out.exists()


# A process holding the DuckDB file for writing, as a running sync does, until its stdin closes.
HOLD = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
    "sys.stdin.read()"
)


def test_report_while_a_sync_holds_the_warehouse_exits_3_naming_the_holder(
    full_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "held.duckdb"
    shutil.copyfile(full_demo, path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        result = report_cli(monkeypatch, path, tmp_path / "report.html")
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        try:
            holder.wait(timeout=30)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()

    assert result.code == 3
    assert result.stderr.startswith(f"The warehouse {path} is held by ")
    assert result.stderr.endswith(f"(PID {holder.pid}); try again later.\n")
    assert not (tmp_path / "report.html").exists()


def test_report_that_cannot_be_written_says_where_and_leaves_no_partial_file(
    full_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the report's folder should be")

    result = report_cli(monkeypatch, full_demo, blocker / "report.html")

    assert result.code == 1
    assert result.stderr.startswith(f"Could not write the report to {blocker / 'report.html'}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


@pytest.mark.parametrize("days", ["0", "-3", "two", "3661"])
def test_report_days_must_be_a_whole_number_of_days(
    days: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["report", "--days", days, "--out", str(tmp_path / "r.html")])

    assert stopped.value.code == 2
    assert f"--days: must be a whole number from 1 to 3660, got '{days}'" in capsys.readouterr().err


def test_report_shows_gate_breaches_and_failed_runs_as_text(
    full_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(full_demo, path)
    now = datetime.now(UTC)
    breach = {
        "gate": "min_match_rate",
        "value": 0.05,
        "threshold": 0.2,
        "key": "gates.min_match_rate",
        "message": "<script>alert('match')</script> 5% of leads matched, below 20%",
    }
    with duckdb.connect(str(path)) as con:
        rows = [
            ("gate", now - timedelta(hours=2), "gate_failed", None, json.dumps([breach]), None),
            ("fail", now - timedelta(hours=1), "failed", "failed", "[]", "Infinity <answered> 500"),
        ]
        for run_id, started, status, kind, breaches, error in rows:
            con.execute(
                "insert into ops.runs (run_id, command, started_at, finished_at, seconds, "
                "status, error_kind, rows, rejected, repaired, model_mode, push, breaches, "
                "notes, error) values (?, 'sync', ?, ?, 2.5, ?, ?, '{}', 0, 0, null, '{}', ?, "
                "'[]', ?)",
                [run_id, _naive(started), _naive(now), status, kind, breaches, error],
            )

    page = _write(monkeypatch, path, tmp_path / "report.html", 30, now)

    assert (
        '<td>min_match_rate</td><td class="n">0.05</td><td class="n">0.2</td>'
        "<td>gates.min_match_rate</td><td>&lt;script&gt;alert(&#x27;match&#x27;)&lt;/script&gt; "
        "5% of leads matched, below 20%</td>"
    ) in page
    assert "<script>alert(" not in page
    assert "<td>failed (failed)</td>" in page and "Infinity &lt;answered&gt; 500" in page
    runs = {trace["name"]: trace for trace in _charts(page)["runs"]["data"]}
    assert runs["gate_failed"]["marker"]["symbol"] == ["x"]
    assert len(runs["failed"]["x"]) == 1


def test_report_holds_no_secret_and_no_customer_detail(
    demo: Demo, full_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = _write(monkeypatch, full_demo, tmp_path / "report.html", 60, datetime.now(UTC))
    secrets = [
        inspect.signature(emulator).parameters[name].default
        for emulator, name in (
            (InfinityEmulator, "password"),
            (InfinityEmulator, "api_key"),
            (FootprintsEmulator, "client_key"),
            (FootprintsEmulator, "client_secret"),
            (GameballEmulator, "api_key"),
        )
    ]
    customers = _query(
        demo.warehouse,
        "select user_phone_e164, user_email from footprints.leads "
        "where user_phone_e164 is not null and nullif(user_email, '') is not null limit 50",
    )

    assert len(customers) == 50
    for text in (page, demo.report.read_text(encoding="utf-8")):
        for secret in secrets:
            assert secret not in text
        for phone, email in customers:
            assert phone not in text and email not in text


def test_report_queries_are_sql_bigquery_runs(
    full_demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every statement the report sends, read back as BigQuery SQL, uses only what BigQuery has
    (the local BigQuery emulator accepts more than BigQuery does: FINDINGS)."""
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(full_demo))
    sent: list[str] = []

    class Recorded(Warehouse):
        def query(self, duckdb_sql: str) -> list[tuple[Any, ...]]:
            sent.append(duckdb_sql)
            return super().query(duckdb_sql)

    with warehouse.read_only_duckdb() as db:
        now = datetime.now(UTC)
        figures.read(Recorded(db.client, db.dialect), "test", Window.ending(now, 30), now)
        later = now + timedelta(days=400)  # the queries for the latest day of an empty window
        figures.read(Recorded(db.client, db.dialect), "test", Window.ending(later, 30), later)

    assert len(sent) >= 12
    for sql in sent:
        assert bigquery_problems(transpile(sql, "bigquery")) == [], sql
