-- grain: owox_hit_id
-- one row per conversion, as an OWOX BI hit; rows that cannot be sent carry a skip_reason
with

conversions as (
    select * from analytics.conversions
),

settings as (
    select owox_tid from staging.model_settings
),

hits as (
    select
        md5('owox:' || conversions.lead_id) as owox_hit_id,
        conversions.lead_id,
        conversions.converted_at,
        '1' as v,
        settings.owox_tid as tid,
        conversions.ga_client_id as cid,
        'event' as t,
        'offline conversion' as ec,
        conversions.lead_status as ea,
        conversions.lead_id as el,
        -- Measurement Protocol event values are whole numbers
        cast(round(conversions.value) as bigint) as ev,
        conversions.phone_e164 as tel,
        'call center' as ds,
        conversions.campaign as cn,
        conversions.source as cs,
        conversions.channel_type as cm,
        conversions.search_term as ck,
        -- qt is the time from the hit to its sending, so the push step computes it from this
        date_diff('millisecond', timestamp '1970-01-01', conversions.converted_at) as hit_ts,
        case
            when conversions.attributed_call_id is null then 'no_attributed_call'
            when conversions.ga_client_id is null then 'no_ga_client_id'
            when conversions.converted_at is null then 'no_conversion_time'
        end as skip_reason
    from conversions
    cross join settings
)

select * from hits
