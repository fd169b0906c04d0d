-- grain: trigger_id
-- one row per Infinity trigger (a call, a visit or a goal)
with

source as (
    select * from infinity.triggers
),

renamed as (
    select
        row_id as trigger_id,
        trigger_datetime as triggered_at,
        act as action,
        caller_phone_e164,
        -- Infinity sends '' for a field that a trigger does not carry
        nullif(ch_name, '') as channel_name,
        nullif(ch_type, '') as channel_type,
        nullif(src, '') as source,
        nullif(campaign, '') as campaign,
        nullif(ad_group, '') as ad_group,
        nullif(term, '') as search_term,
        nullif(vid, '') as visitor_id,
        call_duration as call_duration_seconds
    from source
)

select * from renamed
