-- int_slo_weekly: per agent × ISO week, the case counts the latency and fallback SLOs need.
-- A slow case lasts at least the agent's latency target (registry override, else policy).
-- materialized: rollup
-- partition: week_start
-- columns:
--   week_start: Monday of the ISO week (UTC)
--   n_cases: cases started in the week
--   p95_case_latency_ms: exact 95th percentile of case durations
--   n_slow_cases: cases at or above the latency target
--   n_fallback_cases: cases that fell back (outcome fallback or fleet.fallback set)
with cases as (
    select *, cast(date_trunc('week', day) as date) as week_start from fct_cases
),

policy_target as (
    select target as target_ms from slo_policy where slo = 'p95_case_latency_ms'
),

final as (
    select
        cases.week_start,
        cases.agent_name,
        count(*) as n_cases,
        quantile_cont(cases.duration_ms, 0.95) as p95_case_latency_ms,
        count(*) filter (
            where cases.duration_ms
                >= coalesce(agents.slo_targets['p95_case_latency_ms'], policy_target.target_ms)
        ) as n_slow_cases,
        count(*) filter (where cases.outcome = 'fallback' or cases.is_fallback)
            as n_fallback_cases
    from cases
    cross join policy_target
    left join agents using (agent_name)
    group by all
)

select * from final
