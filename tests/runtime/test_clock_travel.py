"""Clock travel: the real `python -m pipelines sync`, its clock moved by libfaketime.

A scheduled sync meets month ends, year ends, leap days and daylight-saving changes, and
each is a chance for "today", "yesterday" or a day window to be off by one. Here the CLI
runs as its own process with its clock shifted (FINDINGS: "Clock shifting for whole
processes"), as the scheduler of a UK business would start it (TZ=Europe/London), through:

1. a first sync on 2027-12-30 23:50 UTC;
2. a sync a day later (new calls, new leads, leads of the lookback that became customers);
3. one across the year end, 2028-01-01 00:10;
4. one 59 days later, across two month ends, on the leap day 2028-02-29 23:50;
5. one from the leap day into March, 2028-03-01 00:10;
6. and 7. one on each side of the Europe/London change to summer time, 00:45 and 01:05 UTC
   on 2028-03-26 (the last Sunday of March, 01:00 UTC), far enough from it that each sync
   runs wholly on its side;
8. an idle sync at 01:10 with nothing new in the world.

`emulators.scenario.Scenario` says what the world looks like at each run; every
phase serves it from fresh Infinity and Footprints emulators (in this process, on the real
clock). The Qubit, OWOX and Gameball receivers stay up for the whole journey, so what they
took is what was sent over all phases. After every phase the warehouse must hold exactly the
triggers and the leads (with their current status) that the emulators serve, and every
sendable conversion must have arrived once per target; the idle sync must send nothing.

Needs the Debian package `faketime` (libfaketime): without it these tests fail, saying so.
Run: `.venv/bin/python -m pytest tests/runtime/test_clock_travel.py` (about 45 s on 2 cores). The
process environment that moves a clock is `shifted_env`; tests/faketime/sitecustomize.py
keeps `time.sleep` working under it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import orjson
import pytest
import requests
from dlt.pipeline.state_sync import decompress_state
from helpers import shifted_env

from emulators.footprints import FootprintsEmulator
from emulators.footprints_data import parse_timestamp
from emulators.gameball import GameballEmulator
from emulators.infinity import InfinityEmulator
from emulators.owox import OwoxEmulator
from emulators.qubit import QubitEmulator
from emulators.scenario import UNREADABLE_ROW_ID, Scenario

LONDON = ZoneInfo("Europe/London")
# Settings the CLI must not inherit from whoever runs the tests: each phase sets its own.
INHERITED_PREFIXES = (
    "SOURCES__",
    "DESTINATION__",
    "MODELS__",
    "PUSH__",
    "SYNC__",
    "HTTP__",
    "RUNTIME__",
    "FAKETIME",
    "LD_PRELOAD",
)
SYNC_TIMEOUT_SECONDS = 180
ROUTE = "callsGoalsTransactions"
# target -> (outbound table, its id column): the id is md5('<target>:' || lead_id) (sql/outbound)
OUTBOUND = {
    "qubit": ("qubit_events", "qubit_event_id"),
    "owox": ("owox_hits", "owox_hit_id"),
    "gameball": ("gameball_events", "gameball_event_id"),
}


@dataclass(frozen=True)
class Phase:
    name: str
    at: datetime  # UTC
    new_run: bool = True  # False: the world as at the previous phase (an idle sync)


PHASES = (
    Phase("start", datetime(2027, 12, 30, 23, 50, tzinfo=UTC)),
    Phase("a day later", datetime(2027, 12, 31, 23, 50, tzinfo=UTC)),
    Phase("across the year end", datetime(2028, 1, 1, 0, 10, tzinfo=UTC)),
    Phase("59 days later, on the leap day", datetime(2028, 2, 29, 23, 50, tzinfo=UTC)),
    Phase("from the leap day into March", datetime(2028, 3, 1, 0, 10, tzinfo=UTC)),
    Phase("summer time day, 00:45 UTC (GMT)", datetime(2028, 3, 26, 0, 45, tzinfo=UTC)),
    Phase("summer time day, 01:05 UTC (BST)", datetime(2028, 3, 26, 1, 5, tzinfo=UTC)),
    Phase("idle", datetime(2028, 3, 26, 1, 10, tzinfo=UTC), new_run=False),
)
# Small enough for the whole journey to take well under two minutes.
WORLD = dict(
    triggers=3_000,
    leads=400,
    days=60,
    new_calls=300,
    new_leads=40,
    new_customers=10,
    lookback_days=30,
    seed=7,
)


# --- the shifted clock -------------------------------------------------------------------


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES)}


def run_at(
    at: datetime, args: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run `args` with the clock at `at`; the process is killed by its id if it overruns."""
    process = subprocess.Popen(
        args,
        cwd=cwd,
        env={**clean_environ(), **env, **shifted_env(at)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except BaseException:
        process.kill()
        process.communicate(timeout=30)
        raise
    return subprocess.CompletedProcess(args, process.returncode, out, err)


PROBE = textwrap.dedent(
    """
    import json, threading, time
    from datetime import UTC, datetime
    import duckdb

    python_now = datetime.now(UTC)
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        today, now = con.execute("select current_date, now()").fetchone()
    started = time.monotonic()
    time.sleep(0.1)
    slept = time.monotonic() - started
    started = time.monotonic()
    threading.Event().wait(0.1)
    waited = time.monotonic() - started
    print(json.dumps({
        "python_now": python_now.isoformat(),
        "duckdb_date": today.isoformat(),
        "duckdb_now": now.isoformat(),
        "slept": slept,
        "waited": waited,
    }))
    """
)
PROBE_AT = datetime(2028, 2, 29, 23, 50, tzinfo=UTC)


def probe_clock(at: datetime, cwd: Path) -> dict[str, Any]:
    """What a Python process shifted to `at` reads from its clocks, and how long it slept."""
    done = run_at(at, [sys.executable, "-c", PROBE], {}, cwd, timeout=60)
    assert done.returncode == 0, (
        f"a Python process under libfaketime failed (exit {done.returncode}):\n{done.stderr}"
    )
    return json.loads(done.stdout)


@cache
def checked_clock_shift() -> None:
    """Fails with the reason unless a process shifted by libfaketime reads the shifted time
    from both Python and DuckDB and can sleep: every clock-travel test depends on that."""
    probe = probe_clock(PROBE_AT, Path.cwd())
    read = datetime.fromisoformat(probe["python_now"])
    duck = datetime.fromisoformat(probe["duckdb_now"])
    window = f"between {PROBE_AT} and a minute later"
    assert PROBE_AT - timedelta(seconds=5) <= read <= PROBE_AT + timedelta(minutes=1), (
        f"Python's datetime.now() read {read}, not {window}: libfaketime did not shift it"
    )
    assert PROBE_AT - timedelta(seconds=5) <= duck <= PROBE_AT + timedelta(minutes=1), (
        f"DuckDB's now() read {duck}, not {window}: libfaketime did not shift it"
    )
    assert probe["duckdb_date"] == str(PROBE_AT.date()), probe
    assert 0.09 <= probe["slept"] < 5, f"time.sleep(0.1) took {probe['slept']} s"
    assert 0.09 <= probe["waited"] < 5, f"Event.wait(0.1) took {probe['waited']} s"


def test_faketime_shifts_python_and_duckdb_clocks_and_sleep_still_works() -> None:
    """The guard: a process started by `run_at` reads the chosen time from Python and DuckDB,
    and its sleeps and timed waits last as long as asked (FINDINGS' combination)."""
    checked_clock_shift()


def test_faketime_london_local_time_moves_to_summer_time_between_the_dst_phases(
    tmp_path: Path,
) -> None:
    """The two summer-time phases really straddle the change for a process run as they are
    (TZ=Europe/London, shifted clock): its local clock reads GMT, then BST an hour ahead."""
    checked_clock_shift()
    local = "import time; print(time.strftime('%Y-%m-%d %H:%M %Z'))"
    read = []
    for name in ("summer time day, 00:45 UTC (GMT)", "summer time day, 01:05 UTC (BST)"):
        at = next(phase.at for phase in PHASES if phase.name == name)
        done = run_at(at, [sys.executable, "-c", local], {"TZ": "Europe/London"}, tmp_path, 60)
        assert done.returncode == 0, done.stderr
        read.append(done.stdout.strip())
    assert read == ["2028-03-26 00:45 GMT", "2028-03-26 02:05 BST"]


# --- what the emulators serve --------------------------------------------------------------


def served_trigger_ids(emulator: InfinityEmulator) -> set[int]:
    """Every rowId the sync's route serves, read by keyset paging as a client would."""
    url = f"{emulator.url}/reports/v2/igrps/{emulator.igrp}/triggers/{ROUTE}"
    ids: set[int] = set()
    last = 0
    with requests.Session() as session:
        session.auth = (emulator.username, emulator.password)
        while True:
            params = {
                "format": "json",
                "limit": emulator.max_limit,
                "sort[]": "rowId-asc",
                "filter[]": f"rowId-gt-value-{last}",
            }
            response = session.get(url, params=params, timeout=30)
            response.raise_for_status()
            lines = response.content.splitlines()
            if not lines:
                return ids
            for line in lines:
                row_id = _row_id(line)
                ids.add(row_id)
                last = max(last, row_id)


def _row_id(line: bytes) -> int:
    try:
        return int(orjson.loads(line)["rowId"])
    except orjson.JSONDecodeError:
        # Not JSON (the reference's samples, the unreadable line): its rowId is still there.
        match = re.search(rb'"rowId":"([0-9]+)"', line)
        assert match, line[:200]
        return int(match[1])


@dataclass(frozen=True)
class Lead:
    status: str | None
    updated_at: datetime | None  # UTC, naive, as the warehouse keeps it


def served_leads(crm: FootprintsEmulator, first: date, last: date) -> dict[str, Lead]:
    """Every lead GET /api/lead lists for the days first..last, with its status."""
    with requests.Session() as session:
        token = session.post(
            f"{crm.url}/api/token",
            auth=(crm.client_key, crm.client_secret),
            data={"grant_type": "client_credentials"},
            timeout=30,
        )
        token.raise_for_status()
        leads: dict[str, Lead] = {}
        for page in range(1, 1_000):
            response = session.get(
                f"{crm.url}/api/lead",
                params={
                    "access_token": token.json()["access_token"],
                    "startDate": first.isoformat(),
                    "endDate": last.isoformat(),
                    "pageSize": 500,
                    "page": page,
                },
                timeout=30,
            )
            response.raise_for_status()
            rows = response.json()
            for row in rows:
                updated = parse_timestamp(row.get("updatedAt"))
                naive = updated.astimezone(UTC).replace(tzinfo=None) if updated else None
                leads[row["_id"]] = Lead(row.get("status"), naive)
            if len(rows) < 500:
                return leads
    raise AssertionError("GET /api/lead did not end")


# --- the journey -----------------------------------------------------------------------------


@dataclass
class Receivers:
    qubit: QubitEmulator
    owox: OwoxEmulator
    gameball: GameballEmulator

    def requests_made(self) -> dict[str, int]:
        return {
            "qubit": len(self.qubit.requests),
            "owox": len(self.owox.requests),
            "gameball": len(self.gameball.requests),
        }

    def refused(self) -> dict[str, int]:
        """What a receiver took but would not count, or counted as a repeat."""
        return {
            # Qubit answers a re-sent transaction with success and stores it once.
            "qubit re-sent": self.qubit.duplicates,
            "qubit failed": len(self.qubit.failed),
            "owox invalid": len(self.owox.invalid_hits),
            "gameball rate limited": self.gameball.rate_limited,
        }

    def received(self) -> dict[str, Counter[str]]:
        """outbound id -> how many times the target took that conversion, over every phase."""
        qubit = Counter(self.qubit.accepted.keys())
        gameball = Counter(
            str(metadata.get("lead_id"))
            for body in self.gameball.received
            for metadata in body["events"].values()
        )
        by_lead = {"qubit": qubit, "owox": self.owox.count_by("el"), "gameball": gameball}
        return {
            target: Counter({_outbound_id(target, lead): n for lead, n in counts.items()})
            for target, counts in by_lead.items()
        }


def _outbound_id(target: str, lead_id: str) -> str:
    return hashlib.md5(f"{target}:{lead_id}".encode()).hexdigest()


@dataclass
class Snapshot:
    """One phase: the CLI's exit and output, and what the warehouse and the sources held."""

    phase: Phase
    scenario: Scenario  # the world as served to this phase
    code: int
    output: str
    today: date
    trigger_ids: set[int] = field(default_factory=set)
    served_trigger_ids: set[int] = field(default_factory=set)
    rejected_ids: set[int] = field(default_factory=set)
    leads: dict[str, Lead] = field(default_factory=dict)
    served_leads: dict[str, Lead] = field(default_factory=dict)
    leads_complete_through: str | None = None
    sendable: dict[str, set[str]] = field(default_factory=dict)
    received: dict[str, Counter[str]] = field(default_factory=dict)
    receiver_requests: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    max_load_ids: tuple[str | None, str | None] = (None, None)

    def label(self) -> str:
        return f"phase {self.phase.name!r} at {self.phase.at:%Y-%m-%d %H:%M} UTC"


@dataclass
class Journey:
    scenario: Scenario
    snapshots: list[Snapshot]
    ledger: dict[str, Counter[str]]
    runs: list[dict[str, Any]]  # runs.jsonl

    def completed(self) -> list[Snapshot]:
        """Every snapshot, once each phase's sync has been seen to exit 0."""
        checked_clock_shift()  # fails the test, saying why, when the clock could not move
        for snapshot in self.snapshots:
            assert snapshot.code == 0, (
                f"{snapshot.label()}: exit {snapshot.code}\n{snapshot.output}"
            )
        assert len(self.snapshots) == len(PHASES), "the journey stopped early"
        return self.snapshots


def _settings(
    tmp: Path, scenario: Scenario, infinity: InfinityEmulator, crm: FootprintsEmulator, r: Receivers
) -> dict[str, str]:
    return {
        "SOURCES__INFINITY__BASE_URL": f"{infinity.url}/reports/v2",
        "SOURCES__INFINITY__IGRP": infinity.igrp,
        "SOURCES__INFINITY__USERNAME": infinity.username,
        "SOURCES__INFINITY__PASSWORD": infinity.password,
        "SOURCES__INFINITY__ROUTES": json.dumps([ROUTE]),
        "SOURCES__INFINITY__PAGE_SIZE": "1000",
        "SOURCES__FOOTPRINTS__BASE_URL": crm.url,
        "SOURCES__FOOTPRINTS__CLIENT_KEY": crm.client_key,
        "SOURCES__FOOTPRINTS__CLIENT_SECRET": crm.client_secret,
        "SOURCES__FOOTPRINTS__START_DATE": str(scenario.first_day),
        "SOURCES__FOOTPRINTS__LOOKBACK_DAYS": str(scenario.lookback_days),
        # The lookback's 31 days in one load (one dlt load less per run, ~1.5 s); the first
        # run and the one 59 days later still load in two, split inside a month.
        "SOURCES__FOOTPRINTS__DAYS_PER_LOAD": "31",
        "MODELS__CURRENCY": "RON",
        "DESTINATION__QUBIT__BASE_URL": r.qubit.url,
        "DESTINATION__QUBIT__TRACKING_ID": r.qubit.tracking_id,
        "DESTINATION__OWOX__ENDPOINT": r.owox.url,
        "DESTINATION__OWOX__TID": r.owox.tid,
        "DESTINATION__GAMEBALL__BASE_URL": r.gameball.base_url,
        "DESTINATION__GAMEBALL__API_KEY": r.gameball.api_key,
        "DESTINATION__GAMEBALL__MAX_REQUESTS_PER_SECOND": "500",  # the receiver has no limit
        "DESTINATION__DUCKDB__CREDENTIALS": str(tmp / "warehouse.duckdb"),
        "SYNC__PIPELINES_DIR": str(tmp / "dlt-state"),
        "SYNC__WAREHOUSE_WAIT_SECONDS": "30",
        "PUSH__DRY_RUN_DIR": str(tmp / "dry-run"),
        "HTTP__MIN_RETRY_DELAY_SECONDS": "0.1",
        "HTTP__MAX_RETRY_DELAY_SECONDS": "1",
        "HTTP__TIMEOUT_SECONDS": "30",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        # The scheduler of a UK business: local time moves an hour on the summer time day.
        "TZ": "Europe/London",
    }


def _query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set python_enable_replacements = false")
        return con.execute(sql).fetchall()


def _observe(snapshot: Snapshot, warehouse: Path, r: Receivers) -> None:
    rows = _query(warehouse, "select row_id from infinity.triggers")
    snapshot.trigger_ids = {row_id for (row_id,) in rows}
    rows = _query(warehouse, "select row_key from infinity.rejected")
    snapshot.rejected_ids = {int(row_key) for (row_key,) in rows}
    rows = _query(warehouse, "select id, status, updated_at from footprints.leads")
    snapshot.leads = {lead_id: Lead(status, updated) for lead_id, status, updated in rows}
    state = _query(
        warehouse,
        "select state from footprints._dlt_pipeline_state order by version desc limit 1",
    )
    snapshot.leads_complete_through = _cursor(state[0][0]) if state else None
    for target, (table, id_column) in OUTBOUND.items():
        sql = f"select {id_column} from outbound.{table} where skip_reason is null"
        snapshot.sendable[target] = {outbound_id for (outbound_id,) in _query(warehouse, sql)}
    snapshot.received = r.received()
    snapshot.receiver_requests = r.requests_made()
    snapshot.refused = r.refused()
    snapshot.max_load_ids = (
        _query(warehouse, "select max(_dlt_load_id) from infinity.triggers")[0][0],
        _query(warehouse, "select max(_dlt_load_id) from footprints.leads")[0][0],
    )


def _cursor(state: str) -> str | None:
    """The Footprints cursor out of dlt's stored state (compressed, base64)."""
    decoded = decompress_state(state)
    return decoded.get("sources", {}).get("footprints", {}).get("leads_complete_through")


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    """Every phase's sync, each as its own process at its own time; stops at a failed one."""
    try:
        checked_clock_shift()
    except (pytest.fail.Exception, AssertionError):
        # No journey without a movable clock; each test fails on it in `completed()`.
        yield Journey(Scenario(runs=(PHASES[0].at,), **WORLD), [], {}, [])
        return
    tmp = tmp_path_factory.mktemp("clock-travel")
    warehouse = tmp / "warehouse.duckdb"
    snapshots: list[Snapshot] = []
    scenario: Scenario | None = None
    with (
        QubitEmulator() as qubit,
        OwoxEmulator() as owox,
        GameballEmulator() as gameball,
    ):
        receivers = Receivers(qubit, owox, gameball)
        for phase in PHASES:
            if scenario is None:
                scenario = Scenario(runs=(phase.at,), **WORLD)
            elif phase.new_run:
                scenario = scenario.then(phase.at)
            with InfinityEmulator() as infinity, FootprintsEmulator() as crm:
                scenario.serve(infinity, crm)
                env = _settings(tmp, scenario, infinity, crm, receivers)
                done = run_at(
                    phase.at,
                    [sys.executable, "-m", "pipelines", "sync"],
                    env,
                    tmp,
                    SYNC_TIMEOUT_SECONDS,
                )
                snapshot = Snapshot(
                    phase, scenario, done.returncode, done.stdout + done.stderr, phase.at.date()
                )
                snapshots.append(snapshot)
                if done.returncode != 0:
                    break
                snapshot.served_trigger_ids = served_trigger_ids(infinity)
                snapshot.served_leads = served_leads(crm, scenario.first_day, snapshot.today)
            _observe(snapshot, warehouse, receivers)
        ledger: dict[str, Counter[str]] = {}
        if warehouse.exists():
            for target, status, count in _query(
                warehouse,
                "select target, status, count(*) from outbound.deliveries group by all",
            ):
                ledger.setdefault(target, Counter())[status] = count
        log = tmp / "dlt-state" / "runs.jsonl"
        runs = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        assert scenario is not None
        yield Journey(scenario, snapshots, ledger, runs)


def test_clock_travel_phases_are_where_the_calendar_bites() -> None:
    """The phase times themselves: a year end, a leap day, the London summer time change."""
    at = {phase.name: phase.at for phase in PHASES}
    assert at["across the year end"].year == at["a day later"].year + 1
    assert at["59 days later, on the leap day"].date() == date(2028, 2, 29)
    assert (at["59 days later, on the leap day"] - at["across the year end"]).days > 30
    before = at["summer time day, 00:45 UTC (GMT)"].astimezone(LONDON)
    after = at["summer time day, 01:05 UTC (BST)"].astimezone(LONDON)
    assert (before.utcoffset(), after.utcoffset()) == (timedelta(0), timedelta(hours=1))
    assert (before.hour, after.hour) == (0, 2), "the local clock jumps from 01:00 to 02:00"
    assert [p.at for p in PHASES] == sorted(p.at for p in PHASES)


def test_clock_travel_every_sync_succeeds_at_its_shifted_time(journey: Journey) -> None:
    snapshots = journey.completed()
    # runs.jsonl keeps each run's start by the CLI's own clock: each ran when it was told to.
    assert [run["started_at"][:16] for run in journey.runs] == [
        f"{s.phase.at:%Y-%m-%dT%H:%M}" for s in snapshots
    ]
    assert all(run["status"] == "ok" and run["command"] == "sync" for run in journey.runs)


def test_clock_travel_triggers_equal_the_source_after_every_phase(journey: Journey) -> None:
    for snapshot in journey.completed():
        served = snapshot.served_trigger_ids
        assert served, snapshot.label()
        assert snapshot.rejected_ids == {UNREADABLE_ROW_ID}, snapshot.label()
        missing = sorted(served - snapshot.trigger_ids - snapshot.rejected_ids)[:10]
        extra = sorted(snapshot.trigger_ids - served)[:10]
        assert snapshot.trigger_ids == served - {UNREADABLE_ROW_ID}, (
            f"{snapshot.label()}: missing {missing}, not served {extra}"
        )


def test_clock_travel_leads_and_statuses_equal_the_source_after_every_phase(
    journey: Journey,
) -> None:
    for snapshot in journey.completed():
        served, loaded = snapshot.served_leads, snapshot.leads
        assert served, snapshot.label()
        missing = sorted(served.keys() - loaded.keys())[:5]
        extra = sorted(loaded.keys() - served.keys())[:5]
        assert loaded.keys() == served.keys(), (
            f"{snapshot.label()}: missing {missing}, extra {extra}"
        )
        wrong = {
            lead_id: (loaded[lead_id], lead)
            for lead_id, lead in served.items()
            if loaded[lead_id] != lead
        }
        assert not wrong, (
            f"{snapshot.label()}: {len(wrong)} lead(s) differ, e.g. {list(wrong.items())[:3]}"
        )
        # The cursor: the last complete day is the day before the run, month or year end or not.
        assert snapshot.leads_complete_through == str(snapshot.today - timedelta(days=1)), (
            snapshot.label()
        )


def test_clock_travel_each_run_brings_new_calls_new_leads_and_status_changes(
    journey: Journey,
) -> None:
    """Every later run loads its new calls and leads, and sees exactly the leads of the
    lookback that the scenario moved on to `customer` since the run before."""
    snapshots = journey.completed()
    for before, after in pairwise(snapshots):
        if not after.phase.new_run:
            continue
        assert after.trigger_ids > before.trigger_ids, after.label()
        assert after.leads.keys() > before.leads.keys(), after.label()
        changed = {
            lead_id
            for lead_id, lead in before.leads.items()
            if after.leads[lead_id].status != lead.status
        }
        moved = {lead for lead, _ in after.scenario.status_changes()} - {
            lead for lead, _ in before.scenario.status_changes()
        }
        assert changed == moved & before.leads.keys(), after.label()
        assert {after.leads[lead_id].status for lead_id in changed} <= {"customer"}
    day_later = next(s for s in snapshots if s.phase.name == "a day later")
    previous = snapshots[snapshots.index(day_later) - 1]
    assert any(
        day_later.leads[lead_id].status != lead.status for lead_id, lead in previous.leads.items()
    ), "the day-later run should see leads of the lookback become customers"


def test_clock_travel_delivers_every_sendable_conversion_once_per_target(
    journey: Journey,
) -> None:
    snapshots = journey.completed()
    for snapshot in snapshots:
        for target, sendable in snapshot.sendable.items():
            received = set(snapshot.received[target])
            assert received == sendable, (
                f"{snapshot.label()} {target}: not delivered {sorted(sendable - received)[:5]}, "
                f"delivered but not sendable {sorted(received - sendable)[:5]}"
            )
    final = snapshots[-1]
    assert not any(final.refused.values()), final.refused
    # Nothing failed, pending or unknown: every ledger row is sent or skipped.
    assert {status for counts in journey.ledger.values() for status in counts} <= {
        "sent",
        "skipped",
    }, journey.ledger
    for target, received in final.received.items():
        twice = {outbound_id: n for outbound_id, n in received.items() if n != 1}
        assert not twice, f"{target}: received more than once: {twice}"
        assert received.total() == len(final.sendable[target]) > 0, target
        assert journey.ledger[target]["sent"] == received.total(), journey.ledger
    # Conversions kept arriving along the way, not only at the start.
    sent_by_phase = [snapshot.received["gameball"].total() for snapshot in snapshots]
    assert sent_by_phase[-1] > sent_by_phase[0] > 0, sent_by_phase


def test_clock_travel_idle_sync_loads_and_sends_nothing(journey: Journey) -> None:
    *_, last_busy, idle = journey.completed()
    assert not idle.phase.new_run
    assert idle.receiver_requests == last_busy.receiver_requests
    assert idle.max_load_ids == last_busy.max_load_ids
    assert idle.leads == last_busy.leads
    assert idle.trigger_ids == last_busy.trigger_ids
