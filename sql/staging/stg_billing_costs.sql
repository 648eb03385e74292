-- stg_billing_costs: one row per billed line item, from every billing source.
-- columns:
--   billing_month: first day of the UTC month the charge period starts in
--   charge_day: UTC date the charge period starts on
--   is_usd: billed in USD; other currencies are kept and flagged, never summed into USD
--   route_key: the line's billing route (api key, project/workspace, tags) as one value
with source as (
    select * from lake_billing_costs
),

final as (
    select
        * exclude (day),
        cast(date_trunc('month', charge_period_start) as date) as billing_month,
        cast(charge_period_start as date) as charge_day,
        billing_currency = 'USD' as is_usd,
        md5(to_json([to_json(api_key_id), to_json(sub_account_id), to_json(tags)])::varchar)
            as route_key
    from source
)

select * from final
