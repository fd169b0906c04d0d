-- grain: lead_id
-- one row per lead whose status is a converted status, with its value and target identifiers
with

leads as (
    select * from staging.stg_footprints__leads
    where status in (select status from staging.model_converted_statuses)
),

settings as (
    select
        currency,
        gameball_player_id
    from staging.model_settings
),

converted as (
    select
        leads.lead_id,
        leads.status as lead_status,
        leads.created_at as lead_created_at,
        leads.status_changed_at as converted_at,
        coalesce(leads.contract_value, leads.sku_price, leads.offer_price) as value,
        case
            when leads.contract_value is not null then 'contract_value'
            when leads.sku_price is not null then 'sku_price'
            when leads.offer_price is not null then 'offer_price'
        end as value_source,
        settings.currency,
        leads.phone_e164,
        leads.email,
        leads.client_id,
        leads.user_external_id,
        case settings.gameball_player_id
            when 'user_external_id' then leads.user_external_id
            else leads.client_id
        end as gameball_player_id
    from leads
    cross join settings
)

select * from converted
