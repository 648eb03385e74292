-- int_audit_gaps(period): audit events the traces lack, per agent × period ('day', 'week', 'month'); agent NULL: not attributable.
-- The agent's quarantined spans (int_quarantined_spans_daily) and the LLM calls its
-- claimed bill shows but its traces lack (int_untraced_usage_daily).
-- materialized: macro
-- parameters: period
-- columns:
--   n_quarantined_spans: the agent's spans held back at ingest (unreadable or invalid)
--   n_untraced_calls: LLM calls the agent's claimed billed usage shows and its traces lack (estimated)
with gaps as (
    select day, agent_name, n_quarantined_spans, 0 as n_untraced_calls
    from int_quarantined_spans_daily
    union all
    select day, agent_name, 0, n_untraced_calls
    from int_untraced_usage_daily
),

final as (
    select
        cast(date_trunc(period, day) as date) as period_start,
        agent_name,
        cast(sum(n_quarantined_spans) as bigint) as n_quarantined_spans,
        cast(sum(n_untraced_calls) as bigint) as n_untraced_calls
    from gaps
    group by all
)

select * from final
