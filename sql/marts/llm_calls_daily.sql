-- llm_calls_daily: LLM calls per UTC day × agent × provider × model × service tier: volume, tokens, cost.
-- The model mix of every agent, and what the billing marts compare bills against.
-- grain: day, agent_name, provider, model, service_tier
-- materialized: rollup
-- partition: day
-- columns:
--   day: UTC date the calls started
--   agent_name: agent, resolved from the call's trace
--   provider: gen_ai.provider.name
--   model: response model, else request model
--   service_tier: provider service tier (NULL: default)
--   n_llm_calls: LLM calls
--   n_error_calls: calls with status error
--   n_unpriced_calls: calls with no price and no reported cost (not in cost_usd)
--   n_reported_cost_calls: calls costed by the instrumentation's reported cost
--   input_tokens: input tokens, cached included
--   output_tokens: output tokens, reasoning included
--   cache_read_tokens: input tokens read from the prompt cache
--   cache_write_tokens: input tokens written to the prompt cache
--   reasoning_tokens: output tokens spent reasoning
--   unpriced_tokens: input + output tokens of the unpriced calls
--   cost_usd: cost of the priced calls (list price, overrides, or reported); NULL when none is priced
--   p95_llm_latency_ms: exact 95th percentile of call durations
with calls as (
    select * from fct_llm_calls
),

final as (
    select
        day,
        agent_name,
        provider,
        model,
        service_tier,
        count(*) as n_llm_calls,
        count(*) filter (where status = 'error') as n_error_calls,
        count(*) filter (where cost_source = 'unpriced') as n_unpriced_calls,
        count(*) filter (where cost_source = 'reported') as n_reported_cost_calls,
        coalesce(sum(input_tokens), 0) as input_tokens,
        coalesce(sum(output_tokens), 0) as output_tokens,
        coalesce(sum(cache_read_tokens), 0) as cache_read_tokens,
        coalesce(sum(cache_write_tokens), 0) as cache_write_tokens,
        coalesce(sum(reasoning_tokens), 0) as reasoning_tokens,
        coalesce(sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))
            filter (where cost_source = 'unpriced'), 0) as unpriced_tokens,
        sum(cost_usd) as cost_usd,
        quantile_cont(duration_ms, 0.95) as p95_llm_latency_ms
    from calls
    group by all
)

select * from final
