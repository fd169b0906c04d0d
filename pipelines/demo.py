"""`make demo`: the whole job against the bundled emulator, into data/demo.duckdb.

The first run serves a 60-day data set (repeat UK callers, rowId gaps, the reference's two
sample rows with their unescaped `notes`, one line that cannot be read). Every later run adds
a batch of new calls, as if the scheduler ran again an hour later, so the next sync shows an
incremental load of just those rows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from pipelines import runner
from pipelines.emulators.infinity import InfinityEmulator
from pipelines.emulators.infinity_data import REFERENCE_SAMPLE_LINES, generate_triggers

DATA = Path("data")
WAREHOUSE = DATA / "demo.duckdb"
RUNS_FILE = DATA / "demo-runs.json"
NEW_CALLS_PER_RUN = 1_000
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


def run_demo(rows: int) -> int:
    DATA.mkdir(exist_ok=True)
    run_number = json.loads(RUNS_FILE.read_text())["runs"] + 1 if RUNS_FILE.exists() else 1
    triggers, raw_lines = _demo_data(rows, run_number)
    with InfinityEmulator() as emulator:
        emulator.add_triggers(triggers)
        for line, row_id in raw_lines:
            emulator.add_raw_line(line, row_id=row_id, trigger_datetime="2026-09-02 10:00:00")
        os.environ.update(
            SOURCES__INFINITY__BASE_URL=f"{emulator.url}/reports/v2",
            SOURCES__INFINITY__IGRP=emulator.igrp,
            SOURCES__INFINITY__USERNAME=emulator.username,
            SOURCES__INFINITY__PASSWORD=emulator.password,
            DESTINATION__DUCKDB__CREDENTIALS=str(WAREHOUSE),
            SYNC__PIPELINES_DIR=str(DATA / "demo-pipelines"),
        )
        print(
            f"Demo run {run_number}: the Infinity emulator at {emulator.url} serves "
            f"{len(triggers) + len(raw_lines):,} triggers."
        )
        report = runner.run("sync")
    print()
    print(report.summary())
    if report.error:
        return 1
    RUNS_FILE.write_text(json.dumps({"runs": run_number}))
    _show_examples()
    print(
        f"\nRun `make demo` again to see an incremental sync of {NEW_CALLS_PER_RUN:,} new "
        "calls; `rm -rf data/demo*` starts over."
    )
    return 0


def _show_examples() -> None:
    print(
        f"\nTry these in DuckDB on {WAREHOUSE} (e.g. `duckdb {WAREHOUSE}`, or in Python "
        f"`duckdb.connect('{WAREHOUSE}', read_only=True).sql(...).show()`):"
    )
    with duckdb.connect(str(WAREHOUSE), read_only=True) as con:
        for title, sql in EXAMPLE_QUERIES.items():
            print(f"\n-- {title}{sql}")
            con.sql(sql).show()
