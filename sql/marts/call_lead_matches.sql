-- grain: lead_id, call_id
-- one row per lead and call from its phone number in the attribution window before the lead
with

matches as (
    select * from intermediate.int_calls_matched_to_leads
),

calls as (
    select * from staging.stg_infinity__triggers
),

final as (
    select
        matches.lead_id,
        matches.call_id,
        matches.phone_e164,
        matches.lead_created_at,
        matches.called_at,
        date_diff('second', matches.called_at, matches.lead_created_at) as seconds_before_lead,
        matches.call_rank,
        matches.call_rank = 1 as is_attributed,
        calls.channel_name,
        calls.channel_type,
        calls.source,
        calls.campaign,
        calls.ad_group,
        calls.search_term,
        calls.visitor_id,
        calls.call_duration_seconds
    from matches
    inner join calls
        on calls.trigger_id = matches.call_id
)

select * from final
