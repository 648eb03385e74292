-- int_llm_calls__costed: one row per LLM call with its computed cost; NULL cost = unpriced.
-- Cost follows genai-prices: uncached input = input − cache reads − cache writes (each
-- taken out only where the model prices it separately); output includes reasoning;
-- the price row is the one valid at the call's start, in the call's input-token tier.
-- config/prices.yaml overrides replace list prices per token type and/or scale the cost
-- (`price_overrides`; the most specific entry wins, chosen once per distinct call key
-- and day in `int_llm_call_keys`, not per call).
-- materialized: slice
with calls as (
    select * from int_spans__attributed where is_llm_call
),

prices as (
    select * from model_prices
),

priced as (
    select
        calls.*,
        call_keys.price_provider_id,
        call_keys.price_model_id,
        prices.* exclude (price_provider_id, price_model_id),
        call_keys.price_override,
        call_keys.multiplier_override
    from calls
    left join int_llm_call_keys as call_keys
        on call_keys.provider is not distinct from calls.provider
        and call_keys.model = calls.model
        and call_keys.service_tier is not distinct from calls.service_tier
        and call_keys.call_day = cast(calls.started_at as date)
    left join prices
        on prices.price_provider_id = call_keys.price_provider_id
        and prices.price_model_id = call_keys.price_model_id
        and (prices.valid_from is null or calls.started_at >= prices.valid_from)
        and (prices.valid_to is null or calls.started_at < prices.valid_to)
        and coalesce(calls.input_tokens, 0) > prices.tier_input_tokens_over
        and (
            prices.tier_input_tokens_upto is null
            or coalesce(calls.input_tokens, 0) <= prices.tier_input_tokens_upto
        )
),

effective as (
    select
        * exclude (
            valid_from, valid_to, tier_input_tokens_over, tier_input_tokens_upto,
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
