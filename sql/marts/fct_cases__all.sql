-- fct_cases__all: one row per case (agent × conversation), production or offline eval: what
-- fct_cases keeps (production) and fct_eval_cases keeps (eval traces, tagged
-- `fleet.eval.run_id`), computed once. See fct_cases for every rule.
-- The case is its root agent's (`case_agent_name`): it counts the spans, calls and cost
-- of the sub-agents that agent called too, and a sub-agent has no case of its own.
-- Production traffic may run in variants (`fleet.variant` on the root agent span: an A/B
-- arm, a canary) and as shadow traffic (`fleet.shadow` = true on any span of the case):
-- shadow cases are in fct_shadow_cases, never in fct_cases.
-- materialized: slice
-- columns:
--   n_subagent_calls: LLM calls of the case made by sub-agents (agents other than the case's)
--   subagent_cost_usd: cost of those calls, part of cost_usd (NULL: none, or none priced)

-- read where used, never copied: both are read twice (cases and scores; costs and the
-- most used model), and a CTE read twice is materialized by default, which copied every
-- span's columns once more (a quarter of this model's time)
with spans as not materialized (
    select * from int_spans__attributed
),

calls as not materialized (
    select * from fct_llm_calls
),

evaluations as (
    select * from stg_evaluations
),

registry as (
    select agent_name, quality_metric from agents
),

case_spans as (
    select
        case_agent_name as agent_name,
        conversation_id,
        arg_min(agent_version, started_at)
            filter (where operation = 'invoke_agent' and agent_name = case_agent_name)
            as agent_version,
        min(started_at) as started_at,
        max(ended_at) as ended_at,
        count(*) as n_spans,
        count(*) filter (where is_audit_complete) as n_audit_complete_spans,
        count(*) filter (where is_llm_call) as n_llm_calls,
        count(*) filter (where operation = 'execute_tool') as n_tool_calls,
        list(coalesce(tool_name, 'unknown') order by started_at)
            filter (where operation = 'execute_tool') as tool_names,
        count(*) filter (where status = 'error') as n_error_spans,
        arg_min(case_outcome, started_at) filter (where case_outcome is not null)
            as span_outcome,
        arg_min(intent, started_at) filter (where intent is not null) as intent,
        coalesce(bool_or(is_fallback), false) as is_fallback,
        arg_min(eval_run_id, started_at) filter (where eval_run_id is not null) as eval_run_id,
        arg_min(eval_item_id, started_at) filter (where eval_item_id is not null)
            as eval_item_id,
        arg_min(eval_dataset, started_at) filter (where eval_dataset is not null)
            as eval_dataset,
        arg_min(eval_variant, started_at) filter (where eval_variant is not null)
            as eval_variant,
        arg_min(variant, started_at)
            filter (where operation = 'invoke_agent' and agent_name = case_agent_name)
            as variant,
        coalesce(bool_or(is_shadow), false) as is_shadow
    from spans
    group by case_agent_name, conversation_id
),

case_costs as (
    select
        case_agent_name as agent_name,
        conversation_id,
        -- summed exactly (as decimals, then one rounding): a double sum depends on the
        -- order rows arrive in, which a join or a batch may change
        sum(cost_usd::decimal(38, 20))::double as cost_usd,
        count(*) filter (where agent_name is distinct from case_agent_name)
            as n_subagent_calls,
        sum(cost_usd::decimal(38, 20)) filter (where agent_name is distinct from case_agent_name)
            ::double as subagent_cost_usd,
        count(*) filter (where cost_source = 'unpriced') as n_unpriced_calls,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        min(model) as least_model,
        max(model) as greatest_model
    from calls
    group by case_agent_name, conversation_id
),

-- the model most of a case's calls used is the only one of nearly every case: calls are
-- counted per model (`mode`) only in the cases with two or more (counting them in every
-- case took a tenth of this model's time)
mixed_model_cases as (
    select
        calls.case_agent_name as agent_name,
        calls.conversation_id,
        mode(calls.model) as model
    from calls
    semi join case_costs
        on case_costs.agent_name is not distinct from calls.case_agent_name
        and case_costs.conversation_id is not distinct from calls.conversation_id
        and case_costs.least_model <> case_costs.greatest_model
    group by calls.case_agent_name, calls.conversation_id
),

scored as (
    select
        spans.case_agent_name as agent_name,
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
        cast(case_spans.started_at as date) as day,
        case_spans.agent_name,
        case_spans.conversation_id,
        case_spans.agent_version,
        case_spans.started_at,
        case_spans.ended_at,
        epoch_ms(case_spans.ended_at) - epoch_ms(case_spans.started_at) as duration_ms,
        case_spans.n_spans,
        case_spans.n_audit_complete_spans,
        case_spans.n_llm_calls,
        coalesce(case_costs.n_subagent_calls, 0) as n_subagent_calls,
        case_spans.n_tool_calls,
        coalesce(case_spans.tool_names, []) as tool_names,
        case_spans.n_error_spans,
        case_spans.intent,
        case_spans.is_fallback,
        case_costs.cost_usd,
        case_costs.subagent_cost_usd,
        coalesce(case_costs.n_unpriced_calls, 0) as n_unpriced_calls,
        case_costs.input_tokens,
        case_costs.output_tokens,
        case
            when coalesce(case_scores.evaluated_outcome, case_spans.span_outcome) in (
                'resolved', 'escalated', 'abandoned', 'fallback'
            ) then coalesce(case_scores.evaluated_outcome, case_spans.span_outcome)
            when coalesce(case_scores.evaluated_outcome, case_spans.span_outcome) is null
                and case_spans.is_fallback then 'fallback'
            else 'unknown'
        end as outcome,
        outcome = 'resolved' as is_resolved,
        case_scores.quality_score,
        coalesce(mixed_model_cases.model, case_costs.least_model) as model,
        case_spans.variant,
        case_spans.is_shadow,
        case_spans.eval_run_id,
        case_spans.eval_item_id,
        case_spans.eval_dataset,
        case_spans.eval_variant
    from case_spans
    left join case_costs using (agent_name, conversation_id)
    left join mixed_model_cases using (agent_name, conversation_id)
    left join case_scores using (agent_name, conversation_id)
)

select * from final
