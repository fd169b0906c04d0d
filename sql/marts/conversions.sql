-- grain: lead_id
-- one row per lead that reached a converted status, with its attributed call if it has one
with

converted as (
    select * from intermediate.int_leads_converted
),

-- inner joins: every matched call is a trigger, and they let the warehouse read the triggers
-- for the matched calls only
attributed as (
    select
        matches.lead_id,
        matches.call_id,
        matches.called_at,
        calls.channel_name,
        calls.channel_type,
        calls.source,
        calls.campaign,
        calls.ad_group,
        calls.search_term,
        custom_fields.qubit_visitor_id,
        custom_fields.ga_client_id
    from intermediate.int_calls_matched_to_leads as matches
    inner join staging.stg_infinity__triggers as calls
        on calls.trigger_id = matches.call_id
    inner join staging.stg_infinity__trigger_custom_fields as custom_fields
        on custom_fields.trigger_id = matches.call_id
    where matches.call_rank = 1
),

final as (
    select
        converted.lead_id,
        converted.lead_status,
        converted.lead_created_at,
        converted.converted_at,
        converted.value,
        converted.value_source,
        converted.currency,
        converted.phone_e164,
        converted.email,
        converted.client_id,
        converted.user_external_id,
        converted.gameball_player_id,
        attributed.call_id as attributed_call_id,
        attributed.called_at as attributed_called_at,
        attributed.channel_name,
        attributed.channel_type,
        attributed.source,
        attributed.campaign,
        attributed.ad_group,
        attributed.search_term,
        attributed.qubit_visitor_id,
        attributed.ga_client_id
    from converted
    left join attributed
        on attributed.lead_id = converted.lead_id
)

select * from final
