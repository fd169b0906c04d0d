"""The report in a real browser: Debian's headless Chromium opens the file with the network off,
and every chart must be drawn (plotly's SVG with its traces), with no console error and no
request beyond the file itself. Each test saves its screenshot in its temp folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from helpers.browser import render_offline
from helpers.report_demo import Demo, report_cli

from pipelines.report.figures import ATTEMPTS, CONVERSIONS, DIAGNOSTICS, FUNNEL, RUNS

# Each chart (or, when its table is missing, the sentence in its place) and the table it reads.
PANELS = {
    "funnel": FUNNEL,
    "match-rate": FUNNEL,
    "diagnostics": DIAGNOSTICS,
    "channels": CONVERSIONS,
    "deliveries": ATTEMPTS,
    "skips": "outbound.qubit_events",
    "runs": RUNS,
}
PNG = b"\x89PNG\r\n\x1a\n"


def test_report_draws_every_chart_offline_in_chromium(
    full_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.html"
    result = report_cli(monkeypatch, full_demo, out, "--days", "60")

    shown = render_offline(out, tmp_path / "report.png")

    assert result.code == 0, result.output
    assert result.stdout.strip() == f"Report of the last 60 days written to {out}"
    assert shown.console_errors == []
    assert shown.requests == []  # nothing fetched: plotly.js and the styles are in the file
    assert shown.chart_error is None
    assert shown.absent == {}
    assert set(shown.charts) == set(PANELS)
    assert shown.drawn == str(len(PANELS))
    for name, chart in shown.charts.items():
        assert chart.svg >= 1, name
        assert chart.traces >= 1 and chart.points >= 1, name
    assert "No gate breached in the last 60 days." in shown.text
    assert shown.screenshot.read_bytes()[:8] == PNG
    assert shown.screenshot.stat().st_size > 20_000


def test_report_of_two_demo_runs_shows_both_runs(
    demo: Demo, full_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.html"
    assert report_cli(monkeypatch, full_demo, out).code == 0
    runs = [json.loads(line) for line in demo.runs_log.read_text().splitlines()]

    shown = render_offline(out, tmp_path / "report.png")

    assert len(runs) == 2
    assert shown.charts["runs"].points == 2
    for run in runs:
        started = datetime.fromisoformat(run["started_at"]).astimezone(UTC)
        assert f"{started:%Y-%m-%d %H:%M:%S}\tsync\tok" in shown.text


def test_report_the_demo_writes_says_in_words_which_tables_are_missing(
    demo: Demo, tmp_path: Path
) -> None:
    with duckdb.connect(str(demo.warehouse), read_only=True) as con:
        present = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }

    shown = render_offline(demo.report, tmp_path / "demo-report.png")

    assert demo.outputs[-1].strip().splitlines()[-1] == str(demo.report.resolve())
    assert shown.console_errors == [] and shown.requests == [] and shown.chart_error is None
    for panel, table in PANELS.items():
        if table in present:
            assert shown.charts[panel].svg >= 1 and shown.charts[panel].traces >= 1, panel
        else:
            assert panel not in shown.charts
            assert shown.absent[panel].startswith(f"{table} is not in the warehouse yet: ")
    assert shown.drawn == str(len(shown.charts))
