-- int_llm_calls__costed: one row per LLM call with its computed cost; NULL cost = unpriced.
-- Cost follows genai-prices: uncached input = input − cache reads − cache writes (each
-- taken out only where the model prices it separately); output includes reasoning;
-- the price row is the one valid at the call's start, in the call's input-token tier.
-- config/prices.yaml overrides replace list prices per token type and/or scale the cost
-- (`price_overrides`; the most specific entry wins, chosen once per distinct call key
-- and day, not per call).
-- materialized: slice
with calls as (
    select * from int_spans__attributed where is_llm_call
),

resolution as (
    select * from model_resolution
),

prices as (
    select * from model_prices
),

overrides as (
    select * from price_overrides
),

resolved as (
    select
        calls.*,
        cast(calls.started_at as date) as call_day,
        resolution.price_provider_id,
        resolution.price_model_id
    from calls
    left join resolution
        on resolution.provider is not distinct from calls.provider
        and resolution.model = calls.model
),

call_keys as (
    select distinct provider, model, price_provider_id, price_model_id, service_tier, call_day
    from resolved
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

priced as (
    select
        resolved.*,
        prices.* exclude (price_provider_id, price_model_id),
        chosen.price_override,
        chosen.multiplier_override
    from resolved
    left join prices
        on prices.price_provider_id = resolved.price_provider_id
        and prices.price_model_id = resolved.price_model_id
        and (prices.valid_from is null or resolved.started_at >= prices.valid_from)
        and (prices.valid_to is null or resolved.started_at < prices.valid_to)
        and coalesce(resolved.input_tokens, 0) > prices.tier_input_tokens_over
        and (
            prices.tier_input_tokens_upto is null
            or coalesce(resolved.input_tokens, 0) <= prices.tier_input_tokens_upto
        )
    left join chosen
        on chosen.provider is not distinct from resolved.provider
        and chosen.model = resolved.model
        and chosen.price_provider_id is not distinct from resolved.price_provider_id
        and chosen.price_model_id is not distinct from resolved.price_model_id
        and chosen.service_tier is not distinct from resolved.service_tier
        and chosen.call_day = resolved.call_day
),

effective as (
    select
        * exclude (
            call_day, valid_from, valid_to, tier_input_tokens_over, tier_input_tokens_upto,
            price_override, multiplier_override
        ) replace (
            coalesce(price_override.input, input_usd_per_mtok) as input_usd_per_mtok,
            coalesce(price_override.output, output_usd_per_mtok) as output_usd_per_mtok,
            coalesce(price_override.cache_read, cache_read_usd_per_mtok)
                as cache_read_usd_per_mtok,
            coalesce(price_override.cache_write, cache_write_usd_per_mtok)
                as cache_write_usd_per_mtok
        ),
        concat_ws(
            ' × ', price_override.entry, multiplier_override.entry
        ) as price_override_entries,
        coalesce(multiplier_override.multiplier, 1.0) as cost_multiplier
    from priced
),

final as (
    select
        * exclude (
            input_usd_per_mtok, output_usd_per_mtok,
            cache_read_usd_per_mtok, cache_write_usd_per_mtok, price_override_entries
        ),
        coalesce(input_usd_per_mtok, output_usd_per_mtok) is not null as is_priced,
        case when is_priced then (
            (
                coalesce(input_tokens, 0)
                - if(cache_read_usd_per_mtok is null, 0, coalesce(cache_read_tokens, 0))
                - if(cache_write_usd_per_mtok is null, 0, coalesce(cache_write_tokens, 0))
            ) * coalesce(input_usd_per_mtok, 0)
            + coalesce(cache_read_tokens, 0) * coalesce(cache_read_usd_per_mtok, 0)
            + coalesce(cache_write_tokens, 0) * coalesce(cache_write_usd_per_mtok, 0)
            + coalesce(output_tokens, 0) * coalesce(output_usd_per_mtok, 0)
        ) * cost_multiplier / 1e6 end as cost_usd,
        nullif(price_override_entries, '') as price_overrides_applied
    from effective
)

select * from final
