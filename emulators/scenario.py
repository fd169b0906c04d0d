"""A business that keeps trading: what the Infinity and Footprints emulators serve on each run.

The time of the first run anchors a history of `days` days of calls and leads up to it. Every
later run adds, dated at that run's own time:
- a batch of new calls, with rowIds above every earlier one;
- a batch of new leads, created earlier on the day of the run;
- a few leads that became customers: the newest leads created within the Footprints lookback
  that were still open, so a sync re-reading the lookback finds them changed.

Given the same run times, the world is the same, so fresh emulators serve it again on every
run (the demo starts them per run). Nothing here reads the clock: the caller says when each
run happens, which is what lets the demo tell the same story on any day and the clock-travel
tests walk a sync through month ends, year ends and DST changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

from emulators.footprints import FootprintsEmulator
from emulators.footprints_data import (
    FootprintsData,
    generate_footprints,
    parse_timestamp,
)
from emulators.infinity import InfinityEmulator
from emulators.infinity_data import REFERENCE_SAMPLE_LINES, generate_triggers

OPEN_STATUSES = ("lead", "sale_lead")
# A line that cannot be read, set aside in infinity.rejected: below the generated rowIds,
# above the reference samples.
UNREADABLE_ROW_ID = 1000
ROW_ID_GAP = 17  # between the last rowId of one run and the first of the next


@dataclass(frozen=True)
class Scenario:
    """The data of a sequence of runs at the given UTC times (ascending; the first anchors)."""

    runs: tuple[datetime, ...]
    triggers: int = 50_000
    leads: int = 2_000
    days: int = 60
    new_calls: int = 1_000
    new_leads: int = 50
    new_customers: int = 10
    lookback_days: int = 30
    seed: int = 7

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("a scenario needs the time of at least one run")
        runs = tuple(t if t.tzinfo else t.replace(tzinfo=UTC) for t in self.runs)
        if list(runs) != sorted(runs):
            raise ValueError("runs must be in time order")
        object.__setattr__(self, "runs", runs)

    @property
    def anchor(self) -> datetime:
        return self.runs[0]

    @property
    def first_day(self) -> date:
        """The first day of the history: set it as `sources.footprints.start_date`."""
        return (self.anchor - timedelta(days=self.days)).date()

    def then(self, moment: datetime) -> Scenario:
        """The same world with one more run at `moment`."""
        return Scenario(**{**self.__dict__, "runs": (*self.runs, moment)})

    def trigger_rows(self) -> list[dict[str, str]]:
        """Every generated trigger served on the last run, in rowId order."""
        rows = generate_triggers(self.triggers, seed=self.seed, days=self.days, end=self.anchor)
        for batch, moment in enumerate(self.runs[1:], start=1):
            first = int(rows[-1]["rowId"]) + ROW_ID_GAP if rows else 1_000_000
            rows += generate_triggers(
                self.new_calls, seed=100 + batch, days=1, end=moment, first_row_id=first
            )
        return rows

    def raw_lines(self) -> list[tuple[str, int, str]]:
        """(line, rowId, triggerDatetime) of the lines that are not valid JSON."""
        samples = enumerate(REFERENCE_SAMPLE_LINES, start=1)
        lines = [(line, row_id, "2018-01-16 13:20:11") for row_id, line in samples]
        stamp = f"{self.first_day + timedelta(days=1)} 10:00:00"
        unreadable = f'{{"rowId":"{UNREADABLE_ROW_ID}","triggerDatetime":"{stamp}","act":"call",'
        return [*lines, (unreadable, UNREADABLE_ROW_ID, stamp)]

    def lead_batches(self) -> list[FootprintsData]:
        """The history's leads, then one batch of new leads per later run."""
        history = generate_footprints(
            self.leads,
            seed=self.seed,
            start=self.first_day,
            end=self.anchor.date(),
            caller_seed=self.seed,
            until=self.anchor,
        )
        batches = [history]
        for batch, moment in enumerate(self.runs[1:], start=1):
            batches.append(
                generate_footprints(
                    self.new_leads,
                    seed=100 + batch,
                    start=moment.date(),
                    end=moment.date(),
                    caller_seed=self.seed,
                    until=moment,
                    references=history.references,
                )
            )
        return batches

    def status_changes(
        self, batches: list[FootprintsData] | None = None
    ) -> list[tuple[str, datetime]]:
        """(lead id, when) of each lead that became a customer, in the order they did.

        Args:
            batches: `lead_batches()`, when the caller has them already.
        """
        batches = batches or self.lead_batches()
        changes: list[tuple[str, datetime]] = []
        converted: set[str] = set()
        for run, (previous, moment) in enumerate(pairwise(self.runs), start=1):
            # Created a day inside the lookback, so the sync at `moment` re-reads their day.
            oldest = moment - timedelta(days=self.lookback_days - 1)
            candidates = [
                (lead["_id"], _created(lead))
                for batch in batches[:run]
                for lead in batch.leads
                if lead.get("status") in OPEN_STATUSES
                and lead["_id"] not in converted
                and oldest <= _created(lead) < moment
            ]
            for lead_id, created in candidates[-self.new_customers :]:
                converted.add(lead_id)
                # Half an hour before the run, or halfway there from the previous run or the
                # lead's creation, whichever came later: never before a sync saw it open.
                since = max(previous, created)
                changes.append(
                    (lead_id, max(moment - timedelta(minutes=30), since + (moment - since) / 2))
                )
        return changes

    def serve(self, infinity: InfinityEmulator, crm: FootprintsEmulator) -> tuple[int, int]:
        """Load both (fresh) emulators as they look on the last run; (triggers, leads) served."""
        triggers = self.trigger_rows()
        infinity.add_triggers(triggers)
        raw = self.raw_lines()
        for line, row_id, stamp in raw:
            infinity.add_raw_line(line, row_id=row_id, trigger_datetime=stamp)
        batches = self.lead_batches()
        history, *later = batches
        crm.load(history)
        for batch in later:
            crm.add_leads(batch.leads)
            crm.add_actions(batch.actions)
            crm.add_customers(batch.customers)
        for lead_id, moment in self.status_changes(batches):
            crm.change_status(lead_id, "customer", moment)
        return len(triggers) + len(raw), sum(len(batch.leads) for batch in batches)


def _created(lead: dict[str, Any]) -> datetime:
    created = parse_timestamp(lead.get("createdAt"))
    if created is None:
        raise ValueError(f"generated lead without a readable createdAt: {lead['_id']}")
    return created if created.tzinfo else created.replace(tzinfo=UTC)
