-- grain: lead_id, call_id
-- one row per lead and call from its phone number in the attribution window before the lead
with

leads as (
    select
        lead_id,
        created_at,
        phone_e164
    from staging.stg_footprints__leads
    where phone_e164 is not null
),

settings as (
    select attribution_window_days from staging.model_settings
),

-- the earliest call any of these leads can match: older triggers need not be read at all,
-- so a build for a few recent leads reads only recent triggers
earliest as (
    select
        min(leads.created_at) - interval (max(settings.attribution_window_days)) day
            as called_at
    from leads
    cross join settings
),

calls as (
    select
        trigger_id,
        triggered_at,
        caller_phone_e164
    from staging.stg_infinity__triggers
    -- callUser is a PBX user dialling out and callRate a charge record: no customer calling
    where action in ('call', 'callBlegStart')
        and caller_phone_e164 is not null
        and triggered_at >= (select called_at from earliest)
),

matched as (
    select
        leads.lead_id,
        calls.trigger_id as call_id,
        leads.phone_e164,
        leads.created_at as lead_created_at,
        calls.triggered_at as called_at,
        -- 1 is the last call before the lead; of calls in the same second, the later trigger
        row_number() over (
            partition by leads.lead_id
            order by calls.triggered_at desc, calls.trigger_id desc
        ) as call_rank
    from leads
    inner join calls
        on calls.caller_phone_e164 = leads.phone_e164
    cross join settings
    where calls.triggered_at <= leads.created_at
        and calls.triggered_at >= leads.created_at - interval (settings.attribution_window_days) day
)

select * from matched
