-- int_llm_calls__costed: one row per LLM call with its computed cost; NULL cost = unpriced.
-- Cost follows genai-prices: uncached input = input − cache reads − cache writes (each
-- taken out only where the model prices it separately); output includes reasoning;
-- the price row is the one valid at the call's start, in the call's input-token tier.
with calls as (
    select * from int_spans__attributed where is_llm_call
),

resolution as (
    select * from model_resolution
),

prices as (
    select * from model_prices
),

resolved as (
    select
        calls.*,
        resolution.price_provider_id,
        resolution.price_model_id
    from calls
    left join resolution
        on resolution.provider is not distinct from calls.provider
        and resolution.model = calls.model
),

priced as (
    select
        resolved.*,
        prices.* exclude (price_provider_id, price_model_id)
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
),

final as (
    select
        * exclude (
            valid_from, valid_to, tier_input_tokens_over, tier_input_tokens_upto,
            input_usd_per_mtok, output_usd_per_mtok,
            cache_read_usd_per_mtok, cache_write_usd_per_mtok
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
        ) / 1e6 end as cost_usd
    from priced
)

select * from final
