-- fct_evaluations: one row per evaluator score of a production case that has a value: what evaluator_daily and evaluator_weekly roll up.
-- Every `gen_ai.evaluation.result` (OTLP span events, Langfuse scores, native evaluations)
-- whatever its name (quality, pii_leak, hallucination, tool_call_correct, …). Its value is
-- score_value; when that is NULL, a label true / yes / pass is 1 and false / no / fail is 0
-- (case-insensitive); a score with neither (e.g. a case.outcome label) is not here. A score
-- belongs to the case of the span it was given to (as fct_cases__all joins them); one given
-- to a whole trace (no span id: Langfuse trace scores, native rows) to the case of the
-- trace's first span. It counts on the case's day, even when it was given later. Only
-- production cases (fct_cases) count: not offline eval traces (`fleet.eval.run_id`), not
-- shadow traffic (`fleet.shadow`).
-- grain: trace_id, span_id, evaluator, evaluated_at
-- materialized: fact
-- columns:
--   day: UTC date the score's case started (the Parquet partition)
--   agent_name: agent of the score's case (its root agent)
--   agent_version: agent version of the case
--   conversation_id: the case: gen_ai.conversation.id, else the trace id
--   trace_id: trace the score was given to
--   span_id: span the score was given to
--   evaluator: gen_ai.evaluation.name (the evaluator or guardrail)
--   value: the score as a number: score_value, else 1 / 0 from a true / false label
--   score_value: the numeric score as given (NULL: a label only)
--   score_label: the label as given (NULL: none)
--   source: human, llm_judge, heuristic or user_feedback
--   evaluated_at: when the score was given (UTC)

-- read where used, never copied (a CTE read twice is materialized by default)
with evaluations as not materialized (
    select * from stg_evaluations
),

spans as not materialized (
    select trace_id, span_id, case_agent_name, conversation_id, started_at
    from int_spans__attributed
),

-- the case of each trace scored as a whole (the few traces with a score without span id)
trace_cases as (
    select
        trace_id,
        arg_min(case_agent_name, (started_at, span_id)) as case_agent_name,
        arg_min(conversation_id, (started_at, span_id)) as conversation_id
    from spans
    where trace_id in (select trace_id from evaluations where span_id is null)
    group by trace_id
),

score_cases as (
    select evaluations.*, spans.case_agent_name, spans.conversation_id as case_id
    from evaluations
    inner join spans using (trace_id, span_id)
    union all by name
    select evaluations.*, trace_cases.case_agent_name, trace_cases.conversation_id as case_id
    from evaluations
    inner join trace_cases using (trace_id)
    where evaluations.span_id is null
),

cases as (
    select day, agent_name, conversation_id, agent_version from fct_cases
),

valued as (
    select
        *,
        coalesce(
            score_value,
            case
                when lower(trim(score_label)) in ('true', 'yes', 'pass') then 1.0
                when lower(trim(score_label)) in ('false', 'no', 'fail') then 0.0
            end
        ) as value
    from score_cases
),

final as (
    select
        cases.day,
        cases.agent_name,
        cases.agent_version,
        cases.conversation_id,
        valued.trace_id,
        valued.span_id,
        valued.name as evaluator,
        valued.value,
        valued.score_value,
        valued.score_label,
        valued.source,
        valued.evaluated_at
    from valued
    inner join cases
        on cases.agent_name = valued.case_agent_name
        and cases.conversation_id = valued.case_id
    where valued.value is not null
)

select * from final
