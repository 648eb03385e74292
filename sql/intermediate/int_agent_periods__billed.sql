-- int_agent_periods__billed(period): each agent × period rollup row ('day', 'week', 'month') with the agent's allocated bill and its audit gaps.
-- Audit completeness counts what the traces miss as incomplete audit events, not only
-- the stored spans: the agent's quarantined spans and the LLM calls its claimed billed
-- usage shows but its traces lack (int_audit_gaps). Gaps on a period without a case or
-- call of the agent are in fleet_monthly only.
-- materialized: macro
-- parameters: period
-- columns:
--   allocated_billed_usd: the agent's share of the USD bill, from cost_allocation_monthly
--   allocated_billed_per_resolved_case_usd: allocated_billed_usd ÷ n_resolved_cases
--   n_audit_events: n_spans + n_quarantined_spans + n_untraced_calls
--   audit_completeness: n_audit_complete_spans ÷ n_audit_events
with periods as (
    select 'day' as period_kind, day as period_start, * exclude (day) from int_agent_daily
    union all by name
    select 'week' as period_kind, week_start as period_start, * exclude (week_start)
    from int_agent_weekly
    union all by name
    select 'month' as period_kind, month_start as period_start, * exclude (month_start)
    from int_agent_monthly
),

joined as (
    select
        periods.* exclude (period_kind),
        coalesce(allocation.allocated_billed_usd, 0) as allocated_billed_usd,
        coalesce(period_gaps.n_quarantined_spans, 0) as n_quarantined_spans,
        coalesce(period_gaps.n_untraced_calls, 0) as n_untraced_calls
    from periods
    left join int_agent_allocation(period) as allocation using (period_start, agent_name)
    left join int_audit_gaps(period) as period_gaps using (period_start, agent_name)
    where periods.period_kind = period
),

final as (
    select
        * exclude (n_quarantined_spans, n_untraced_calls, allocated_billed_usd),
        allocated_billed_usd,
        allocated_billed_usd / nullif(n_resolved_cases, 0)
            as allocated_billed_per_resolved_case_usd,
        n_quarantined_spans,
        n_untraced_calls,
        n_spans + n_quarantined_spans + n_untraced_calls as n_audit_events,
        n_audit_complete_spans / nullif(n_audit_events, 0) as audit_completeness
    from joined
)

select * from final
