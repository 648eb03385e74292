-- int_agent_periods(period): unit economics per agent × period ('day', 'week' = ISO week from Monday, 'month').
-- Case columns count the cases that started in the period (a case's calls count with it,
-- even past midnight); call columns (tokens, error rate, model mix) count calls by their
-- own start, from llm_calls_daily, each under the agent that made it: a sub-agent called by
-- an orchestrator has call columns of its own, while the orchestrator's cases keep the
-- whole cost of the cases (cost_usd).
-- Cost is NULL when the cases made LLM calls and none of them is priced (unknown, never
-- $0); when only some are, cost_usd is the priced calls' cost, a lower bound:
-- is_cost_partial says so, and every figure derived from cost inherits it.
-- Intervals (95 %, normal approximation; NULL under 2 cases): quality, mean ± 1.96 ×
-- sample sd ÷ √n over the scored cases; cost per resolved case, the ratio estimator
-- Σcost ÷ Σresolved ± 1.96 × √(n·s²) ÷ n_resolved, s² the sample variance of
-- (case cost − ratio × resolved), unpriced case costs counted as 0 (the delta method).
-- Savings count resolved cases only: without the agent every case costs a human the
-- baseline; with it, the agent's spend is paid on every case and each unresolved case
-- still costs a human escalation_cost_usd_per_case (registry, default the baseline).
-- materialized: macro
-- parameters: period
-- columns:
--   period_start: first day of the period (UTC)
--   agent_name: agent, resolved from its trace's root agent span
--   n_cases: cases (conversations) started in the period
--   n_resolved_cases: cases whose outcome is resolved
--   resolution_rate: n_resolved_cases ÷ n_cases
--   cost_usd: cost of those cases' LLM calls (list price, overrides, or reported); NULL when none is priced
--   priced_share: priced LLM calls of the cases ÷ their LLM calls (NULL: no call)
--   is_cost_partial: some of the cases' LLM calls have no price: cost_usd and every figure derived from it is a lower bound
--   cost_per_case_usd: cost_usd ÷ n_cases
--   cost_per_resolved_case_usd: cost_usd ÷ n_resolved_cases
--   cost_per_resolved_case_ci_low: lower end of the 95% interval of cost_per_resolved_case_usd
--   cost_per_resolved_case_ci_high: upper end of the 95% interval of cost_per_resolved_case_usd
--   human_baseline_usd_per_case: what a human costs per case (registry)
--   escalation_cost_usd_per_case: what a human costs to handle a case the agent did not resolve (registry, default the baseline)
--   human_cost_usd: n_cases × human_baseline_usd_per_case: the cases without the agent
--   human_work_saved_usd: n_resolved_cases × human_baseline_usd_per_case: the human work the agent's resolved cases replace
--   unresolved_handling_usd: (n_cases − n_resolved_cases) × escalation_cost_usd_per_case: what humans still spend on the cases the agent did not resolve
--   net_saving_usd: human_cost_usd − cost_usd − unresolved_handling_usd (negative: the agent costs more than it saves)
--   net_saving_per_case_usd: net_saving_usd ÷ n_cases
--   break_even_resolution_rate: the resolution rate at which net_saving_usd is 0 at this cost per case ((cost_per_case_usd + escalation − baseline) ÷ escalation; above 1: cannot break even)
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
--   call_cost_usd: cost of the agent's own LLM calls started in the period (a sub-agent's calls are its own; its cases' cost_usd is its caller's); NULL when none is priced
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
    select agent_name, human_baseline_usd_per_case, escalation_cost_usd, quality_metric,
        quality_target
    from agents
),

case_stats as (
    select
        period_start,
        agent_name,
        count(*) as n_cases,
        count(*) filter (where is_resolved) as n_resolved_cases,
        -- unknown only when there were calls and none is priced; no call costs $0
        if(sum(n_llm_calls) > 0 and sum(n_llm_calls) = sum(n_unpriced_calls), null,
            coalesce(sum(cost_usd), 0)) as cost_usd,
        1 - sum(n_unpriced_calls) / nullif(sum(n_llm_calls), 0) as priced_share,
        sum(coalesce(cost_usd, 0) ^ 2) as sum_cost_squared,
        sum(coalesce(cost_usd, 0)) filter (where is_resolved) as resolved_cost_usd,
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
        sum(cost_usd) as call_cost_usd,
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

ratio_interval as (
    select
        period_start,
        agent_name,
        cost_usd / nullif(n_resolved_cases, 0) as ratio,
        -- sample variance of (cost − ratio × resolved); resolved² = resolved
        (sum_cost_squared - 2 * ratio * coalesce(resolved_cost_usd, 0)
            + ratio ^ 2 * n_resolved_cases) / nullif(n_cases - 1, 0) as residual_variance,
        1.96 * sqrt(greatest(residual_variance, 0) * n_cases) / n_resolved_cases as half_width
    from case_stats
),

final as (
    select
        grain.period_start,
        grain.agent_name,
        coalesce(case_stats.n_cases, 0) as n_cases,
        coalesce(case_stats.n_resolved_cases, 0) as n_resolved_cases,
        n_resolved_cases / nullif(n_cases, 0) as resolution_rate,
        if(case_stats.n_cases is null, 0, case_stats.cost_usd) as cost_usd,
        case_stats.priced_share,
        coalesce(case_stats.priced_share < 1 and cost_usd is not null, false) as is_cost_partial,
        cost_usd / nullif(n_cases, 0) as cost_per_case_usd,
        cost_usd / nullif(n_resolved_cases, 0) as cost_per_resolved_case_usd,
        cost_per_resolved_case_usd - ratio_interval.half_width as cost_per_resolved_case_ci_low,
        cost_per_resolved_case_usd + ratio_interval.half_width as cost_per_resolved_case_ci_high,
        registry.human_baseline_usd_per_case,
        registry.escalation_cost_usd as escalation_cost_usd_per_case,
        n_cases * registry.human_baseline_usd_per_case as human_cost_usd,
        n_resolved_cases * registry.human_baseline_usd_per_case as human_work_saved_usd,
        (n_cases - n_resolved_cases) * escalation_cost_usd_per_case as unresolved_handling_usd,
        human_cost_usd - cost_usd - unresolved_handling_usd as net_saving_usd,
        net_saving_usd / nullif(n_cases, 0) as net_saving_per_case_usd,
        (cost_per_case_usd + escalation_cost_usd_per_case - registry.human_baseline_usd_per_case)
            / nullif(escalation_cost_usd_per_case, 0) as break_even_resolution_rate,
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
        call_stats.call_cost_usd,
        coalesce(call_stats.input_tokens, 0) as input_tokens,
        coalesce(call_stats.output_tokens, 0) as output_tokens,
        coalesce(call_stats.cache_read_tokens, 0) as cache_read_tokens,
        coalesce(call_stats.cache_write_tokens, 0) as cache_write_tokens,
        coalesce(call_stats.reasoning_tokens, 0) as reasoning_tokens,
        model_mix.model_mix
    from grain
    left join case_stats using (period_start, agent_name)
    left join ratio_interval using (period_start, agent_name)
    left join call_stats using (period_start, agent_name)
    left join model_mix using (period_start, agent_name)
    left join registry using (agent_name)
)

select * from final
