-- one row per lead that reached a converted status, with its attributed call if it has one
with

converted as (
    select * from intermediate.int_leads_converted
),

attributed as (
    select
        lead_id,
        call_id,
        called_at
    from intermediate.int_calls_matched_to_leads
    where call_rank = 1
),

calls as (
    select * from staging.stg_infinity__triggers
),

custom_fields as (
    select * from staging.stg_infinity__trigger_custom_fields
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
        calls.channel_name,
        calls.channel_type,
        calls.source,
        calls.campaign,
        calls.ad_group,
        calls.search_term,
        custom_fields.qubit_visitor_id,
        custom_fields.ga_client_id
    from converted
    left join attributed
        on attributed.lead_id = converted.lead_id
    left join calls
        on calls.trigger_id = attributed.call_id
    left join custom_fields
        on custom_fields.trigger_id = attributed.call_id
)

select * from final
