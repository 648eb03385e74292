-- int_agent_periods(period): unit economics per agent × period ('day', 'week' = ISO week from Monday, 'month').
-- Case columns count the cases that started in the period (a case's calls count with it,
-- even past midnight); call columns (tokens, error rate, model mix) count calls by their
-- own start, from llm_calls_daily. Quality interval: mean ± 1.96 × sample standard deviation / √n (normal
-- approximation; NULL under 2 scored cases). Saving = what humans would have cost for the
-- same cases minus what the agent cost.
-- materialized: macro
-- parameters: period
-- columns:
--   period_start: first day of the period (UTC)
--   agent_name: agent, resolved from its trace's root agent span
--   n_cases: cases (conversations) started in the period
--   n_resolved_cases: cases whose outcome is resolved
--   resolution_rate: n_resolved_cases ÷ n_cases
--   cost_usd: cost of those cases' LLM calls (list price, overrides, or reported)
--   cost_per_case_usd: cost_usd ÷ n_cases
--   cost_per_resolved_case_usd: cost_usd ÷ n_resolved_cases
--   human_baseline_usd_per_case: what a human costs per case (registry)
--   human_cost_usd: n_cases × human_baseline_usd_per_case
--   saving_vs_human_usd: human_cost_usd − cost_usd (negative: the agent costs more)
--   saving_per_case_usd: human_baseline_usd_per_case − cost_per_case_usd
--   quality_metric: evaluation name that measures the agent's quality (registry)
--   quality_target: minimum acceptable mean quality (registry)
--   quality_mean: mean quality score of the scored cases
--   quality_ci_low: lower end of the 95% interval of quality_mean
--   quality_ci_high: upper end of the 95% interval of quality_mean
--   n_scored_cases: cases with a quality score
--   scored_share: n_scored_cases ÷ n_cases
--   p50_case_latency_ms: exact median case duration
--   p95_case_latency_ms: exact 95th percentile of case durations
--   p99_case_latency_ms: exact 99th percentile of case durations
--   n_fallback_cases: cases that fell back (outcome fallback or fleet.fallback set)
--   fallback_rate: n_fallback_cases ÷ n_cases
--   n_spans: spans of the cases
--   n_audit_complete_spans: spans with every field an audit needs
--   n_llm_calls: LLM calls started in the period
--   n_error_calls: LLM calls with status error
--   error_rate: n_error_calls ÷ n_llm_calls
--   n_unpriced_calls: LLM calls with no price and no reported cost (cost unknown, not $0)
--   input_tokens: input tokens, cached included
--   output_tokens: output tokens, reasoning included
--   cache_read_tokens: input tokens read from the prompt cache
--   cache_write_tokens: input tokens written to the prompt cache
--   reasoning_tokens: output tokens spent reasoning
--   model_mix: share of the period's LLM calls per model
with cases as (
    select *, cast(date_trunc(period, day) as date) as period_start from fct_cases
),

calls as (
    select *, cast(date_trunc(period, day) as date) as period_start from llm_calls_daily
),

registry as (
    select agent_name, human_baseline_usd_per_case, quality_metric, quality_target from agents
),

case_stats as (
    select
        period_start,
        agent_name,
        count(*) as n_cases,
        count(*) filter (where is_resolved) as n_resolved_cases,
        coalesce(sum(cost_usd), 0) as cost_usd,
        avg(quality_score) as quality_mean,
        stddev_samp(quality_score) as quality_sd,
        count(quality_score) as n_scored_cases,
        quantile_cont(duration_ms, [0.5, 0.95, 0.99]) as latency_ms,
        count(*) filter (where outcome = 'fallback' or is_fallback) as n_fallback_cases,
        cast(sum(n_spans) as bigint) as n_spans,
        cast(sum(n_audit_complete_spans) as bigint) as n_audit_complete_spans
    from cases
    group by all
),

call_stats as (
    select
        period_start,
        agent_name,
        cast(sum(n_llm_calls) as bigint) as n_llm_calls,
        cast(sum(n_error_calls) as bigint) as n_error_calls,
        cast(sum(n_unpriced_calls) as bigint) as n_unpriced_calls,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(cache_read_tokens) as bigint) as cache_read_tokens,
        cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
        cast(sum(reasoning_tokens) as bigint) as reasoning_tokens
    from calls
    group by all
),

model_calls as (
    select period_start, agent_name, coalesce(model, 'unknown') as model, sum(n_llm_calls) as n
    from calls
    group by all
),

model_mix as (
    select
        period_start,
        agent_name,
        map_from_entries(list({key: model, value: n / total} order by model)) as model_mix
    from (
        select *, sum(n) over (partition by period_start, agent_name) as total from model_calls
    )
    group by all
),

grain as (
    select period_start, agent_name from case_stats
    union
    select period_start, agent_name from call_stats
),

final as (
    select
        grain.period_start,
        grain.agent_name,
        coalesce(case_stats.n_cases, 0) as n_cases,
        coalesce(case_stats.n_resolved_cases, 0) as n_resolved_cases,
        n_resolved_cases / nullif(n_cases, 0) as resolution_rate,
        coalesce(case_stats.cost_usd, 0) as cost_usd,
        cost_usd / nullif(n_cases, 0) as cost_per_case_usd,
        cost_usd / nullif(n_resolved_cases, 0) as cost_per_resolved_case_usd,
        registry.human_baseline_usd_per_case,
        n_cases * registry.human_baseline_usd_per_case as human_cost_usd,
        human_cost_usd - cost_usd as saving_vs_human_usd,
        registry.human_baseline_usd_per_case - cost_per_case_usd as saving_per_case_usd,
        registry.quality_metric,
        registry.quality_target,
        case_stats.quality_mean,
        case_stats.quality_mean - 1.96 * case_stats.quality_sd / sqrt(case_stats.n_scored_cases)
            as quality_ci_low,
        case_stats.quality_mean + 1.96 * case_stats.quality_sd / sqrt(case_stats.n_scored_cases)
            as quality_ci_high,
        coalesce(case_stats.n_scored_cases, 0) as n_scored_cases,
        n_scored_cases / nullif(n_cases, 0) as scored_share,
        case_stats.latency_ms[1] as p50_case_latency_ms,
        case_stats.latency_ms[2] as p95_case_latency_ms,
        case_stats.latency_ms[3] as p99_case_latency_ms,
        coalesce(case_stats.n_fallback_cases, 0) as n_fallback_cases,
        n_fallback_cases / nullif(n_cases, 0) as fallback_rate,
        coalesce(case_stats.n_spans, 0) as n_spans,
        coalesce(case_stats.n_audit_complete_spans, 0) as n_audit_complete_spans,
        coalesce(call_stats.n_llm_calls, 0) as n_llm_calls,
        coalesce(call_stats.n_error_calls, 0) as n_error_calls,
        n_error_calls / nullif(n_llm_calls, 0) as error_rate,
        coalesce(call_stats.n_unpriced_calls, 0) as n_unpriced_calls,
        coalesce(call_stats.input_tokens, 0) as input_tokens,
        coalesce(call_stats.output_tokens, 0) as output_tokens,
        coalesce(call_stats.cache_read_tokens, 0) as cache_read_tokens,
        coalesce(call_stats.cache_write_tokens, 0) as cache_write_tokens,
        coalesce(call_stats.reasoning_tokens, 0) as reasoning_tokens,
        model_mix.model_mix
    from grain
    left join case_stats using (period_start, agent_name)
    left join call_stats using (period_start, agent_name)
    left join model_mix using (period_start, agent_name)
    left join registry using (agent_name)
)

select * from final
