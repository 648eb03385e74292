-- int_llm_call_keys: one row per distinct (provider, model, service tier, UTC day) of the
-- LLM calls, with what depends on nothing else: the price model the call's model resolves
-- to (`model_resolution`) and the config/prices.yaml overrides chosen for it (the most
-- specific entry wins). Deciding these once per key, not per call, and as a table of its
-- own (so the join back to the calls builds its hash table on these few rows), made the
-- price join ~3× faster (`make bench`, cost part).
-- materialized: slice
-- columns:
--   call_day: UTC day of the call's start
--   price_override: the override entry chosen for the per-token prices, with its prices (NULL: none)
--   multiplier_override: the override entry chosen for the cost multiplier (NULL: none)
with calls as (
    select provider, model, service_tier, cast(started_at as date) as call_day
    from int_spans__attributed
    where is_llm_call
),

call_keys as (
    select distinct
        calls.*,
        model_resolution.price_provider_id,
        model_resolution.price_model_id
    from (select distinct * from calls) as calls
    left join model_resolution
        on model_resolution.provider is not distinct from calls.provider
        and model_resolution.model = calls.model
),

overrides as (
    select * from price_overrides
),

matches as (
    select
        call_keys.*,
        overrides.entry,
        overrides.input_usd_per_mtok,
        overrides.output_usd_per_mtok,
        overrides.cache_read_usd_per_mtok,
        overrides.cache_write_usd_per_mtok,
        overrides.multiplier,
        overrides.precedence
    from call_keys
    join overrides
        on overrides.provider in (call_keys.provider, call_keys.price_provider_id)
        and (overrides.model is null
            or overrides.model in (call_keys.model, call_keys.price_model_id))
        and (overrides.service_tier is null
            or overrides.service_tier is not distinct from call_keys.service_tier)
        and (overrides.valid_from is null or call_keys.call_day >= overrides.valid_from)
        and (overrides.valid_to is null or call_keys.call_day < overrides.valid_to)
),

chosen as (
    select
        provider, model, price_provider_id, price_model_id, service_tier, call_day,
        arg_max(
            {
                entry: entry,
                input: input_usd_per_mtok,
                output: output_usd_per_mtok,
                cache_read: cache_read_usd_per_mtok,
                cache_write: cache_write_usd_per_mtok
            },
            precedence
        ) filter (
            where coalesce(input_usd_per_mtok, output_usd_per_mtok,
                cache_read_usd_per_mtok, cache_write_usd_per_mtok) is not null
        ) as price_override,
        arg_max({entry: entry, multiplier: multiplier}, precedence)
            filter (where multiplier is not null) as multiplier_override
    from matches
    group by all
),

final as (
    select call_keys.*, chosen.price_override, chosen.multiplier_override
    from call_keys
    left join chosen
        on chosen.provider is not distinct from call_keys.provider
        and chosen.model = call_keys.model
        and chosen.service_tier is not distinct from call_keys.service_tier
        and chosen.call_day = call_keys.call_day
)

select * from final
