"""What the data-quality gates measure, read from the warehouse.

Each measure is one query in DuckDB's dialect (`*_sql`, for the tests to translate too), run
through the warehouse adapter, so it runs on BigQuery as well (`Warehouse.query` translates).
"Now" is passed in and written into the SQL as a literal, never read from the warehouse's
clock: the gates judge the data against the run's own time, and tests can place it.

Calls are Infinity triggers whose action is `call` or `callBlegStart`, as the match model
counts them (sql/intermediate/int_calls_matched_to_leads.sql); a lead is matched when it has
a row in `intermediate.int_calls_matched_to_leads`, as the models' summary counts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipelines.models.tables import RAW_TRIGGERS
from pipelines.runtime.warehouse import Warehouse

LEADS = "staging.stg_footprints__leads"
MATCHES = "intermediate.int_calls_matched_to_leads"
CONVERSIONS = "analytics.conversions"
CALL_ACTIONS = ("call", "callBlegStart")
BASELINE_DAYS = 14
RECENT = timedelta(hours=24)


def literal(moment: datetime) -> str:
    """A UTC moment as a DuckDB timestamp literal (the warehouse keeps naive UTC)."""
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return f"timestamp '{naive.isoformat(sep=' ')}'"


def as_utc(value: Any) -> datetime | None:
    """A timestamp the warehouse returned (naive UTC on DuckDB, aware on BigQuery)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def latest_sql(table: str, column: str, now: datetime) -> str:
    # Up to now only: one row dated in the future must not hide a gap.
    return f"select max({column}) from {table} where {column} <= {literal(now)}"


def latest(db: Warehouse, table: str, column: str, now: datetime) -> datetime | None:
    """The newest `column` of `table` up to `now`."""
    ((found,),) = db.query(latest_sql(table, column, now))
    return as_utc(found)


@dataclass(frozen=True)
class Volume:
    """Calls since 00:00 UTC up to now, and in the same hours of each of the days before."""

    today: int
    earlier: tuple[int, ...]  # one day back first


def volume_sql(now: datetime) -> str:
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spans = [
        (midnight - timedelta(days=back), now - timedelta(days=back))
        for back in range(BASELINE_DAYS + 1)
    ]
    counts = ",\n".join(
        f"sum(case when trigger_datetime >= {literal(start)} and trigger_datetime < "
        f"{literal(end)} then 1 else 0 end) as day_{back}"
        for back, (start, end) in enumerate(spans)
    )
    actions = ", ".join(f"'{action}'" for action in CALL_ACTIONS)
    return (
        f"select {counts} from {RAW_TRIGGERS} where act in ({actions}) "
        f"and trigger_datetime >= {literal(spans[-1][0])} and trigger_datetime < {literal(now)}"
    )


def call_volume(db: Warehouse, now: datetime) -> Volume:
    """Today's calls so far and the same span on each of the `BASELINE_DAYS` days before."""
    (found,) = db.query(volume_sql(now))
    today, *earlier = (int(count or 0) for count in found)
    return Volume(today, tuple(earlier))


@dataclass(frozen=True)
class MatchRates:
    """Leads created in the last 24 h and in the 14 days before, and how many matched a call."""

    recent_leads: int
    recent_matched: int
    baseline_leads: int
    baseline_matched: int

    @property
    def recent(self) -> float:
        return self.recent_matched / self.recent_leads if self.recent_leads else 0.0

    @property
    def baseline(self) -> float:
        return self.baseline_matched / self.baseline_leads if self.baseline_leads else 0.0


def match_rates_sql(now: datetime) -> str:
    recent, start = literal(now - RECENT), literal(now - RECENT - timedelta(days=BASELINE_DAYS))
    return f"""
        with matched as (
            select distinct lead_id from {MATCHES}
        )
        select
            sum(case when leads.created_at > {recent} then 1 else 0 end),
            sum(case when leads.created_at > {recent} and matched.lead_id is not null
                then 1 else 0 end),
            sum(case when leads.created_at <= {recent} then 1 else 0 end),
            sum(case when leads.created_at <= {recent} and matched.lead_id is not null
                then 1 else 0 end)
        from {LEADS} as leads
        left join matched
            on matched.lead_id = leads.lead_id
        where leads.created_at > {start} and leads.created_at <= {literal(now)}
    """


def match_rates(db: Warehouse, now: datetime) -> MatchRates:
    (found,) = db.query(match_rates_sql(now))
    recent_leads, recent_matched, baseline_leads, baseline_matched = (int(n or 0) for n in found)
    return MatchRates(recent_leads, recent_matched, baseline_leads, baseline_matched)


@dataclass(frozen=True)
class Skipped:
    """A target's outbound rows of the last 14 days: skip reason (None: sendable) -> rows."""

    reasons: dict[str | None, int]

    @property
    def rows(self) -> int:
        return sum(self.reasons.values())

    @property
    def skipped(self) -> int:
        return self.rows - self.reasons.get(None, 0)

    @property
    def share(self) -> float:
        return self.skipped / self.rows if self.rows else 0.0

    @property
    def top_reason(self) -> tuple[str, int] | None:
        """The most frequent skip reason and its rows (ties: the first by name)."""
        skips = sorted((-n, reason) for reason, n in self.reasons.items() if reason is not None)
        return (skips[0][1], -skips[0][0]) if skips else None


def skipped_sql(table: str, now: datetime) -> str:
    # By conversion time, or the lead's creation when it has none: rows skipped for
    # `no_conversion_time` count too.
    day = "coalesce(outbound.converted_at, conversions.lead_created_at)"
    start = literal(now - timedelta(days=BASELINE_DAYS))
    return f"""
        select outbound.skip_reason, count(*)
        from {table} as outbound
        left join {CONVERSIONS} as conversions
            on conversions.lead_id = outbound.lead_id
        where {day} > {start} and {day} <= {literal(now)}
        group by outbound.skip_reason
    """


def skipped_rows(db: Warehouse, table: str, now: datetime) -> Skipped:
    """The rows of the outbound `table` of the last 14 days, by skip reason."""
    return Skipped({reason: int(count) for reason, count in db.query(skipped_sql(table, now))})
