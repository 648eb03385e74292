-- slo_weekly: one row per agent × ISO week × SLO: target, actual, met or not, error budget used.
-- Targets come from config/policy.yaml (`slos:`), overridden per agent by `slo_targets:`
-- in config/agents.yaml. Error budget used = share of bad events ÷ share the SLO allows
-- (1.0 = the whole budget): for p95 case latency the bad events are cases at or above the
-- target and 5 % are allowed; for the fallback rate, fallback cases, target allowed; for
-- audit-trail completeness, incomplete audit events (incomplete spans, quarantined spans and
-- LLM calls billed but not traced: see agent_weekly), 1 − target allowed.
-- grain: week_start, agent_name, slo
-- columns:
--   week_start: Monday of the ISO week (UTC)
--   agent_name: agent, resolved from its trace's root agent span
--   slo: p95_case_latency_ms, fallback_rate or audit_completeness
--   objective: below (actual must stay under target) or at_least
--   target: the agent's target (registry override, else policy)
--   target_source: policy or registry
--   actual: the week's value
--   is_met: actual meets the target
--   n_events: cases (latency, fallback) or audit events (audit completeness) measured
--   n_bad_events: events that spend error budget
--   error_budget_used: bad-event share ÷ allowed bad-event share
with weekly as (
    select
        slo.week_start,
        slo.agent_name,
        slo.n_cases,
        slo.p95_case_latency_ms,
        slo.n_slow_cases,
        slo.n_fallback_cases,
        agent_weekly.n_audit_events,
        agent_weekly.n_audit_complete_spans
    from int_slo_weekly as slo
    inner join agent_weekly using (week_start, agent_name)
),

agent_targets as (
    select
        weekly.week_start,
        weekly.agent_name,
        slo_policy.slo,
        slo_policy.objective,
        coalesce(agents.slo_targets[slo_policy.slo], slo_policy.target) as target,
        if(agents.slo_targets[slo_policy.slo] is null, 'policy', 'registry') as target_source
    from weekly
    cross join slo_policy
    left join agents using (agent_name)
),

measured as (
    select week_start, agent_name, 'p95_case_latency_ms' as slo,
        p95_case_latency_ms as actual, n_cases as n_events, n_slow_cases as n_bad_events
    from weekly
    union all
    select week_start, agent_name, 'fallback_rate',
        n_fallback_cases / n_cases, n_cases, n_fallback_cases
    from weekly
    union all
    select week_start, agent_name, 'audit_completeness',
        n_audit_complete_spans / nullif(n_audit_events, 0), n_audit_events,
        n_audit_events - n_audit_complete_spans
    from weekly
),

final as (
    select
        measured.week_start,
        measured.agent_name,
        measured.slo,
        agent_targets.objective,
        agent_targets.target,
        agent_targets.target_source,
        measured.actual,
        case agent_targets.objective
            when 'below' then measured.actual < agent_targets.target
            else measured.actual >= agent_targets.target
        end as is_met,
        measured.n_events,
        measured.n_bad_events,
        measured.n_bad_events / nullif(measured.n_events, 0)
            / case measured.slo
                when 'p95_case_latency_ms' then 0.05
                when 'fallback_rate' then nullif(agent_targets.target, 0)
                else nullif(1 - agent_targets.target, 0)
            end as error_budget_used
    from measured
    inner join agent_targets using (week_start, agent_name, slo)
)

select * from final
