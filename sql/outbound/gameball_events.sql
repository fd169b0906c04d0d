-- grain: gameball_event_id
-- one row per conversion, as a Gameball event; rows that cannot be sent carry a skip_reason
with

conversions as (
    select * from analytics.conversions
),

settings as (
    select gameball_event_name from staging.model_settings
),

events as (
    select
        md5('gameball:' || conversions.lead_id) as gameball_event_id,
        conversions.lead_id,
        conversions.converted_at,
        conversions.gameball_player_id as player_unique_id,
        conversions.phone_e164 as mobile,
        conversions.email,
        settings.gameball_event_name as event_name,
        conversions.value as metadata__total_amount,
        conversions.currency as metadata__currency,
        conversions.lead_id as metadata__lead_id,
        conversions.channel_name as metadata__channel,
        conversions.source as metadata__source,
        conversions.campaign as metadata__campaign,
        case
            when conversions.gameball_player_id is null then 'no_player_id'
        end as skip_reason
    from conversions
    cross join settings
)

select * from events
