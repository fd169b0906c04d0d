"""Model build time at two sizes, and the incremental rebuild after a sync, against a full one.

What is measured, for 1,000,000 triggers and 100,000 leads, then 10,000,000 and 1,000,000:

1. First build: `build_models` on a warehouse holding only the raw tables (a full build).
2. A sync (not timed): 1% new triggers and 1% new leads, each in a new load (a new
   `_dlt_load_id`, listed as complete in `_dlt_loads`, as dlt does); and, as Footprints'
   look-back re-reads recent leads, 1% of the leads created in the last 30 days re-loaded in
   that load with a new status (customer).
3. Incremental: `build_models` again: it must choose an incremental build.
4. Full: the same warehouse, copied, built with `full=True`: the denominator of the ratio.
5. Check: every table past staging is the same after 3 as after 4 (EXCEPT ALL both ways).

Each build runs in its own process (`--build`), and its time is measured there, around the
`build_models` call (interpreter start and imports excluded; connecting, the transaction's
commit and DuckDB's checkpoint on close included). Peak memory is that process's max RSS
(`wait4`). Steps 1 to 5 are repeated `--repeats` times per size, from the same raw data, and
the medians are reported.

Raw data is generated in DuckDB with SQL (`range()` and `hash()`, so the same every run): a
year of triggers (45% calls, 5% callBlegStart, 10% outgoing calls and charges, the rest
visits and goals; a pool of one caller number per 5 triggers, so callers repeat), and leads
of which 55% were created up to 10 days after a trigger from their number (when that
trigger was a call they match), the others created through the year with a number from the
pool or none (the number as written: one in four national, the rest E.164). About 40% of
leads match a call; 20% are customers. Only the columns the
models read are generated, with the types the extract gives them, plus `_dlt_load_id`
(one load a day) and `_dlt_id`.

Targets (the issue): 10x the data within 12x the full build time; incremental at most 0.2 of
the full build.

Run: `make bench`, or `.venv/bin/python -m bench.models_build --sizes 100000:10000
--repeats 1` for a quick check. The table is printed and written to
bench/results/models_build.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from bench.report import markdown_table, note

RESULTS = Path(__file__).resolve().parent / "results" / "models_build.md"
ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1_000_000, 100_000), (10_000_000, 1_000_000))
START = "2025-01-01"
EPOCH_START = 1735689600  # START as a Unix timestamp: dlt's load ids are Unix timestamps
DAYS = 365
ROW_ID_OFFSET = 100_000  # Infinity's rowIds do not start at 1
SYNC_FRACTION = 0.01
STATUS_CHANGE_FRACTION = 0.01  # of the leads created in the look-back
LOOKBACK_DAYS = 30
# Every table past staging: what an incremental build must leave as a full build does.
COMPARED = (
    "intermediate.int_calls_matched_to_leads",
    "intermediate.int_leads_converted",
    "analytics.call_lead_matches",
    "analytics.conversions",
    "outbound.qubit_events",
    "outbound.owox_hits",
    "outbound.gameball_events",
    "analytics.lead_match_diagnostics",
    "analytics.daily_funnel",  # a view over the others and the (empty) ledger
)

SCHEMA_SQL = """
create schema infinity;
create schema footprints;
create table infinity.triggers (
    row_id bigint not null,
    trigger_datetime timestamp,
    act varchar,
    caller_phone_e164 varchar,
    ch_name varchar,
    ch_type varchar,
    src varchar,
    campaign varchar,
    ad_group varchar,
    term varchar,
    vid varchar,
    call_duration integer,
    c_qubit_visitor_id varchar,
    c_ga_client_id varchar,
    _dlt_load_id varchar not null,
    _dlt_id varchar not null
);
create table footprints.leads (
    id varchar not null,
    created_at timestamp,
    status varchar,
    timestamp_status_change timestamp,
    contract_value double,
    sku__price bigint,
    offer__price bigint,
    user_phone varchar,
    user_phone_e164 varchar,
    user_email varchar,
    client_id varchar,
    user_external_id varchar,
    _dlt_load_id varchar not null,
    _dlt_id varchar not null
);
create table infinity._dlt_loads (
    load_id varchar not null, schema_name varchar, status bigint not null,
    inserted_at timestamp with time zone not null, schema_version_hash varchar
);
create table footprints._dlt_loads (
    load_id varchar not null, schema_name varchar, status bigint not null,
    inserted_at timestamp with time zone not null, schema_version_hash varchar
);
"""

# Triggers {first} .. {last} - 1, one every {seconds_per_row} s from START.
TRIGGERS_SQL = """
insert into infinity.triggers
with numbered as (
    select
        i,
        cast(hash(i, 'act') % 100 as integer) as a,
        cast(hash(i, 'phone') % {phones} as bigint) as p,
        cast(hash(i, 'channel') % 5 as integer) as c,
        cast(hash(i, 'custom') % 10 as integer) as f,
        timestamp '{start}' + to_seconds(
            cast(i * {seconds_per_row} as bigint) + cast(hash(i, 'jitter') % 600 as bigint)
        ) as happened_at
    from range({first}, {last}) as r(i)
)
select
    i + {offset} as row_id,
    happened_at as trigger_datetime,
    case
        when a < 45 then 'call'
        when a < 50 then 'callBlegStart'
        when a < 55 then 'callUser'
        when a < 60 then 'callRate'
        when a < 85 then 'land'
        else 'goal'
    end as act,
    -- calls and charges carry the caller's number, one in 20 of them withheld
    case when a < 60 and a % 20 <> 7 then '+4477' || lpad(cast(p as varchar), 8, '0') end
        as caller_phone_e164,
    ['Google Ads', 'Bing Ads', 'Direct', 'Email', 'Organic'][c + 1] as ch_name,
    ['ppc', 'ppc', 'direct', 'email', 'organic'][c + 1] as ch_type,
    ['google', 'bing', '', 'newsletter', 'google'][c + 1] as src,
    case when c < 2 then 'Campaign ' || (i % 37) else '' end as campaign,
    case when c < 2 then 'Ad group ' || (i % 101) else '' end as ad_group,
    case when c < 2 then 'term ' || (i % 997) else '' end as term,
    'vid-' || (i % 5000000) as vid,
    cast(case when a < 60 then hash(i, 'duration') % 900 end as integer) as call_duration,
    case when f < 7 then 'qv-' || (i % 5000000) when f < 9 then '' end as c_qubit_visitor_id,
    case when f < 6 then (i % 5000000) || '.1789000000' when f < 9 then '' end
        as c_ga_client_id,
    {load_id} as _dlt_load_id,
    substr(md5('t' || i), 1, 14) as _dlt_id
from numbered
"""

# Leads {first} .. {last} - 1. 55% pick a trigger among {pick_count} from row {pick_first}
# and, when it has a number, are created up to 10 days after it, from that number.
LEADS_SQL = """
insert into footprints.leads
with picks as (
    select
        j,
        {pick_first} + cast(hash(j, 'pick') % {pick_count} as bigint) + {offset} as row_id,
        cast(hash(j, 'kind') % 100 as integer) as kind,
        cast(hash(j, 'status') % 100 as integer) as s,
        cast(hash(j, 'value') % 100 as integer) as v
    from range({first}, {last}) as r(j)
),
sourced as (
    select
        picks.*,
        case
            when kind < 55 and calls.caller_phone_e164 is not null
                then calls.trigger_datetime
                    + to_seconds(cast(hash(j, 'lag') % 864000 as bigint))
            else timestamp '{start}' + to_seconds(
                cast({time_first} + (j - {first}) * {seconds_per_row} as bigint)
            )
        end as created_at,
        case
            when kind < 55 and calls.caller_phone_e164 is not null then calls.caller_phone_e164
            when kind < 95
                then '+4477' || lpad(cast(hash(j, 'phone') % {phones} as varchar), 8, '0')
        end as phone
    from picks
    left join infinity.triggers as calls
        on calls.row_id = picks.row_id
)
select
    'L' || lpad(cast(j as varchar), 9, '0') as id,
    created_at,
    case when s < 20 then 'customer' when s < 70 then 'lead' when s < 85 then 'prospect'
        else 'lost' end as status,
    case when s >= 20 and s < 70 then created_at
        else created_at + to_seconds(cast(hash(j, 'change') % 1728000 as bigint)) end
        as timestamp_status_change,
    case when v < 50 then round(100 + (hash(j, 'contract') % 500000) / 100.0, 2) end
        as contract_value,
    cast(case when v < 80 then 50 + hash(j, 'sku') % 5000 end as bigint) as sku__price,
    cast(case when v < 95 then 40 + hash(j, 'offer') % 4000 end as bigint) as offer__price,
    -- as the lead wrote it: mostly E.164, one in four the national form
    case when v % 4 = 0 then '0' || substr(phone, 4) else phone end as user_phone,
    phone as user_phone_e164,
    case when v % 10 < 8 then 'lead' || j || '@example.com' end as user_email,
    case when v % 10 < 9 then 'client-' || j end as client_id,
    'EXT-' || j as user_external_id,
    {load_id} as _dlt_load_id,
    substr(md5('l' || j), 1, 14) as _dlt_id
from sourced
"""

LOADS_SQL = """
insert into {schema}._dlt_loads
select distinct _dlt_load_id, '{schema}', 0, now(), 'bench'
from {table}
where _dlt_load_id not in (select load_id from {schema}._dlt_loads)
"""


def _daily_load_id(column: str) -> str:
    """A load a day: the id of the load the day after `column`'s day, as dlt writes ids."""
    return (
        f"cast({EPOCH_START} + (date_diff('day', timestamp '{START}', {column}) + 1) * 86400 "
        "as varchar) || '.000001'"
    )


def _record_loads(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("infinity.triggers", "footprints.leads"):
        schema = table.split(".")[0]
        con.execute(LOADS_SQL.format(schema=schema, table=table))


def generate(path: Path, triggers: int, leads: int) -> None:
    """The raw tables as a year of daily syncs left them."""
    with duckdb.connect(str(path)) as con:
        con.execute(SCHEMA_SQL)
        con.execute(
            TRIGGERS_SQL.format(
                first=0,
                last=triggers,
                phones=triggers // 5,
                seconds_per_row=DAYS * 86400 / triggers,
                start=START,
                offset=ROW_ID_OFFSET,
                load_id=_daily_load_id("happened_at"),
            )
        )
        con.execute(
            LEADS_SQL.format(
                first=0,
                last=leads,
                pick_first=0,
                pick_count=triggers,
                offset=ROW_ID_OFFSET,
                start=START,
                time_first=0,
                seconds_per_row=DAYS * 86400 / leads,
                phones=triggers // 5,
                load_id=_daily_load_id("created_at"),
            )
        )
        _record_loads(con)


def sync(path: Path, triggers: int, leads: int) -> dict[str, int]:
    """One more sync into `path`, in one new load; returns what it wrote."""
    new_triggers, new_leads = int(triggers * SYNC_FRACTION), int(leads * SYNC_FRACTION)
    seconds_per_trigger = DAYS * 86400 / triggers
    with duckdb.connect(str(path)) as con:
        # the next day's load: after every load so far
        ((last,),) = con.execute(
            "select max(cast(split_part(load_id, '.', 1) as bigint)) from "
            "(from infinity._dlt_loads union all from footprints._dlt_loads)"
        ).fetchall()
        load_id = f"'{last + 86400}.000001'"
        con.execute(
            TRIGGERS_SQL.format(
                first=triggers,
                last=triggers + new_triggers,
                phones=triggers // 5,
                seconds_per_row=seconds_per_trigger,
                start=START,
                offset=ROW_ID_OFFSET,
                load_id=load_id,
            )
        )
        # New leads follow recent triggers (the last 2% before the sync and the new ones).
        con.execute(
            LEADS_SQL.format(
                first=leads,
                last=leads + new_leads,
                pick_first=triggers - 2 * new_triggers,
                pick_count=3 * new_triggers,
                offset=ROW_ID_OFFSET,
                start=START,
                time_first=DAYS * 86400,
                seconds_per_row=new_triggers * seconds_per_trigger / new_leads,
                phones=triggers // 5,
                load_id=load_id,
            )
        )
        # Footprints re-reads recent leads: some changed status, and are merged again.
        changed_where = (
            f"created_at >= timestamp '{START}' + interval {DAYS - LOOKBACK_DAYS} day "
            f"and _dlt_load_id < {load_id} and status <> 'customer' "
            f"and hash(id, 'changed') % {round(1 / STATUS_CHANGE_FRACTION)} = 0"
        )
        ((changed,),) = con.execute(
            f"select count(*) from footprints.leads where {changed_where}"
        ).fetchall()
        # as dlt's merge (delete-insert) does: the old rows go, the new ones are appended
        con.execute(
            f"create temp table changed as select * replace ("
            f"'customer' as status, "
            f"timestamp '{START}' + interval {DAYS} day as timestamp_status_change, "
            f"{load_id} as _dlt_load_id) from footprints.leads where {changed_where}"
        )
        con.execute("delete from footprints.leads where id in (select id from changed)")
        con.execute("insert into footprints.leads select * from changed")
        _record_loads(con)
    return {"triggers": new_triggers, "leads": new_leads, "status_changes": int(changed)}


@dataclass(frozen=True)
class Build:
    seconds: float
    max_rss_kib: int
    mode: str
    reason: str
    changed_leads: int | None
    match_rate: float


class BenchError(RuntimeError):
    """A build failed or produced the wrong data: the figures would be meaningless."""


def run_build(path: Path, full: bool = False) -> Build:
    """`build_models` on `path` in a process of its own (`--build`)."""
    command = [sys.executable, "-m", "bench.models_build", "--build", str(path)]
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            command + (["--full"] if full else []), cwd=ROOT, env=env, stdout=out
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise BenchError(f"the build of {path} exited with {process.returncode}")
        out.seek(0)
        result = json.loads(out.read())
    return Build(max_rss_kib=usage.ru_maxrss, **result)


def build_here(path: Path, full: bool) -> int:
    """The child's side of `run_build`: one build, its figures as JSON on stdout."""
    import dlt

    from pipelines.models.build import build_models
    from pipelines.models.settings import ModelSettings

    destination = dlt.destinations.duckdb(str(path))
    config = ModelSettings(currency="RON", owox_tid="UA-12345-1")
    started = time.perf_counter()
    report = build_models(destination, config=config, full=full)
    seconds = time.perf_counter() - started
    result = {
        "seconds": seconds,
        "mode": report.mode,
        "reason": report.reason,
        "changed_leads": report.changed_leads,
        "match_rate": report.match_rate,
    }
    print(json.dumps(result))
    return 0


def differences(left: Path, right: Path) -> dict[str, int]:
    """Rows of each compared table that are in one warehouse and not the other."""
    with duckdb.connect() as con:
        con.execute(f"attach '{left}' as a (read_only)")
        con.execute(f"attach '{right}' as b (read_only)")
        found = {}
        for table in COMPARED:
            ((count,),) = con.execute(
                f"select (select count(*) from (from a.{table} except all from b.{table})) "
                f"+ (select count(*) from (from b.{table} except all from a.{table}))"
            ).fetchall()
            found[table] = int(count)
    return found


@dataclass
class SizeResult:
    triggers: int
    leads: int
    first: list[Build]
    incremental: list[Build]
    full: list[Build]
    synced: dict[str, int]

    @staticmethod
    def median(builds: list[Build]) -> float:
        return statistics.median(b.seconds for b in builds)

    @property
    def peak_mib(self) -> float:
        return max(b.max_rss_kib for b in self.first + self.incremental + self.full) / 1024


def measure(triggers: int, leads: int, repeats: int, workdir: Path) -> SizeResult:
    raw = workdir / f"raw-{triggers}.duckdb"
    started = time.perf_counter()
    generate(raw, triggers, leads)
    seconds = time.perf_counter() - started
    note(f"{triggers:,} triggers and {leads:,} leads generated in {seconds:.0f} s")
    result = SizeResult(triggers, leads, [], [], [], {})
    for attempt in range(1, repeats + 1):
        warehouse, copy = workdir / "warehouse.duckdb", workdir / "full.duckdb"
        shutil.copyfile(raw, warehouse)
        first = run_build(warehouse)
        if first.mode != "full":
            raise BenchError(f"the first build was {first.mode}: {first.reason}")
        result.synced = sync(warehouse, triggers, leads)
        incremental = run_build(warehouse)
        if incremental.mode != "incremental":
            raise BenchError(
                f"the build after the sync was {incremental.mode}: {incremental.reason}"
            )
        shutil.copyfile(warehouse, copy)
        full = run_build(copy, full=True)
        if differs := {t: n for t, n in differences(warehouse, copy).items() if n}:
            raise BenchError(f"incremental and full builds differ (rows per table): {differs}")
        result.first.append(first)
        result.incremental.append(incremental)
        result.full.append(full)
        note(
            f"{triggers:,}: first {first.seconds:.2f} s, incremental {incremental.seconds:.2f} s "
            f"({incremental.changed_leads:,} leads), full {full.seconds:.2f} s "
            f"({attempt}/{repeats}); tables identical"
        )
        for path in (warehouse, copy):
            path.unlink()
    raw.unlink()
    return result


def report_rows(results: list[SizeResult], repeats: int) -> list[tuple[str, str]]:
    rows = [("nproc", str(len(os.sched_getaffinity(0))))]
    for r in results:
        size = f"{r.triggers:,} triggers / {r.leads:,} leads"
        full_s, incremental_s = SizeResult.median(r.full), SizeResult.median(r.incremental)
        rows += [
            (f"{size}: match rate", f"{r.full[-1].match_rate:.1%}"),
            (
                f"{size}: sync adds",
                f"{r.synced['triggers']:,} triggers, {r.synced['leads']:,} leads, "
                f"{r.synced['status_changes']:,} status changes",
            ),
            (f"{size}: first build s (median of {repeats})", f"{SizeResult.median(r.first):.2f}"),
            (f"{size}: full build after the sync s", f"{full_s:.2f}"),
            (
                f"{size}: incremental build s",
                f"{incremental_s:.2f} ({r.incremental[-1].changed_leads:,} leads redone)",
            ),
            (f"{size}: incremental / full (target <= 0.2)", f"{incremental_s / full_s:.2f}"),
            (
                f"{size}: full s, each run",
                ", ".join(f"{b.seconds:.2f}" for b in r.full),
            ),
            (
                f"{size}: incremental s, each run",
                ", ".join(f"{b.seconds:.2f}" for b in r.incremental),
            ),
            (f"{size}: peak RSS MiB (any build)", f"{r.peak_mib:.0f}"),
        ]
    if len(results) == 2:
        small, large = results
        scale = large.triggers / small.triggers
        ratio = SizeResult.median(large.full) / SizeResult.median(small.full)
        rows.append(
            (
                f"full build, {scale:.0f}x the data (target <= {scale * 1.2:.0f}x)",
                f"{ratio:.1f}x the time",
            )
        )
    return rows


def size_pair(text: str) -> tuple[int, int]:
    triggers, _, leads = text.partition(":")
    pair = int(triggers), int(leads)
    if pair[0] < 1000 or pair[1] < 100:
        raise argparse.ArgumentTypeError("at least 1000 triggers and 100 leads")
    return pair


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.models_build", description=__doc__)
    parser.add_argument(
        "--sizes",
        type=lambda text: [size_pair(part) for part in text.split(",")],
        default=list(SIZES),
        help="triggers:leads,... (default 1000000:100000,10000000:1000000)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each build")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        return build_here(args.build, args.full)
    repeats = max(1, args.repeats)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
            results = [measure(t, n, repeats, Path(tmp)) for t, n in args.sizes]
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    table = markdown_table(report_rows(results, repeats))
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sizes = ",".join(f"{t}:{n}" for t, n in args.sizes)
    RESULTS.write_text(
        f"`python -m bench.models_build --sizes {sizes} --repeats {repeats}`, {stamp}\n\n{table}\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
