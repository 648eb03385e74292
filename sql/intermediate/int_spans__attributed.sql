-- int_spans__attributed: one row per span, with its agent and case resolved from its trace.
-- A child span (LLM call, tool) carries no agent name of its own in most instrumentations:
-- it inherits the agent of its trace's first invoke_agent span. A span without a
-- conversation id takes its trace's; a trace with none is a case of its own.
-- The same LLM call emitted by two instrumentations (same gen_ai.response.id in the same
-- trace) counts once: the span with the most token detail is the call, the other is
-- kept but marked `is_duplicate_call`.
-- A span is audit-complete when an audit can place it: agent, timing, status, a case
-- (a conversation id on the span or its trace) and an intact parent chain (it is a root,
-- or its parent is stored); an LLM call also needs its model and, unless it failed, its
-- input and output tokens.
-- materialized: slice
with spans as (
    select * from stg_spans
),

traces as (
    select
        trace_id,
        arg_min(agent_name, started_at)
            filter (where operation = 'invoke_agent') as trace_agent_name,
        arg_min(agent_version, started_at)
            filter (where operation = 'invoke_agent') as trace_agent_version,
        arg_min(conversation_id, started_at)
            filter (where conversation_id is not null) as trace_conversation_id
    from spans
    group by trace_id
),

parents as (
    select trace_id, span_id as parent_span_id, true as is_stored
    from spans
),

copies as (
    select
        trace_id,
        span_id,
        response_id is not null and row_number() over (
            partition by trace_id, response_id
            order by
                (input_tokens is not null)::int + (output_tokens is not null)::int
                + (cache_read_tokens is not null)::int + (reasoning_tokens is not null)::int
                desc,
                started_at,
                span_id
        ) > 1 as is_duplicate_call
    from spans
),

attributed as (
    select
        spans.* replace (
            coalesce(
                case when spans.operation <> 'invoke_agent' then traces.trace_agent_name end,
                spans.agent_name
            ) as agent_name,
            coalesce(spans.agent_version, traces.trace_agent_version) as agent_version,
            coalesce(
                spans.conversation_id, traces.trace_conversation_id, spans.trace_id
            ) as conversation_id
        ),
        copies.is_duplicate_call,
        spans.operation in (
            'chat', 'text_completion', 'generate_content', 'embeddings', 'completion'
        ) and not copies.is_duplicate_call as is_llm_call,
        coalesce(spans.response_model, spans.request_model) as model,
        spans.parent_span_id is null or parents.is_stored is not null as has_parent_chain,
        coalesce(spans.conversation_id, traces.trace_conversation_id) is not null
            as has_case_id
    from spans
    left join traces using (trace_id)
    left join copies using (trace_id, span_id)
    left join parents using (trace_id, parent_span_id)
),

final as (
    select
        * exclude (has_parent_chain, has_case_id),
        agent_name is not null
        and started_at is not null and ended_at is not null
        and status is not null
        and has_case_id
        and has_parent_chain
        and (not is_llm_call or (
            model is not null
            and (status = 'error' or (input_tokens is not null and output_tokens is not null))
        )) as is_audit_complete
    from attributed
)

select * from final
