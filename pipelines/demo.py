"""`make demo`: the whole job against the bundled emulators, into data/demo.duckdb.

The first run serves a 60-day data set: Infinity calls (repeat UK callers, rowId gaps, the
reference's two sample rows with their unescaped `notes`, one line that cannot be read) and
Footprints leads over the same days, many from the same callers' numbers, about 10% of them
customers with contract values. Every later run adds a batch of new calls and new leads and
moves some recent leads on to `customer`, as if the scheduler ran again an hour later, so the
next sync shows an incremental load of just those rows.

The push goes to local receivers of Qubit, OWOX BI and Gameball, started fresh on every run;
the ledger in the warehouse is what keeps a second run from sending a conversion again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from pipelines import runner
from pipelines.emulators.footprints import FootprintsEmulator
from pipelines.emulators.footprints_data import FootprintsData, generate_footprints
from pipelines.emulators.gameball import GameballEmulator
from pipelines.emulators.infinity import InfinityEmulator
from pipelines.emulators.infinity_data import (
    DEFAULT_END,
    REFERENCE_SAMPLE_LINES,
    generate_triggers,
)
from pipelines.emulators.owox import OwoxEmulator
from pipelines.emulators.qubit import QubitEmulator
from pipelines.push import TARGETS

DATA = Path("data")
WAREHOUSE = DATA / "demo.duckdb"
RUNS_FILE = DATA / "demo-runs.json"
NEW_CALLS_PER_RUN = 1_000
DEMO_DAYS = 60
LEADS = 2_000
NEW_LEADS_PER_RUN = 50
NEW_CUSTOMERS_PER_RUN = 10
UNREADABLE_ROW_ID = 1000  # below the generated rowIds, above the reference samples
UNREADABLE_LINE = '{"rowId":"1000","triggerDatetime":"2026-09-02 10:00:00","act":"call",'

EXAMPLE_QUERIES = {
    "Repeat callers: who called most, first and last call": """
select caller_phone_e164, count(*) as calls,
       min(trigger_datetime) as first_call_at, max(trigger_datetime) as last_call_at
from infinity.triggers
where caller_phone_e164 is not null
group by caller_phone_e164
order by calls desc, caller_phone_e164
limit 5;""",
    "Calls per marketing channel over the last 7 days of data": """
select ch_name as channel, count(*) as calls,
       round(avg(call_duration)) as avg_call_seconds,
       count(distinct caller_phone_e164) as distinct_callers
from infinity.triggers
where act like 'call%'
  and trigger_datetime >= (select max(trigger_datetime) from infinity.triggers) - interval 7 day
group by channel
order by calls desc;""",
    "Conversions and their value by the marketing channel of the attributed call": """
select coalesce(channel_name, '(no call before the lead)') as channel,
       count(*) as conversions, round(sum(value), 2) as value, any_value(currency) as currency
from analytics.conversions
group by channel
order by conversions desc;""",
}


def _demo_data(rows: int, run_number: int) -> tuple[list[dict[str, str]], list[tuple[str, int]]]:
    """The triggers the emulator serves on the `run_number`-th demo run (1-based)."""
    triggers = generate_triggers(rows, seed=7, days=60)
    for batch in range(1, run_number):
        start = int(triggers[-1]["rowId"]) + 17
        triggers += generate_triggers(
            NEW_CALLS_PER_RUN, seed=100 + batch, days=1, first_row_id=start
        )
    raw_lines = [(line, number) for number, line in enumerate(REFERENCE_SAMPLE_LINES, start=1)]
    raw_lines.append((UNREADABLE_LINE, UNREADABLE_ROW_ID))
    return triggers, raw_lines


def _demo_leads(run_number: int, today: date) -> tuple[FootprintsData, list[FootprintsData]]:
    """The leads of the 60 demo days, and one batch of new leads per later run (today's)."""
    first_day = DEFAULT_END.date() - timedelta(days=DEMO_DAYS)
    leads = generate_footprints(LEADS, seed=7, start=first_day, end=DEFAULT_END.date())
    later = [
        generate_footprints(NEW_LEADS_PER_RUN, seed=100 + batch, start=today, end=today)
        for batch in range(1, run_number)
    ]
    return leads, later


def _serve_leads(crm: FootprintsEmulator, run_number: int, today: date) -> int:
    """Load the emulator as it looks on this run; returns how many leads it lists."""
    leads, later = _demo_leads(run_number, today)
    crm.load(leads)
    for batch in later:
        crm.add_leads(batch.leads)
        crm.add_actions(batch.actions)
        crm.add_customers(batch.customers)
    # Each later run, a few recent leads become customers: the lookback re-read finds them.
    recent = [lead["_id"] for lead in leads.leads if lead.get("status") in ("lead", "sale_lead")]
    for batch in range(1, run_number):
        for lead_id in recent[-batch * NEW_CUSTOMERS_PER_RUN :]:
            crm.change_status(lead_id, "customer", DEFAULT_END + timedelta(hours=batch))
    return len(leads.leads) + sum(len(b.leads) for b in later)


def run_demo(rows: int) -> int:
    DATA.mkdir(exist_ok=True)
    run_number = json.loads(RUNS_FILE.read_text())["runs"] + 1 if RUNS_FILE.exists() else 1
    triggers, raw_lines = _demo_data(rows, run_number)
    with (
        InfinityEmulator() as emulator,
        FootprintsEmulator() as crm,
        QubitEmulator() as qubit,
        OwoxEmulator() as owox,
        GameballEmulator() as gameball,
    ):
        emulator.add_triggers(triggers)
        for line, row_id in raw_lines:
            emulator.add_raw_line(line, row_id=row_id, trigger_datetime="2026-09-02 10:00:00")
        lead_count = _serve_leads(crm, run_number, datetime.now(UTC).date())
        demo_settings = dict(
            SOURCES__INFINITY__BASE_URL=f"{emulator.url}/reports/v2",
            SOURCES__INFINITY__IGRP=emulator.igrp,
            SOURCES__INFINITY__USERNAME=emulator.username,
            SOURCES__INFINITY__PASSWORD=emulator.password,
            DESTINATION__DUCKDB__CREDENTIALS=str(WAREHOUSE),
            SOURCES__FOOTPRINTS__BASE_URL=crm.url,
            SOURCES__FOOTPRINTS__CLIENT_KEY=crm.client_key,
            SOURCES__FOOTPRINTS__CLIENT_SECRET=crm.client_secret,
            SOURCES__FOOTPRINTS__START_DATE=str(DEFAULT_END.date() - timedelta(days=DEMO_DAYS)),
            SYNC__PIPELINES_DIR=str(DATA / "demo-pipelines"),
            # Footprints values carry no currency; the demo business sells in lei.
            MODELS__CURRENCY="RON",
            DESTINATION__QUBIT__BASE_URL=qubit.url,
            DESTINATION__QUBIT__TRACKING_ID=qubit.tracking_id,
            DESTINATION__OWOX__ENDPOINT=owox.url,
            DESTINATION__OWOX__TID=owox.tid,
            DESTINATION__GAMEBALL__BASE_URL=gameball.base_url,
            DESTINATION__GAMEBALL__API_KEY=gameball.api_key,
        )
        print(
            f"Demo run {run_number}: the Infinity emulator at {emulator.url} serves "
            f"{len(triggers) + len(raw_lines):,} triggers; the Footprints emulator at "
            f"{crm.url} serves {lead_count:,} leads; Qubit, OWOX BI and Gameball receivers "
            f"listen at {qubit.url}, {owox.url} and {gameball.url}."
        )
        with _environment(demo_settings):
            report = runner.run("sync", models=True, targets=tuple(TARGETS))
        received = (
            f"The receivers took {len(qubit.accepted):,} Qubit events, "
            f"{len(owox.valid_hits):,} OWOX hits and {len(gameball.received):,} Gameball events "
            "in this run."
        )
    print()
    print(report.summary())
    print(received)
    if report.error:
        return 1
    RUNS_FILE.write_text(json.dumps({"runs": run_number}))
    _show_examples()
    print(
        f"\nRun `make demo` again to see an incremental sync of {NEW_CALLS_PER_RUN:,} new "
        f"calls, {NEW_LEADS_PER_RUN} new leads and {NEW_CUSTOMERS_PER_RUN} new customers; "
        "`rm -rf data/demo*` starts over."
    )
    return 0


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Settings for the emulators, for this run only: they point at ports about to close."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _show_examples() -> None:
    print(
        f"\nTry these in DuckDB on {WAREHOUSE} (e.g. `duckdb {WAREHOUSE}`, or in Python "
        f"`duckdb.connect('{WAREHOUSE}', read_only=True).sql(...).show()`):"
    )
    with duckdb.connect(str(WAREHOUSE), read_only=True) as con:
        for title, sql in EXAMPLE_QUERIES.items():
            print(f"\n-- {title}{sql}")
            con.sql(sql).show()
