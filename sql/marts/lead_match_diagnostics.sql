-- grain: lead_id
-- one row per lead, matched or not: how its number was read and where the calls from it fall
with

leads as (
    select
        lead_id,
        created_at,
        phone_e164,
        phone_raw
    from staging.stg_footprints__leads
),

-- every trigger from a number, at any time; only calls (as the match model counts them: a
-- customer calling) count below. Filtered here, they look fewer than the leads to DuckDB,
-- which then holds all of them in the join's hash table (a third more memory at 10M)
triggers as (
    select
        triggered_at,
        caller_phone_e164,
        action in ('call', 'callBlegStart') as is_call
    from staging.stg_infinity__triggers
),

calls_from_number as (
    select
        leads.lead_id,
        count(case when triggers.is_call then 1 end) as calls_from_number,
        max(
            case
                when triggers.is_call and triggers.triggered_at <= leads.created_at
                    then triggers.triggered_at
            end
        ) as nearest_call_before_at,
        min(
            case
                when triggers.is_call and triggers.triggered_at > leads.created_at
                    then triggers.triggered_at
            end
        ) as nearest_call_after_at
    from leads
    inner join triggers
        on triggers.caller_phone_e164 = leads.phone_e164
    group by leads.lead_id
),

matches as (
    select
        lead_id,
        count(*) as matched_calls
    from intermediate.int_calls_matched_to_leads
    group by lead_id
),

diagnosed as (
    select
        leads.lead_id,
        leads.created_at,
        leads.phone_e164,
        case
            when leads.phone_raw is null or trim(leads.phone_raw) = '' then 'empty'
            when leads.phone_e164 is null then 'unparseable'
            -- the extract reads numbers that differ only in these characters as one
            when replace(replace(replace(replace(replace(
                leads.phone_raw, ' ', ''), '(', ''), ')', ''), '.', ''), '-', '')
                = leads.phone_e164 then 'e164'
            else 'national'
        end as phone_raw_kind,
        case
            when matches.lead_id is not null then 'matched'
            when leads.phone_e164 is null then 'no_phone'
            when coalesce(calls_from_number.calls_from_number, 0) = 0
                then 'no_calls_from_number'
            when calls_from_number.nearest_call_before_at is not null
                then 'calls_only_before_window'
            else 'calls_only_after_lead'
        end as match_outcome,
        coalesce(calls_from_number.calls_from_number, 0) as calls_from_number,
        coalesce(matches.matched_calls, 0) as matched_calls,
        calls_from_number.nearest_call_before_at,
        calls_from_number.nearest_call_after_at
    from leads
    left join calls_from_number
        on calls_from_number.lead_id = leads.lead_id
    left join matches
        on matches.lead_id = leads.lead_id
)

select * from diagnosed
