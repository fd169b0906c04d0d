"""`python -m pipelines report`: one self-contained HTML file with charts of the last days.

Calls, leads and conversions per day; the match rate and why leads did not match; conversions
and value by channel of the attributed call; deliveries per target per day and skip reasons;
the last runs and their gate breaches. `figures` reads them from the warehouse (DuckDB or
BigQuery), `page` draws them with plotly and writes the file, which needs no network to open.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pipelines.report import figures, page
from pipelines.report.figures import NoData, Window
from pipelines.report.page import NotWritten

__all__ = ["NoData", "NotWritten", "write_report"]


def write_report(days: int, out: Path, now: datetime | None = None) -> Path:
    """Write the report of the configured warehouse's last `days` UTC days (ending on the day
    of `now`, default the clock) to `out`; `NoData` when it holds no calls or leads,
    `NotWritten` when `out` cannot be written."""
    now = now or datetime.now(UTC)
    with figures.configured_warehouse() as (db, source):
        found = figures.read(db, source, Window.ending(now, days), now)
    return page.write(found, out)
