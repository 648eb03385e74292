-- int_cases: one row per case (agent × conversation): timing, calls, cost, outcome, quality.
-- Outcome comes from a `case.outcome` evaluation label, else the root span attribute
-- `fleet.case.outcome`, else 'unknown'. Quality is the mean of the agent's registry
-- quality metric (default `quality`) over the case's scores.
with spans as (
    select * from int_spans__attributed
),

calls as (
    select * from int_llm_calls__costed
),

evaluations as (
    select * from stg_evaluations
),

registry as (
    select agent_name, quality_metric from agents
),

case_spans as (
    select
        agent_name,
        conversation_id,
        min(started_at) as started_at,
        max(ended_at) as ended_at,
        count(*) filter (where is_llm_call) as n_llm_calls,
        count(*) filter (where operation = 'execute_tool') as n_tool_calls,
        arg_min(attributes['fleet.case.outcome'], started_at)
            filter (where attributes['fleet.case.outcome'] is not null) as span_outcome,
        arg_min(attributes['fleet.intent'], started_at)
            filter (where attributes['fleet.intent'] is not null) as intent,
        coalesce(bool_or(attributes['fleet.fallback'] = 'true'), false) as is_fallback,
        bool_or(status = 'error') as has_error
    from spans
    group by agent_name, conversation_id
),

case_costs as (
    select
        agent_name,
        conversation_id,
        sum(cost_usd) as cost_usd,
        count(*) filter (where not is_priced) as n_unpriced_calls
    from calls
    group by agent_name, conversation_id
),

scored as (
    select
        spans.agent_name,
        spans.conversation_id,
        evaluations.name,
        evaluations.score_value,
        evaluations.score_label,
        evaluations.evaluated_at
    from evaluations
    inner join spans
        on spans.trace_id = evaluations.trace_id
        and spans.span_id = evaluations.span_id
),

case_scores as (
    select
        scored.agent_name,
        scored.conversation_id,
        avg(scored.score_value)
            filter (where scored.name = coalesce(registry.quality_metric, 'quality'))
            as quality_score,
        arg_max(scored.score_label, scored.evaluated_at)
            filter (where scored.name = 'case.outcome') as evaluated_outcome
    from scored
    left join registry using (agent_name)
    group by scored.agent_name, scored.conversation_id
),

final as (
    select
        case_spans.* exclude (span_outcome),
        cast(case_spans.started_at as date) as started_on,
        epoch_ms(case_spans.ended_at) - epoch_ms(case_spans.started_at) as duration_ms,
        case_costs.cost_usd,
        coalesce(case_costs.n_unpriced_calls, 0) as n_unpriced_calls,
        case_scores.quality_score,
        coalesce(case_scores.evaluated_outcome, case_spans.span_outcome, 'unknown') as outcome,
        outcome = 'resolved' as is_resolved
    from case_spans
    left join case_costs using (agent_name, conversation_id)
    left join case_scores using (agent_name, conversation_id)
)

select * from final
