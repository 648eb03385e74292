-- stg_billing_usage: provider-reported token counts per bucket, project/workspace, key, model.
-- columns:
--   usage_day: UTC date the usage bucket starts on
with source as (
    select * from lake_billing_usage
),

final as (
    select * exclude (day), cast(bucket_start_at as date) as usage_day
    from source
)

select * from final
