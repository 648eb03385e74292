-- fct_llm_calls: one row per LLM call, with its cost and where that cost came from.
-- cost_source: `computed` (genai-prices list price), `override` (config/prices.yaml took
-- part), `reported` (no price known, the instrumentation's own cost is used), `unpriced`
-- (neither: cost_usd is NULL, never $0).
-- grain: trace_id, span_id
-- materialized: fact
-- columns:
--   day: UTC date the call started (the Parquet partition)
--   trace_id: W3C trace id
--   span_id: the call's span id
--   agent_name: agent that made the call, from its nearest invoke_agent ancestor span
--   case_agent_name: agent whose case the call counts in: its trace's root agent
--   agent_version: agent version, from the span or its trace
--   conversation_id: the case: gen_ai.conversation.id, else the trace id
--   provider: gen_ai.provider.name
--   model: response model, else request model
--   request_model: model asked for
--   response_model: model that answered
--   service_tier: provider service tier (batch, flex, priority…)
--   operation: chat, text_completion, generate_content, embeddings…
--   started_at: call start (UTC)
--   ended_at: call end (UTC)
--   duration_ms: call latency
--   status: ok, error or unset
--   error_type: error class when status is error
--   input_tokens: input tokens, cached included
--   output_tokens: output tokens, reasoning included
--   cache_read_tokens: input tokens read from the prompt cache
--   cache_write_tokens: input tokens written to the prompt cache
--   reasoning_tokens: output tokens spent reasoning
--   cost_usd: the call's cost in USD (NULL when unpriced)
--   cost_source: computed, override, reported or unpriced
--   computed_cost_usd: cost from the price table (and overrides); NULL when unpriced
--   reported_cost_usd: cost the instrumentation reported, if any
--   cost_multiplier: multiplier from config/prices.yaml (1 when none applies)
--   price_overrides_applied: the prices.yaml entries that set this call's prices
with calls as (
    select * from int_llm_calls__costed
),

final as (
    select
        cast(started_at as date) as day,
        trace_id,
        span_id,
        agent_name,
        case_agent_name,
        agent_version,
        conversation_id,
        provider,
        model,
        request_model,
        response_model,
        service_tier,
        operation,
        started_at,
        ended_at,
        duration_ms,
        status,
        error_type,
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_write_tokens,
        reasoning_tokens,
        coalesce(cost_usd, reported_cost_usd) as cost_usd,
        case
            when is_priced and price_overrides_applied is not null then 'override'
            when is_priced then 'computed'
            when reported_cost_usd is not null then 'reported'
            else 'unpriced'
        end as cost_source,
        cost_usd as computed_cost_usd,
        reported_cost_usd,
        cost_multiplier,
        price_overrides_applied
    from calls
)

select * from final
