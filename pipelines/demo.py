"""`make demo`: the whole job against the bundled emulators, into data/demo.duckdb.

The first run serves the 60 days up to the moment it runs: Infinity calls (repeat UK
callers, rowId gaps, the reference's two sample rows with their unescaped `notes`, one line
that cannot be read) and Footprints leads over the same days, many from the same callers'
numbers, about 10% of them customers with contract values. Every later run adds a batch of
new calls and new leads dated at its own time and moves some leads created within the
lookback on to `customer`, so the sync shows an incremental load of just those rows, on
whatever day it runs (`emulators.scenario`). The run times are kept in
data/demo-runs.json; a demo last run longer ago than the lookback starts over.

The push goes to local receivers of Qubit, OWOX BI and Gameball, started fresh on every run;
the ledger in the warehouse is what keeps a second run from sending a conversion again. Each
run ends by writing the report of the warehouse (`python -m pipelines report`) to
data/demo-report.html and printing its path.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from emulators.footprints import FootprintsEmulator
from emulators.gameball import GameballEmulator
from emulators.infinity import InfinityEmulator
from emulators.owox import OwoxEmulator
from emulators.qubit import QubitEmulator
from emulators.scenario import Scenario
from pipelines.push import TARGETS
from pipelines.report import write_report
from pipelines.runtime import runner

DATA = Path("data")
WAREHOUSE = DATA / "demo.duckdb"
PIPELINES_DIR = DATA / "demo-pipelines"
RUNS_FILE = DATA / "demo-runs.json"  # the time of every demo run so far: the data's anchor
REPORT = DATA / "demo-report.html"
NEW_CALLS_PER_RUN = 1_000
DEMO_DAYS = 60
LEADS = 2_000
NEW_LEADS_PER_RUN = 50
NEW_CUSTOMERS_PER_RUN = 10
LOOKBACK_DAYS = 30  # the default sources.footprints.lookback_days, which the demo keeps
# The commands printed at the end of every demo: each works exactly as printed.
STATUS_COMMAND = "make status-demo"
SHELL_COMMAND = "make shell-demo"

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


def _scenario(rows: int, now: datetime) -> Scenario:
    """The demo's world with one more run at `now`; starts over when the last run's leads
    are older than the lookback, since no sync would re-read them to find new customers."""
    earlier: list[datetime] = []
    built_rows = rows
    if RUNS_FILE.exists():
        try:
            log = json.loads(RUNS_FILE.read_text())
            earlier = [datetime.fromisoformat(t) for t in log["runs"]]
            built_rows = int(log.get("rows", rows))
        except (ValueError, KeyError, TypeError):
            earlier = []
    reason = None
    if earlier and built_rows != rows:
        reason = f"was built with --rows {built_rows:,}, not {rows:,}"
    elif earlier and now - earlier[-1] > timedelta(days=LOOKBACK_DAYS - 1):
        reason = f"last ran {earlier[-1]:%Y-%m-%d}, outside the {LOOKBACK_DAYS}-day lookback"
    elif earlier and now < earlier[-1]:
        reason = f"last ran {earlier[-1]:%Y-%m-%d %H:%M}, after now"
    elif not earlier and (WAREHOUSE.exists() or RUNS_FILE.exists()):
        # A world rebuilt at another time has other lead ids and rowIds than the warehouse.
        reason = f"has no readable run log ({RUNS_FILE})"
    if reason:
        print(f"The demo data {reason}: starting the demo over.")
        for path in (WAREHOUSE, Path(f"{WAREHOUSE}.wal"), RUNS_FILE):
            path.unlink(missing_ok=True)
        shutil.rmtree(PIPELINES_DIR, ignore_errors=True)
        earlier = []
    return Scenario(
        runs=(*earlier, now),
        triggers=rows,
        leads=LEADS,
        days=DEMO_DAYS,
        new_calls=NEW_CALLS_PER_RUN,
        new_leads=NEW_LEADS_PER_RUN,
        new_customers=NEW_CUSTOMERS_PER_RUN,
        lookback_days=LOOKBACK_DAYS,
    )


def run_demo(rows: int) -> int:
    """One demo run: the first serves the 60 days up to now, each later one adds calls, leads
    and customers dated at its own time."""
    now = datetime.now(UTC)
    DATA.mkdir(exist_ok=True)
    scenario = _scenario(rows, now)
    run_number = len(scenario.runs)
    with (
        InfinityEmulator() as emulator,
        FootprintsEmulator() as crm,
        QubitEmulator() as qubit,
        OwoxEmulator() as owox,
        GameballEmulator() as gameball,
    ):
        trigger_count, lead_count = scenario.serve(emulator, crm)
        demo_settings = dict(
            SOURCES__INFINITY__BASE_URL=f"{emulator.url}/reports/v2",
            SOURCES__INFINITY__IGRP=emulator.igrp,
            SOURCES__INFINITY__USERNAME=emulator.username,
            SOURCES__INFINITY__PASSWORD=emulator.password,
            DESTINATION__DUCKDB__CREDENTIALS=str(WAREHOUSE),
            SOURCES__FOOTPRINTS__BASE_URL=crm.url,
            SOURCES__FOOTPRINTS__CLIENT_KEY=crm.client_key,
            SOURCES__FOOTPRINTS__CLIENT_SECRET=crm.client_secret,
            SOURCES__FOOTPRINTS__START_DATE=str(scenario.first_day),
            SOURCES__FOOTPRINTS__LOOKBACK_DAYS=str(LOOKBACK_DAYS),
            SYNC__PIPELINES_DIR=str(PIPELINES_DIR),
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
            f"Demo run {run_number} at {now:%Y-%m-%d %H:%M} UTC (data from "
            f"{scenario.first_day}): the Infinity emulator at {emulator.url} serves "
            f"{trigger_count:,} triggers; the Footprints emulator at {crm.url} serves "
            f"{lead_count:,} leads; Qubit, OWOX BI and Gameball receivers listen at "
            f"{qubit.url}, {owox.url} and {gameball.url}."
        )
        with _environment(demo_settings):
            report = runner.run("sync", models=True, targets=tuple(TARGETS))
        # Kept whatever the outcome: the warehouse now holds this run's world.
        runs = [t.isoformat() for t in scenario.runs]
        RUNS_FILE.write_text(json.dumps({"runs": runs, "rows": rows}))
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
    _show_examples()
    print(
        f"\nRun `make demo` again to see an incremental sync of {NEW_CALLS_PER_RUN:,} new "
        f"calls, {NEW_LEADS_PER_RUN} new leads and {NEW_CUSTOMERS_PER_RUN} leads that became "
        f"customers; `{STATUS_COMMAND}` shows cursors, counts and deliveries; "
        f"`{SHELL_COMMAND}` opens a SQL prompt on {WAREHOUSE}; `rm -rf data/demo*` starts over."
    )
    # The report spans the demo's whole world, not the command's default 30 days.
    with _environment({"DESTINATION__DUCKDB__CREDENTIALS": str(WAREHOUSE)}):
        path = write_report(DEMO_DAYS, REPORT)
    print(f"\nThe report, charts of the last {DEMO_DAYS} days in one file that opens offline:")
    print(path.resolve())
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
        f"\nTry these on {WAREHOUSE} at the prompt of `{SHELL_COMMAND}`, or in Python with "
        f"`duckdb.connect('{WAREHOUSE}', read_only=True).sql(...).show()`:"
    )
    with duckdb.connect(str(WAREHOUSE), read_only=True) as con:
        for title, sql in EXAMPLE_QUERIES.items():
            print(f"\n-- {title}{sql}")
            con.sql(sql).show()
