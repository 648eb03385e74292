-- fct_case_traces: one row per trace × UTC day it has spans on: the case each trace belongs to.
-- Lets an analyst go from a trace to its case, and lets the incremental build find every
-- trace and day a late span or score touches.
-- grain: day, trace_id
-- materialized: fact
-- columns:
--   day: UTC date of the trace's spans (the Parquet partition)
--   trace_id: W3C trace id
--   conversation_id: the case the trace belongs to
--   agent_name: agent of the trace's case: its root agent (a sub-agent's spans included)
--   n_spans: the trace's spans that day
with spans as (
    select * from int_spans__attributed
),

final as (
    select
        cast(started_at as date) as day,
        trace_id,
        conversation_id,
        case_agent_name as agent_name,
        count(*) as n_spans
    from spans
    group by all
)

select * from final
