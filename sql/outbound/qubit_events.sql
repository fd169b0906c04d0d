-- grain: qubit_event_id
-- one row per conversion, as a Qubit event; rows that cannot be sent carry a skip_reason
with

conversions as (
    select * from analytics.conversions
),

settings as (
    select
        qubit_vertical,
        qubit_source
    from staging.model_settings
),

events as (
    select
        md5('qubit:' || conversions.lead_id) as qubit_event_id,
        conversions.lead_id,
        conversions.converted_at,
        conversions.qubit_visitor_id as context__id,
        -- the reference's table of verticals: the transaction event, and the object holding
        -- the total (total_object.total.value and .currency in the payload)
        case settings.qubit_vertical
            when 'ecommerce' then 'ecBasketTransactionSummary'
            when 'egaming' then 'egBetslipTransactionSummary'
            when 'publisher' then 'pbBasketTransactionSummary'
            when 'logistics' then 'loBasketTransactionSummary'
            when 'travel' then 'trPackageTransactionSummary'
            when 'finance' then 'fiBasketTransactionSummary'
        end as meta__type,
        -- ms since the epoch; not epoch_ms(ts), which sqlglot reads as ms -> timestamp
        date_diff('millisecond', timestamp '1970-01-01', conversions.converted_at) as meta__ts,
        settings.qubit_source as meta__source,
        case settings.qubit_vertical
            when 'egaming' then 'betslip'
            when 'travel' then 'package'
            else 'basket'
        end as total_object,
        conversions.value as total__value,
        conversions.currency as total__currency,
        -- Qubit de-duplicates on transaction.id: the CRM's own id for the sale
        conversions.lead_id as transaction__id,
        case
            when conversions.attributed_call_id is null then 'no_attributed_call'
            when conversions.qubit_visitor_id is null then 'no_qubit_visitor_id'
            when conversions.converted_at is null then 'no_conversion_time'
            when conversions.value is null then 'no_value'
            when conversions.currency is null then 'no_currency'
        end as skip_reason
    from conversions
    cross join settings
)

select * from events
