-- int_spans__attributed: one row per span, with its agent and case resolved from its trace.
-- A child span (LLM call, tool) carries no agent name of its own in most instrumentations:
-- it inherits the agent of its trace's first invoke_agent span. A span without a
-- conversation id takes its trace's; a trace with none is a case of its own.
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

final as (
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
        spans.operation in (
            'chat', 'text_completion', 'generate_content', 'embeddings', 'completion'
        ) as is_llm_call,
        coalesce(spans.response_model, spans.request_model) as model
    from spans
    left join traces using (trace_id)
)

select * from final
