"""The data-quality gate tests' world: an ordinary business up to a moment, and the faults that
breach each gate, as raw rows in the model tests' shape (tests/quality)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from helpers.model_cases import RAW_COLUMNS, call, lead

# Mid-afternoon UTC of today: the volume gate has a baseline by then (see the early-day test).
NOW = datetime.now(UTC).replace(hour=15, minute=30, second=0, microsecond=0)
# What an ordinary sync read: rows per table, as RunReport.rows counts them.
ORDINARY_ROWS = {
    "infinity.triggers": 400,
    "infinity.rejected": 1,
    "footprints.leads": 40,
    "footprints.customers__leads": 90,
}
DAYS = 16  # today and the 15 days before: the 14-day baselines and the day before them
LEADS_PER_DAY = 40  # one every 36 minutes
OTHER_CALLS_PER_DAY = 96  # one every 15 minutes, from numbers that never become leads
CUSTOMER_EVERY = 3  # every 3rd lead became a customer half an hour after it came in


@dataclass(frozen=True)
class Business:
    """Calls and leads of the `DAYS` days up to `now` (UTC).

    Every other lead called an hour before it came in (a match rate of 50%); the calls of
    the day are those plus `OTHER_CALLS_PER_DAY`. The fields are the faults.
    """

    now: datetime
    triggers_stopped: timedelta | None = None  # no trigger in this last stretch
    leads_stopped: timedelta | None = None  # no lead in this last stretch
    other_calls_today: bool = True
    recent_matched_every: int = 2  # in the last 24 h, every n-th lead called first
    recent_phones: bool = True  # the last 24 h's leads have a readable phone number
    no_player_id_every: int = 0  # every n-th customer has no client id (Gameball skips it)
    days: int = DAYS

    def rows(self) -> tuple[list[dict], list[dict]]:
        """(triggers, leads), with naive UTC timestamps as the raw tables keep them."""
        now = self.now.astimezone(UTC).replace(tzinfo=None)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        triggers_until = now - (self.triggers_stopped or timedelta(0))
        leads_until = now - (self.leads_stopped or timedelta(0))
        triggers: list[dict] = []
        leads: list[dict] = []
        customers = 0

        def add_call(at: datetime, phone: str) -> None:
            if at <= triggers_until:
                triggers.append(call(len(triggers) + 1, at, phone))

        for back in range(self.days):
            day = midnight - timedelta(days=back)
            for n in range(OTHER_CALLS_PER_DAY):
                at = day + timedelta(minutes=15 * n)
                if back or self.other_calls_today:
                    add_call(at, f"+44207946{back:02d}{n:03d}")
            for n in range(LEADS_PER_DAY):
                created = day + timedelta(minutes=36 * n)
                if created > leads_until:
                    continue
                recent = created > now - timedelta(hours=24)
                phone = f"+447700{back:02d}{n:04d}"
                if n % (self.recent_matched_every if recent else 2) == 0:
                    add_call(created - timedelta(hours=1), phone)
                fields: dict = {}
                converted = created + timedelta(minutes=30)
                if n % CUSTOMER_EVERY == 0 and converted <= now:
                    customers += 1
                    fields = {"status": "customer", "timestamp_status_change": converted}
                    fields["contract_value"] = 500.0
                    if self.no_player_id_every and customers % self.no_player_id_every == 0:
                        fields["client_id"] = None
                number = phone if self.recent_phones or not recent else None
                leads.append(lead(f"L{back:02d}-{n:02d}", created, number, **fields))
        triggers = [t for t in triggers if t["trigger_datetime"] <= now]
        return triggers, [row for row in leads if row["created_at"] <= now]


_ARROW_TYPES = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "double": pa.float64(),
    "varchar": pa.string(),
    "timestamp": pa.timestamp("us"),
}


def write_raw_tables(path: Path, triggers: list[dict], leads: list[dict]) -> None:
    """The raw tables as `helpers.model_cases.write_raw` writes them, through Arrow: a
    business's thousands of rows in a fraction of a second rather than row by row."""
    with duckdb.connect(str(path)) as con:
        for table, rows in (("infinity.triggers", triggers), ("footprints.leads", leads)):
            columns = RAW_COLUMNS[table]
            con.execute(f"create schema if not exists {table.split('.')[0]}")
            definition = ", ".join(f"{c} {t}" for c, t in columns.items())
            con.execute(f"create or replace table {table} ({definition})")
            schema = pa.schema([(c, _ARROW_TYPES[t]) for c, t in columns.items()])
            batch = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows], schema)
            con.register("batch", batch)
            con.execute(f"insert into {table} select * from batch")
            con.unregister("batch")
