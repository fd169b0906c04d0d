-- grain: day
-- one row per UTC day with any activity: calls, leads and their matches, conversions, sends
with

-- a customer calling, as the match model counts calls; withheld numbers count as calls
calls as (
    select
        cast(triggered_at as date) as day,
        count(*) as calls,
        count(distinct caller_phone_e164) as callers
    from staging.stg_infinity__triggers
    where action in ('call', 'callBlegStart')
        and triggered_at is not null
    group by cast(triggered_at as date)
),

leads as (
    select
        cast(created_at as date) as day,
        count(*) as leads,
        count(case when match_outcome = 'matched' then 1 end) as leads_matched
    from analytics.lead_match_diagnostics
    where created_at is not null
    group by cast(created_at as date)
),

conversions as (
    select
        cast(converted_at as date) as day,
        count(*) as conversions,
        -- summed exactly (NUMERIC on BigQuery): a sum of doubles depends on the rows' order
        cast(sum(cast(value as decimal(38, 9))) as double) as conversion_value
    from analytics.conversions
    where converted_at is not null
    group by cast(converted_at as date)
),

qubit as (
    select
        cast(converted_at as date) as day,
        count(*) - count(skip_reason) as sendable,
        count(skip_reason) as skipped
    from outbound.qubit_events
    where converted_at is not null
    group by cast(converted_at as date)
),

owox as (
    select
        cast(converted_at as date) as day,
        count(*) - count(skip_reason) as sendable,
        count(skip_reason) as skipped
    from outbound.owox_hits
    where converted_at is not null
    group by cast(converted_at as date)
),

gameball as (
    select
        cast(converted_at as date) as day,
        count(*) - count(skip_reason) as sendable,
        count(skip_reason) as skipped
    from outbound.gameball_events
    where converted_at is not null
    group by cast(converted_at as date)
),

-- the ledger: what was sent, by the day of its last attempt (the one that sent it)
delivered as (
    select
        cast(last_attempt_at as date) as day,
        count(case when target = 'qubit' then 1 end) as qubit,
        count(case when target = 'owox' then 1 end) as owox,
        count(case when target = 'gameball' then 1 end) as gameball
    from outbound.deliveries
    where status = 'sent'
        and last_attempt_at is not null
    group by cast(last_attempt_at as date)
),

days as (
    select day from calls
    union
    select day from leads
    union
    select day from conversions
    union
    select day from qubit
    union
    select day from owox
    union
    select day from gameball
    union
    select day from delivered
),

final as (
    select
        days.day,
        coalesce(calls.calls, 0) as calls,
        coalesce(calls.callers, 0) as callers,
        coalesce(leads.leads, 0) as leads,
        coalesce(leads.leads_matched, 0) as leads_matched,
        -- null on a day without leads: there is no rate to show
        cast(leads.leads_matched as double) / leads.leads as match_rate,
        coalesce(conversions.conversions, 0) as conversions,
        coalesce(conversions.conversion_value, 0) as conversion_value,
        coalesce(qubit.sendable, 0) as qubit_sendable,
        coalesce(qubit.skipped, 0) as qubit_skipped,
        coalesce(delivered.qubit, 0) as qubit_delivered,
        coalesce(owox.sendable, 0) as owox_sendable,
        coalesce(owox.skipped, 0) as owox_skipped,
        coalesce(delivered.owox, 0) as owox_delivered,
        coalesce(gameball.sendable, 0) as gameball_sendable,
        coalesce(gameball.skipped, 0) as gameball_skipped,
        coalesce(delivered.gameball, 0) as gameball_delivered
    from days
    left join calls
        on calls.day = days.day
    left join leads
        on leads.day = days.day
    left join conversions
        on conversions.day = days.day
    left join qubit
        on qubit.day = days.day
    left join owox
        on owox.day = days.day
    left join gameball
        on gameball.day = days.day
    left join delivered
        on delivered.day = days.day
)

select * from final
