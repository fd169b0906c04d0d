"""The report's figures, read from the warehouse (DuckDB or BigQuery) through its one SQL adapter.

Every panel is bounded to a window of whole UTC days ending today by the clock (`Window`), not
the warehouse's latest day: a report is read to see what happened lately, and a sync that
stopped a week ago must show as a week of empty days, not as a normal-looking chart that
ends early. A panel whose table is not in the warehouse (no push ran yet, no run recorded)
carries a sentence saying so instead of rows; one whose table has no rows in the window says
which day its latest row is from. Only aggregates leave the warehouse: no phone number, email
or lead id is read, so none can reach the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pipelines.push import TARGETS
from pipelines.runtime import settings, warehouse
from pipelines.runtime.warehouse import Warehouse

FUNNEL = "analytics.daily_funnel"
DIAGNOSTICS = "analytics.lead_match_diagnostics"
CONVERSIONS = "analytics.conversions"
ATTEMPTS = "outbound.delivery_attempts"
RUNS = "ops.runs"
# The raw tables: a warehouse with neither (or neither with a row) holds nothing to report.
RAW_TABLES = ("infinity.triggers", "footprints.leads")
OUTBOUND_TABLES = {target: kind.table for target, kind in TARGETS.items()}
SCHEMAS = ("infinity", "footprints", "analytics", "outbound", "ops")
# The most runs drawn: a sync every 15 minutes for 90 days; the page stays quick to open.
MAX_RUNS = 9_000
BUILT_BY_MODELS = "the models build {} (`python -m pipelines models`, or a `sync`)"


class NoData(Exception):
    """The warehouse holds nothing to report on; the message says what to run first."""


@dataclass(frozen=True)
class Window:
    """The report's days: `days` whole UTC days, the last of them today."""

    first_day: date
    last_day: date

    @classmethod
    def ending(cls, now: datetime, days: int) -> Window:
        today = now.astimezone(UTC).date()
        return cls(today - timedelta(days=days - 1), today)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def start(self) -> str:
        """The first instant of the window, as a DuckDB timestamp literal."""
        return f"timestamp '{datetime.combine(self.first_day, time())}'"

    @property
    def end(self) -> str:
        """The first instant after the window (exclusive), as a DuckDB timestamp literal."""
        return f"timestamp '{datetime.combine(self.last_day + timedelta(days=1), time())}'"

    def dated(self, column: str) -> str:
        """A condition keeping the rows whose timestamp `column` is in the window."""
        return f"{column} >= {self.start} and {column} < {self.end}"


@dataclass(frozen=True)
class Panel:
    """One panel's rows, or, when there is nothing to draw, why (`absent`, one sentence)."""

    rows: list[dict[str, Any]]
    absent: str | None = None


@dataclass(frozen=True)
class Figures:
    """Everything the page shows."""

    source: str  # which warehouse, in words
    window: Window
    generated_at: datetime
    funnel: Panel  # one row per day
    diagnostics: Panel  # leads per day and match outcome
    channels: Panel  # conversions and value per channel of the attributed call
    deliveries: Panel  # delivery attempts per day, target and outcome
    skips: Panel  # outbound rows per target and skip reason ("(sendable)" for none)
    runs: Panel  # one row per run, newest first


@contextmanager
def configured_warehouse() -> Iterator[tuple[Warehouse, str]]:
    """The configured warehouse for reading, and its name in words.

    DuckDB is opened read-only, so a report can be made while an analyst has the file open;
    a sync holding it raises `SyncError` naming the holder.
    """
    if warehouse.kind() == "bigquery":
        with warehouse.connect() as db:
            yield db, "BigQuery"
        return
    path = warehouse.duckdb_path()
    if not path.exists():
        key = warehouse.CREDENTIALS_KEY
        raise NoData(
            f"No warehouse at {path} yet: run `python -m pipelines sync` first, or point "
            f"{key} [{settings.env_name(key)}] at your warehouse file."
        )
    with warehouse.read_only_duckdb() as db:
        yield db, str(path)


def read(db: Warehouse, source: str, window: Window, now: datetime) -> Figures:
    """Every panel's figures for `window`; `NoData` when the warehouse holds no calls or leads."""
    present = set(db.relations(SCHEMAS))
    raw = [table for table in RAW_TABLES if table in present]
    if not raw or not any(db.count(table) for table in raw):
        raise NoData(
            f"The warehouse {source} holds no calls or leads yet: run `python -m pipelines "
            "sync` first, then the report."
        )
    return Figures(
        source=source,
        window=window,
        generated_at=now,
        funnel=_funnel(db, window, present),
        diagnostics=_diagnostics(db, window, present),
        channels=_channels(db, window, present),
        deliveries=_deliveries(db, window, present),
        skips=_skips(db, window, present),
        runs=_runs(db, window, present),
    )


def _funnel(db: Warehouse, window: Window, present: set[str]) -> Panel:
    if FUNNEL not in present:
        return _missing(FUNNEL, BUILT_BY_MODELS.format("it"))
    names = [
        "day",
        "calls",
        "callers",
        "leads",
        "leads_matched",
        "match_rate",
        "conversions",
        "conversion_value",
        *(f"{target}_delivered" for target in OUTBOUND_TABLES),
    ]
    rows = _rows(
        db,
        f"select {', '.join(names)} from {FUNNEL} "
        f"where day between date '{window.first_day}' and date '{window.last_day}' order by day",
        names,
    )
    return _panel(db, rows, window, FUNNEL, "day")


def _diagnostics(db: Warehouse, window: Window, present: set[str]) -> Panel:
    if DIAGNOSTICS not in present:
        return _missing(DIAGNOSTICS, BUILT_BY_MODELS.format("it"))
    rows = _rows(
        db,
        f"select cast(created_at as date) as day, match_outcome, count(*) as leads "
        f"from {DIAGNOSTICS} where {window.dated('created_at')} group by 1, 2 order by 1, 2",
        ["day", "match_outcome", "leads"],
    )
    return _panel(db, rows, window, DIAGNOSTICS, "created_at")


def _channels(db: Warehouse, window: Window, present: set[str]) -> Panel:
    if CONVERSIONS not in present:
        return _missing(CONVERSIONS, BUILT_BY_MODELS.format("it"))
    rows = _rows(
        db,
        "select case when attributed_call_id is null then '(no attributed call)' "
        "else coalesce(channel_name, '(call without a channel)') end as channel, "
        "count(*) as conversions, sum(value) as value, max(currency) as currency "
        f"from {CONVERSIONS} where {window.dated('converted_at')} "
        "group by 1 order by 2 desc, 1",
        ["channel", "conversions", "value", "currency"],
    )
    return _panel(db, rows, window, CONVERSIONS, "converted_at")


def _deliveries(db: Warehouse, window: Window, present: set[str]) -> Panel:
    if ATTEMPTS not in present:
        return _missing(ATTEMPTS, "the push writes it (`python -m pipelines push`, or a `sync`)")
    rows = _rows(
        db,
        f"select cast(attempted_at as date) as day, target, outcome, count(*) as attempts "
        f"from {ATTEMPTS} where {window.dated('attempted_at')} "
        "group by 1, 2, 3 order by 1, 2, 3",
        ["day", "target", "outcome", "attempts"],
    )
    return _panel(db, rows, window, ATTEMPTS, "attempted_at")


def _skips(db: Warehouse, window: Window, present: set[str]) -> Panel:
    tables = {target: table for target, table in OUTBOUND_TABLES.items() if table in present}
    if not tables:
        return Panel(
            [],
            f"No outbound rows yet: {', '.join(OUTBOUND_TABLES.values())} are not in the "
            f"warehouse; {BUILT_BY_MODELS.format('them')}.",
        )
    # A row without a conversion time has no day to fall in, and leaving it out would hide
    # exactly the rows skipped as `no_conversion_time`: they are counted in every window.
    selects = [
        f"select '{target}' as target, coalesce(skip_reason, '(sendable)') as reason, "
        f"count(*) as rows from {table} "
        f"where converted_at is null or ({window.dated('converted_at')}) group by 1, 2"
        for target, table in tables.items()
    ]
    rows = _rows(
        db, " union all ".join(selects) + " order by 1, 3 desc, 2", ["target", "reason", "rows"]
    )
    if rows:
        return Panel(rows)
    return Panel([], f"No conversion in the last {window.days} days to send or skip.")


def _runs(db: Warehouse, window: Window, present: set[str]) -> Panel:
    if RUNS not in present:
        return _missing(RUNS, "every `sync`, `extract`, `models` and `push` adds its run to it")
    names = [
        "run_id",
        "command",
        "started_at",
        "seconds",
        "status",
        "error_kind",
        "rows",
        "rejected",
        "model_mode",
        "push",
        "breaches",
        "error",
    ]
    rows = _rows(
        db,
        f"select {', '.join(names)} from {RUNS} where {window.dated('started_at')} "
        f"order by started_at desc, run_id limit {MAX_RUNS}",
        names,
    )
    for row in rows:
        for column in ("rows", "push", "breaches"):
            row[column] = _json(row[column])
    return _panel(db, rows, window, RUNS, "started_at")


def _missing(table: str, remedy: str) -> Panel:
    return Panel([], f"{table} is not in the warehouse yet: {remedy}.")


def _panel(
    db: Warehouse, rows: list[dict[str, Any]], window: Window, table: str, dated_by: str
) -> Panel:
    """`rows`, or when there are none, a sentence naming the day of the table's latest row."""
    if rows:
        return Panel(rows)
    ((latest,),) = db.query(f"select max({dated_by}) from {table}")
    since = f"No rows in {table} in the last {window.days} days (since {window.first_day})"
    if latest is None:
        return Panel([], f"{since}: the table is empty.")
    return Panel([], f"{since}: its latest is from {_day(_plain(latest))}.")


def _rows(db: Warehouse, sql: str, names: list[str]) -> list[dict[str, Any]]:
    """The rows of `sql` as dicts, values in plain Python types (the same on both warehouses)."""
    return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in db.query(sql)]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        # DuckDB's TIMESTAMP comes back naive (it is UTC); BigQuery's aware.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _day(value: Any) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _json(text: Any) -> Any:
    """A JSON column (text on both warehouses) as Python; unreadable text as None."""
    if text is None or not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None
