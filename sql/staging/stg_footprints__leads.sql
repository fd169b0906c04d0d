-- grain: lead_id
-- one row per Footprints lead
with

source as (
    select * from footprints.leads
),

renamed as (
    select
        id as lead_id,
        created_at,
        status,
        timestamp_status_change as status_changed_at,
        cast(contract_value as double) as contract_value,
        cast(sku__price as double) as sku_price,
        cast(offer__price as double) as offer_price,
        user_phone_e164 as phone_e164,
        -- the number as the lead wrote it, which phone_e164 was read from
        cast(user_phone as text) as phone_raw,
        user_email as email,
        client_id,
        user_external_id
    from source
)

select * from renamed
