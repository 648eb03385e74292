-- int_llm_calls__costed: one row per LLM call with its computed cost; NULL cost = unpriced.
-- Cost follows genai-prices: uncached input = input − cache reads − cache writes (each
-- taken out only where the model prices it separately); output includes reasoning;
-- the price row is the one valid at the call's start, in the call's input-token tier.
-- config/prices.yaml overrides replace list prices per token type and/or scale the cost
-- (`price_overrides`; the most specific entry wins). All of it is decided per call key,
-- time segment and token band in `int_llm_call_keys`, not per call: here each call finds
-- its row (one hash join on provider, model and tier, its start and input tokens within
-- the row's bounds) and its cost is its tokens × the row's rates.
-- materialized: slice
with calls as (
    select * from int_spans__attributed where is_llm_call
),

costed as (
    select
        calls.*,
        call_keys.price_provider_id,
        call_keys.price_model_id,
        -- a call no row holds (no model, no start): unpriced, like one with no price
        coalesce(call_keys.cost_multiplier, 1.0) as cost_multiplier,
        coalesce(call_keys.is_priced, false) as is_priced,
        -- term for term the arithmetic of the prices (int_llm_call_keys: rates are the
        -- prices or 0, `_apart` 1 where the cache tokens have a price of their own, and
        -- priced_multiplier NULL when unpriced), so the same doubles to the last bit
        (
            (
                coalesce(calls.input_tokens, 0)
                - coalesce(calls.cache_read_tokens, 0) * call_keys.cache_read_apart
                - coalesce(calls.cache_write_tokens, 0) * call_keys.cache_write_apart
            ) * call_keys.input_rate_usd_per_mtok
            + coalesce(calls.cache_read_tokens, 0) * call_keys.cache_read_rate_usd_per_mtok
            + coalesce(calls.cache_write_tokens, 0) * call_keys.cache_write_rate_usd_per_mtok
            + coalesce(calls.output_tokens, 0) * call_keys.output_rate_usd_per_mtok
        ) * call_keys.priced_multiplier / 1e6 as cost_usd,
        call_keys.price_overrides_applied
    from calls
    left join int_llm_call_keys as call_keys
        on call_keys.provider is not distinct from calls.provider
        and call_keys.model = calls.model
        and call_keys.service_tier is not distinct from calls.service_tier
        and calls.started_at between call_keys.starts_at and call_keys.ends_at
        and coalesce(calls.input_tokens, 0)
            between call_keys.input_tokens_from and call_keys.input_tokens_to
)

select * from costed
