-- agent_daily: one row per agent × UTC day: volume, tokens, cost, quality and latency.
-- columns:
--   agent_name: agent, resolved from its trace's root agent span
--   day: UTC date the cases and calls started
--   n_cases: cases (conversations) started that day
--   n_resolved_cases: cases whose outcome is resolved
--   n_llm_calls: LLM calls started that day
--   n_error_calls: LLM calls with status error
--   input_tokens: input tokens, cached included
--   output_tokens: output tokens, reasoning included
--   cache_read_tokens: input tokens read from the prompt cache
--   reasoning_tokens: output tokens spent reasoning
--   cost_usd: computed cost of the day's priced LLM calls
--   n_unpriced_calls: LLM calls whose model has no known price (cost unknown, not $0)
--   unpriced_tokens: input + output tokens of the unpriced calls
--   cost_per_case_usd: cost_usd / n_cases
--   cost_per_resolved_case_usd: cost_usd / n_resolved_cases
--   quality_mean: mean quality score of the day's scored cases
--   n_scored_cases: cases with a quality score
--   p95_llm_latency_ms: exact 95th percentile of LLM call durations
--   p95_case_duration_ms: exact 95th percentile of case durations
with calls as (
    select * from int_llm_calls__costed
),

cases as (
    select * from int_cases
),

calls_daily as (
    select
        agent_name,
        cast(started_at as date) as day,
        count(*) as n_llm_calls,
        count(*) filter (where status = 'error') as n_error_calls,
        coalesce(sum(input_tokens), 0) as input_tokens,
        coalesce(sum(output_tokens), 0) as output_tokens,
        coalesce(sum(cache_read_tokens), 0) as cache_read_tokens,
        coalesce(sum(reasoning_tokens), 0) as reasoning_tokens,
        coalesce(sum(cost_usd), 0) as cost_usd,
        count(*) filter (where not is_priced) as n_unpriced_calls,
        coalesce(sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))
            filter (where not is_priced), 0) as unpriced_tokens,
        quantile_cont(duration_ms, 0.95) as p95_llm_latency_ms
    from calls
    group by agent_name, day
),

cases_daily as (
    select
        agent_name,
        started_on as day,
        count(*) as n_cases,
        count(*) filter (where is_resolved) as n_resolved_cases,
        avg(quality_score) as quality_mean,
        count(quality_score) as n_scored_cases,
        quantile_cont(duration_ms, 0.95) as p95_case_duration_ms
    from cases
    group by agent_name, day
),

final as (
    select
        agent_name,
        day,
        coalesce(cases_daily.n_cases, 0) as n_cases,
        coalesce(cases_daily.n_resolved_cases, 0) as n_resolved_cases,
        coalesce(calls_daily.n_llm_calls, 0) as n_llm_calls,
        coalesce(calls_daily.n_error_calls, 0) as n_error_calls,
        coalesce(calls_daily.input_tokens, 0) as input_tokens,
        coalesce(calls_daily.output_tokens, 0) as output_tokens,
        coalesce(calls_daily.cache_read_tokens, 0) as cache_read_tokens,
        coalesce(calls_daily.reasoning_tokens, 0) as reasoning_tokens,
        coalesce(calls_daily.cost_usd, 0) as cost_usd,
        coalesce(calls_daily.n_unpriced_calls, 0) as n_unpriced_calls,
        coalesce(calls_daily.unpriced_tokens, 0) as unpriced_tokens,
        cost_usd / nullif(n_cases, 0) as cost_per_case_usd,
        cost_usd / nullif(n_resolved_cases, 0) as cost_per_resolved_case_usd,
        cases_daily.quality_mean,
        coalesce(cases_daily.n_scored_cases, 0) as n_scored_cases,
        calls_daily.p95_llm_latency_ms,
        cases_daily.p95_case_duration_ms
    from cases_daily
    full outer join calls_daily using (agent_name, day)
)

select * from final
