"""Stand-ins for the four tables the report reads that other branches of issue 15 build:
`analytics.lead_match_diagnostics`, `analytics.daily_funnel`, `ops.runs` and
`outbound.delivery_attempts`, with the columns of the shared interface.

Each is made from the real tables a sync leaves (and `ops.runs` from the run log,
runs.jsonl), and only when the warehouse does not have it yet: once those branches are
merged, the real tables are there, this helper does nothing, and it can be deleted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb

LEAD_MATCH_DIAGNOSTICS = """
create table analytics.lead_match_diagnostics as
with
settings as (select attribution_window_days as days from staging.model_settings),
leads as (
    select
        stg.lead_id,
        stg.created_at,
        stg.phone_e164,
        case
            when nullif(trim(raw.user_phone), '') is null then 'empty'
            when stg.phone_e164 is null then 'unparseable'
            when trim(raw.user_phone) like '+%' then 'e164'
            else 'national'
        end as phone_raw_kind
    from staging.stg_footprints__leads as stg
    inner join footprints.leads as raw on raw.id = stg.lead_id
),
calls as (
    select caller_phone_e164, triggered_at
    from staging.stg_infinity__triggers
    where action in ('call', 'callBlegStart') and caller_phone_e164 is not null
),
per_lead as (
    select
        leads.lead_id,
        count(calls.triggered_at) as calls_from_number,
        max(calls.triggered_at) filter (where calls.triggered_at <= leads.created_at)
            as nearest_call_before_at,
        min(calls.triggered_at) filter (where calls.triggered_at > leads.created_at)
            as nearest_call_after_at
    from leads
    left join calls on calls.caller_phone_e164 = leads.phone_e164
    group by leads.lead_id
),
matched as (
    select lead_id, count(*) as matched_calls
    from analytics.call_lead_matches
    group by lead_id
)
select
    leads.lead_id,
    leads.created_at,
    leads.phone_e164,
    leads.phone_raw_kind,
    case
        when matched.lead_id is not null then 'matched'
        when leads.phone_e164 is null then 'no_phone'
        when per_lead.calls_from_number = 0 then 'no_calls_from_number'
        when per_lead.nearest_call_before_at is null then 'calls_only_after_lead'
        else 'calls_only_before_window'
    end as match_outcome,
    per_lead.calls_from_number,
    coalesce(matched.matched_calls, 0) as matched_calls,
    per_lead.nearest_call_before_at,
    per_lead.nearest_call_after_at
from leads
inner join per_lead on per_lead.lead_id = leads.lead_id
left join matched on matched.lead_id = leads.lead_id
"""

_TARGET_TABLES = {
    "qubit": "outbound.qubit_events",
    "owox": "outbound.owox_hits",
    "gameball": "outbound.gameball_events",
}


def _daily_funnel() -> str:
    per_target = []
    for target, table in _TARGET_TABLES.items():
        per_target.append(
            f"""
{target}_rows as (
    select cast(converted_at as date) as day,
        count(*) filter (where skip_reason is null) as {target}_sendable,
        count(*) filter (where skip_reason is not null) as {target}_skipped
    from {table} group by 1
),
{target}_sent as (
    select cast(last_attempt_at as date) as day, count(*) as {target}_delivered
    from outbound.deliveries where target = '{target}' and status = 'sent' group by 1
)"""
        )
    joins = "".join(
        f" left join {t}_rows using (day) left join {t}_sent using (day)" for t in _TARGET_TABLES
    )
    columns = ", ".join(
        f"coalesce({t}_sendable, 0) as {t}_sendable, coalesce({t}_skipped, 0) as {t}_skipped, "
        f"coalesce({t}_delivered, 0) as {t}_delivered"
        for t in _TARGET_TABLES
    )
    return f"""
create view analytics.daily_funnel as
with
calls as (
    select cast(triggered_at as date) as day, count(*) as calls,
        count(distinct caller_phone_e164) as callers
    from staging.stg_infinity__triggers where action in ('call', 'callBlegStart') group by 1
),
leads as (
    select cast(created_at as date) as day, count(*) as leads,
        count(*) filter (where match_outcome = 'matched') as leads_matched
    from analytics.lead_match_diagnostics group by 1
),
conversions as (
    select cast(converted_at as date) as day, count(*) as conversions,
        sum(value) as conversion_value
    from analytics.conversions group by 1
),
{",".join(per_target)},
days as (
    select day from calls union select day from leads union select day from conversions
)
select
    days.day,
    coalesce(calls, 0) as calls,
    coalesce(callers, 0) as callers,
    coalesce(leads, 0) as leads,
    coalesce(leads_matched, 0) as leads_matched,
    cast(leads_matched as double) / nullif(leads, 0) as match_rate,
    coalesce(conversions, 0) as conversions,
    coalesce(conversion_value, 0) as conversion_value,
    {columns}
from days
left join calls using (day) left join leads using (day) left join conversions using (day)
{joins}
where days.day is not null
"""


OPS_RUNS = """
create table ops.runs (
    run_id varchar, command varchar, started_at timestamp, finished_at timestamp,
    seconds double, status varchar, error_kind varchar, rows varchar, rejected bigint,
    repaired bigint, cursors_before varchar, cursors_after varchar, model_mode varchar,
    model_reason varchar, push varchar, breaches varchar, notes varchar, error varchar,
    host varchar, recorded_at timestamp
)
"""

DELIVERY_ATTEMPTS = """
create table outbound.delivery_attempts as
select
    target, outbound_id, lead_id, last_attempt_at as attempted_at, status as outcome,
    http_status, message, cast(null as varchar) as run_id
from outbound.deliveries
where last_attempt_at is not null
"""


def add_missing_report_tables(warehouse: Path, runs_log: Path) -> list[str]:
    """Create, in the DuckDB file `warehouse`, whichever of the four tables it lacks;
    `ops.runs` from the run log `runs_log`. Returns the names of the tables it created."""
    created = []
    with duckdb.connect(str(warehouse)) as con:
        present = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        for schema in ("analytics", "ops", "outbound"):
            con.execute(f"create schema if not exists {schema}")
        if "analytics.lead_match_diagnostics" not in present:
            con.execute(LEAD_MATCH_DIAGNOSTICS)
            created.append("analytics.lead_match_diagnostics")
        if "analytics.daily_funnel" not in present:
            con.execute(_daily_funnel())
            created.append("analytics.daily_funnel")
        if "outbound.delivery_attempts" not in present:
            con.execute(DELIVERY_ATTEMPTS)
            created.append("outbound.delivery_attempts")
        if "ops.runs" not in present:
            con.execute(OPS_RUNS)
            con.executemany(
                "insert into ops.runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?, ?)",
                [_run_row(json.loads(line)) for line in runs_log.read_text().splitlines()],
            )
            created.append("ops.runs")
    return created


def _run_row(run: dict) -> tuple:
    rows = run["rows"]
    rejected = sum(n for table, n in rows.items() if table.endswith("rejected"))
    return (
        run["run_id"],
        run["command"],
        _utc(run["started_at"]),
        _utc(run["finished_at"]),
        run["seconds"],
        run["status"],
        run.get("error_kind"),
        json.dumps(rows),
        rejected,
        run["repaired"],
        json.dumps(run["cursors_before"]),
        json.dumps(run["cursors"]),
        run["model_mode"],
        run["model_reason"],
        json.dumps(run["push"]),
        json.dumps(run["breaches"]),
        json.dumps(run["notes"]),
        run["error"],
        "test-host",
        _utc(run["finished_at"]),
    )


def _utc(text: str | None) -> str | None:
    """An ISO time with an offset as DuckDB's naive UTC timestamp text."""
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
