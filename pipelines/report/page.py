"""The report's page: the figures drawn as plotly charts, written as one self-contained HTML file.

plotly.js (its minified bundle, shipped inside the plotly wheel) and the styles are inlined,
so the file opens offline and from anywhere: mailed, on a share, on a laptop without network.
Each chart's figure sits in a `<script type="application/json">` beside its `<div>`, and one
script draws them all; when every chart is drawn it marks `<body data-charts-drawn="n">`, and a
chart that fails marks `data-chart-error`, so a browser test can wait for a fact, not a time.
Every text from the warehouse is HTML-escaped, and `<` is escaped inside the JSON, so a
channel named `</script>` stays text.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from pipelines.report.figures import OUTBOUND_TABLES, Figures, Panel, Window

TARGETS = tuple(OUTBOUND_TABLES)
COLORS = {
    "calls": "#4c78a8",
    "callers": "#9ecae9",
    "leads": "#f58518",
    "leads_matched": "#e45756",
    "conversions": "#54a24b",
    "match_rate": "#4c78a8",
}
OUTCOME_COLORS = {
    "matched": "#54a24b",
    "no_phone": "#bab0ac",
    "no_calls_from_number": "#f58518",
    "calls_only_after_lead": "#b279a2",
    "calls_only_before_window": "#9d755d",
    "sent": "#54a24b",
    "failed": "#e45756",
    "skipped": "#bab0ac",
    "sending": "#f58518",
}
STATUS_COLORS = {"ok": "#54a24b", "gate_failed": "#f58518", "failed": "#e45756", "busy": "#bab0ac"}
SENDABLE = "(sendable)"
LAST_RUNS = 20  # rows in the table of runs; the chart shows every run in the window
ERROR_CHARS = 300
CHART_HEIGHT = 420  # px, unless a chart sets its own
# A bar on a date axis is as wide as the closest two bars are apart, so a day alone would be
# a hairline: every day's bar is 80% of a day wide (in ms, plotly's unit on date axes).
DAY_BAR_WIDTH = 0.8 * 86_400_000
CONFIG = {"displaylogo": False, "responsive": True}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1rem 2rem;
       color: #222; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .3rem; border-bottom: 1px solid #ddd; }
.meta, .caption { color: #555; font-size: .9rem; margin: .2rem 0 .6rem; }
.headline { display: flex; flex-wrap: wrap; gap: .6rem; margin: 1rem 0; }
.headline div { background: #f4f6f8; border-radius: 6px; padding: .5rem .9rem; min-width: 8rem; }
.headline b { display: block; font-size: 1.3rem; }
.absent { background: #fff8e5; border-left: 4px solid #f0b400; padding: .6rem .9rem; }
table { border-collapse: collapse; font-size: .85rem; width: 100%; }
th, td { border-bottom: 1px solid #eee; padding: .25rem .4rem; text-align: left;
         vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
"""
# Draws every chart from its JSON; marks the body when all are drawn, or when one failed.
DRAW = """
const charts = Array.from(document.querySelectorAll('.chart'));
Promise.all(charts.map(div => {
  const figure = JSON.parse(document.getElementById('figure-' + div.id).textContent);
  return Plotly.newPlot(div, figure.data, figure.layout, %s);
})).then(() => { document.body.dataset.chartsDrawn = String(charts.length); })
  .catch(error => { document.body.dataset.chartError = String(error); console.error(error); });
"""


def render(figures: Figures) -> str:
    """The whole page as HTML text."""
    window = figures.window
    sections = [
        _section(
            "Calls, leads and conversions per day",
            "Calls and distinct callers (top); leads, leads matched to a call, and "
            "conversions (bottom), by UTC day.",
            _chart("funnel", figures.funnel, lambda rows: _funnel(rows, window)),
        ),
        _section(
            "Match rate over time",
            "Share of each day's leads matched to a call from the same number in the "
            "attribution window; below, every lead by why it did or did not match.",
            _chart("match-rate", figures.funnel, lambda rows: _match_rate(rows, window))
            + _chart("diagnostics", figures.diagnostics, lambda rows: _outcomes(rows, window))
            + _outcome_totals(figures.diagnostics),
        ),
        _section(
            "Conversions and value by channel of the attributed call",
            "Conversions by the day they converted, grouped by the marketing channel of the "
            "call they were attributed to.",
            _chart("channels", figures.channels, _channels),
        ),
        _section(
            "Deliveries per target per day",
            "Every delivery attempt, by the UTC day it was made and its outcome.",
            _chart("deliveries", figures.deliveries, lambda rows: _deliveries(rows, window)),
        ),
        _section(
            "Skip reasons",
            "Outbound rows per target: sendable, or the reason they cannot be sent (by "
            "conversion day; rows without a conversion time are always counted).",
            _chart("skips", figures.skips, _skips),
        ),
        _section(
            "Runs",
            "Every run in the window: rows loaded, coloured by how it ended (a cross: a gate "
            f"breached); the table lists the last {LAST_RUNS}.",
            _chart("runs", figures.runs, lambda rows: _runs(rows, window))
            + _runs_table(figures.runs)
            + "<h2>Gate breaches</h2>"
            + _breaches_table(figures.runs, window),
        ),
    ]
    made = figures.generated_at.astimezone(UTC)
    head = (
        f"<h1>callsync: the last {window.days} days</h1>"
        f'<p class="meta">{window.first_day} to {window.last_day} (UTC days), from '
        f"{_text(figures.source)}; made {made:%Y-%m-%d %H:%M} UTC.</p>" + _headline(figures.funnel)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>callsync report {window.first_day} to {window.last_day}</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head>"
        f"<body>{head}{''.join(sections)}<script>{DRAW % json.dumps(CONFIG)}</script>"
        "</body></html>\n"
    )


class NotWritten(Exception):
    """The report file could not be written (a folder that cannot be written, a full disk)."""


def write(figures: Figures, out: Path) -> Path:
    """Write the page to `out` in one step (a temporary file renamed over it), so a failed
    write leaves the previous report whole."""
    text = render(figures)
    partial = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, out)
    except OSError as error:
        with contextlib.suppress(OSError):  # the folder itself may be what failed
            partial.unlink(missing_ok=True)
        raise NotWritten(
            f"Could not write the report to {out}: {error.strerror or error}."
        ) from None
    return out


def _section(title: str, caption: str, body: str) -> str:
    return f'<h2>{_text(title)}</h2><p class="caption">{_text(caption)}</p>{body}'


def _chart(name: str, panel: Panel, draw: Callable[[list[dict[str, Any]]], go.Figure]) -> str:
    """A chart's `<div>` and its figure, or the sentence saying why there is none."""
    if panel.absent is not None:
        return f'<p class="absent" data-absent="{name}">{_text(panel.absent)}</p>'
    figure: go.Figure = draw(panel.rows)
    figure.update_layout(template="plotly_white", margin={"t": 40, "r": 20, "b": 40, "l": 60})
    data = pio.to_json(figure, validate=False).replace("<", "\\u003c")
    # The div's height is the figure's, or plotly draws over the next section.
    height = figure.layout.height or CHART_HEIGHT
    return (
        f'<div class="chart" id="{name}" style="height: {height}px"></div>'
        f'<script type="application/json" id="figure-{name}">{data}</script>'
    )


def _funnel(rows: list[dict[str, Any]], window: Window) -> go.Figure:
    days = [row["day"] for row in rows]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    figure.add_bar(
        x=days,
        y=_column(rows, "calls"),
        name="calls",
        marker_color=COLORS["calls"],
        width=DAY_BAR_WIDTH,
        row=1,
        col=1,
    )
    figure.add_scatter(
        x=days,
        y=_column(rows, "callers"),
        name="callers",
        line_color=COLORS["callers"],
        row=1,
        col=1,
    )
    for name in ("leads", "leads_matched", "conversions"):
        figure.add_scatter(
            x=days,
            y=_column(rows, name),
            name=name.replace("_", " "),
            mode="lines+markers",
            line_color=COLORS[name],
            row=2,
            col=1,
        )
    figure.update_xaxes(range=_day_range(window))
    return figure


def _match_rate(rows: list[dict[str, Any]], window: Window) -> go.Figure:
    rates = [None if r["match_rate"] is None else 100 * r["match_rate"] for r in rows]
    figure = go.Figure(
        go.Scatter(
            x=[row["day"] for row in rows],
            y=rates,
            name="match rate",
            mode="lines+markers",
            line_color=COLORS["match_rate"],
            customdata=[[r["leads_matched"], r["leads"]] for r in rows],
            hovertemplate="%{x}: %{y:.1f}% (%{customdata[0]} of %{customdata[1]} leads)"
            "<extra></extra>",
        )
    )
    figure.update_yaxes(title_text="leads matched, %", range=[0, 100])
    figure.update_xaxes(range=_day_range(window))
    figure.update_layout(height=300)
    return figure


def _outcomes(rows: list[dict[str, Any]], window: Window) -> go.Figure:
    figure = go.Figure()
    for outcome, series in _series(rows, "match_outcome", "leads").items():
        figure.add_bar(
            x=list(series),
            y=list(series.values()),
            name=outcome,
            marker_color=_color(outcome),
            width=DAY_BAR_WIDTH,
        )
    figure.update_layout(barmode="stack", yaxis_title="leads")
    figure.update_xaxes(range=_day_range(window))
    return figure


def _outcome_totals(panel: Panel) -> str:
    totals: dict[str, int] = defaultdict(int)
    for row in panel.rows:
        totals[row["match_outcome"]] += row["leads"]
    leads = sum(totals.values())
    if not leads:
        return ""
    rows = [
        [outcome, f"{n:,}", f"{100 * n / leads:.1f}%"]
        for outcome, n in sorted(totals.items(), key=lambda item: -item[1])
    ]
    return _table(["match outcome", "leads", "share"], rows, numeric={1, 2})


def _channels(rows: list[dict[str, Any]]) -> go.Figure:
    currency = next((row["currency"] for row in rows if row["currency"]), None)
    value_title = f"value ({currency})" if currency else "value"
    figure = make_subplots(
        rows=1, cols=2, shared_yaxes=True, subplot_titles=("conversions", value_title)
    )
    channels = [row["channel"] for row in rows]
    figure.add_bar(
        y=channels,
        x=_column(rows, "conversions"),
        orientation="h",
        name="conversions",
        marker_color=COLORS["conversions"],
        row=1,
        col=1,
    )
    figure.add_bar(
        y=channels,
        x=[row["value"] or 0 for row in rows],
        orientation="h",
        name=value_title,
        marker_color=COLORS["leads"],
        row=1,
        col=2,
    )
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(showlegend=False, height=max(300, 60 + 28 * len(rows)))
    return figure


def _deliveries(rows: list[dict[str, Any]], window: Window) -> go.Figure:
    targets = sorted({row["target"] for row in rows}, key=_target_order)
    figure = make_subplots(
        rows=len(targets), cols=1, shared_xaxes=True, subplot_titles=targets, vertical_spacing=0.1
    )
    shown: set[str] = set()
    for index, target in enumerate(targets, start=1):
        mine = [row for row in rows if row["target"] == target]
        for outcome, series in _series(mine, "outcome", "attempts").items():
            figure.add_bar(
                x=list(series),
                y=list(series.values()),
                name=outcome,
                legendgroup=outcome,
                showlegend=outcome not in shown,
                marker_color=_color(outcome),
                width=DAY_BAR_WIDTH,
                row=index,
                col=1,
            )
            shown.add(outcome)
    figure.update_layout(barmode="stack", height=max(300, 60 + 150 * len(targets)))
    figure.update_xaxes(range=_day_range(window))
    return figure


def _skips(rows: list[dict[str, Any]]) -> go.Figure:
    targets = sorted({row["target"] for row in rows}, key=_target_order)
    reasons = sorted({row["reason"] for row in rows}, key=lambda r: (r != SENDABLE, r))
    counts = {(row["target"], row["reason"]): row["rows"] for row in rows}
    figure = go.Figure()
    for reason in reasons:
        figure.add_bar(
            y=targets,
            x=[counts.get((target, reason), 0) for target in targets],
            name=reason,
            orientation="h",
            marker_color="#54a24b" if reason == SENDABLE else None,
        )
    figure.update_layout(barmode="stack", xaxis_title="outbound rows", height=320)
    figure.update_yaxes(autorange="reversed")
    return figure


def _runs(rows: list[dict[str, Any]], window: Window) -> go.Figure:
    figure = go.Figure()
    for status in sorted({row["status"] for row in rows}, key=lambda s: (s != "ok", s)):
        mine = [row for row in rows if row["status"] == status]
        figure.add_scatter(
            x=[_instant(row["started_at"]) for row in mine],
            y=[_loaded(row["rows"]) for row in mine],
            name=status,
            mode="markers",
            marker={
                "color": STATUS_COLORS.get(status, "#4c78a8"),
                "size": 10,
                "symbol": ["x" if row["breaches"] else "circle" for row in mine],
            },
            customdata=[[row["command"], row["seconds"], _sent(row["push"])] for row in mine],
            hovertemplate="%{x}<br>%{customdata[0]}: %{y:,} rows in %{customdata[1]:.1f} s, "
            "%{customdata[2]:,} sent<extra></extra>",
        )
    figure.update_layout(yaxis_title="rows loaded", height=320)
    figure.update_xaxes(range=_time_range(window))
    return figure


def _runs_table(panel: Panel) -> str:
    rows = [
        [
            _instant(row["started_at"]),
            row["command"],
            row["status"] + (f" ({row['error_kind']})" if row["error_kind"] else ""),
            f"{row['seconds'] or 0:.1f}",
            f"{_loaded(row['rows']):,}",
            f"{row['rejected'] or 0:,}",
            row["model_mode"] or "",
            f"{_sent(row['push']):,}",
            _clip(row["error"]),
        ]
        for row in panel.rows[:LAST_RUNS]
    ]
    if not rows:
        return ""
    columns = ["started (UTC)", "command", "status", "seconds", "rows", "rejected", "models"]
    return _table([*columns, "sent", "error"], rows, numeric={3, 4, 5, 7})


def _breaches_table(panel: Panel, window: Window) -> str:
    if panel.absent is not None:
        return f'<p class="absent" data-absent="breaches">{_text(panel.absent)}</p>'
    rows = [
        [
            _instant(run["started_at"]),
            run["command"],
            str(breach.get("gate", "")),
            str(breach.get("value", "")),
            str(breach.get("threshold", "")),
            str(breach.get("key", "")),
            _clip(breach.get("message")),
        ]
        for run in panel.rows
        for breach in run["breaches"] or []
        if isinstance(breach, dict)
    ]
    if not rows:
        return f'<p class="caption">No gate breached in the last {window.days} days.</p>'
    columns = ["run started (UTC)", "command", "gate", "value", "threshold", "setting"]
    return _table([*columns, "message"], rows, numeric={3, 4})


def _headline(panel: Panel) -> str:
    """The window's totals, from the daily funnel."""
    if panel.absent is not None:
        return ""
    rows = panel.rows
    leads, matched = sum(_column(rows, "leads")), sum(_column(rows, "leads_matched"))
    delivered = sum(sum(_column(rows, f"{target}_delivered")) for target in TARGETS)
    figures = {
        "calls": f"{sum(_column(rows, 'calls')):,}",
        "leads": f"{leads:,}",
        "matched to a call": f"{100 * matched / leads:.1f}%" if leads else "no leads",
        "conversions": f"{sum(_column(rows, 'conversions')):,}",
        "conversion value": f"{sum(r['conversion_value'] or 0 for r in rows):,.0f}",
        "deliveries sent": f"{delivered:,}",
    }
    cells = "".join(f"<div><b>{value}</b>{_text(name)}</div>" for name, value in figures.items())
    return f'<div class="headline">{cells}</div>'


def _table(columns: list[str], rows: Iterable[list[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_text(column)}</th>" for column in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_text(cell)}</td>' if i in numeric else f"<td>{_text(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _series(rows: list[dict[str, Any]], key: str, value: str) -> dict[str, dict[date, int]]:
    """`{key value: {day: value}}`, in the order the keys first appear."""
    series: dict[str, dict[date, int]] = {}
    for row in rows:
        series.setdefault(row[key], {})[row["day"]] = row[value]
    return series


def _column(rows: list[dict[str, Any]], name: str) -> list[int]:
    return [row[name] or 0 for row in rows]


def _loaded(rows: Any) -> int:
    """Rows a run loaded: rejected rows are not loaded (as the run's own summary counts)."""
    if not isinstance(rows, dict):
        return 0
    return sum(int(n) for table, n in rows.items() if not table.endswith("rejected"))


def _sent(push: Any) -> int:
    if not isinstance(push, dict):
        return 0
    return sum(int(counts.get("sent", 0)) for counts in push.values() if isinstance(counts, dict))


def _day_range(window: Window) -> list[str]:
    """The x range of a chart by day: the whole window, so empty days show as empty (a day's
    bar is centred on its midnight)."""
    return [f"{window.first_day - timedelta(days=1)} 12:00", f"{window.last_day} 12:00"]


def _time_range(window: Window) -> list[str]:
    """The x range of a chart of instants: the window's first midnight to its last."""
    return [f"{window.first_day} 00:00", f"{window.last_day + timedelta(days=1)} 00:00"]


def _instant(value: datetime) -> str:
    """A UTC time as plotly.js reads it (it ignores UTC offsets in strings)."""
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def _target_order(target: str) -> tuple[int, str]:
    return (TARGETS.index(target) if target in TARGETS else len(TARGETS), target)


def _color(name: str) -> str | None:
    return OUTCOME_COLORS.get(name)


def _clip(text: Any) -> str:
    if text is None:
        return ""
    text = str(text)
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def _text(value: Any) -> str:
    return html.escape(str(value))
