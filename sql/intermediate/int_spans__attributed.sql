-- int_spans__attributed: one row per span, with its agent and case resolved from its trace.
-- A child span (LLM call, tool) carries no agent name of its own in most instrumentations:
-- it belongs to its nearest invoke_agent ancestor (itself, for a named invoke_agent
-- span), so a sub-agent an orchestrator calls gets its own calls (`agent_name`); the case
-- stays the trace's root agent's (`case_agent_name`: the outermost agent, first by start,
-- which keeps the case's total). Only traces with invoke_agent spans of two or more agents
-- walk the parent chain (top-down, bounded depth); in the others every span takes the
-- trace's agent, as does a span no walk reaches (a span above the agents, a cycle). A
-- span without a conversation id takes its trace's; a trace with none is a case of its own.
-- The same LLM call emitted by two instrumentations (same gen_ai.response.id in the same
-- trace) counts once: the span with the most token detail is the call, the other is
-- kept but marked `is_duplicate_call`.
-- A span is audit-complete when an audit can place it: agent, timing, status, a case
-- (a conversation id on the span or its trace) and an intact parent chain (it is a root,
-- or its parent is stored); an LLM call also needs its model and, unless it failed, its
-- input and output tokens.
-- Only the columns the facts use are kept (the `fleet.*` attributes the cases read among
-- them, with the eval tags of offline eval traces; not the parent and response ids the
-- walk and the duplicate check use): this table holds every span of a build batch in
-- memory, and each column costs time to write.
-- materialized: slice
with recursive spans as not materialized (
    select
        trace_id, span_id, parent_span_id, agent_name, agent_version, conversation_id,
        operation, provider, request_model, response_model, response_id,
        started_at, ended_at, duration_ms,
        input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
        status, error_type, tool_name, service_tier, reported_cost_usd,
        attributes['fleet.case.outcome'] as case_outcome,
        attributes['fleet.intent'] as intent,
        attributes['fleet.fallback'] = 'true' as is_fallback,
        attributes['fleet.eval.run_id'] as eval_run_id,
        attributes['fleet.eval.item_id'] as eval_item_id,
        attributes['fleet.eval.dataset'] as eval_dataset,
        attributes['fleet.eval.variant'] as eval_variant,
        attributes['fleet.variant'] as variant,
        lower(attributes['fleet.shadow']) = 'true' as is_shadow
    from stg_spans
),

traces as materialized (
    select
        trace_id,
        arg_min(agent_name, started_at)
            filter (where operation = 'invoke_agent') as trace_agent_name,
        arg_min(agent_version, started_at)
            filter (where operation = 'invoke_agent') as trace_agent_version,
        arg_min(conversation_id, started_at)
            filter (where conversation_id is not null) as trace_conversation_id,
        min(agent_name) filter (where operation = 'invoke_agent')
            <> max(agent_name) filter (where operation = 'invoke_agent') as is_multi_agent
    from spans
    group by trace_id
),

-- the spans of multi-agent traces (the rare ones that need a walk), each with the agent
-- it names when it is a named invoke_agent span
multi_agent_spans as (
    select
        trace_id,
        span_id,
        parent_span_id,
        started_at,
        if(operation = 'invoke_agent', agent_name, null) as own_agent_name,
        if(operation = 'invoke_agent' and agent_name is not null, agent_version, null)
            as own_agent_version
    from spans
    where trace_id in (select trace_id from traces where is_multi_agent)
),

-- top-down from each root (or span whose parent is not stored): the nearest named agent
-- of every span below; `is_top_agent` marks an agent span with no agent above it. The
-- parent chain is a tree, so each span is reached once; the depth bound is a safeguard.
agent_walk (trace_id, span_id, started_at, agent_name, agent_version, is_top_agent, depth) as (
    select
        trace_id, span_id, started_at, own_agent_name, own_agent_version,
        own_agent_name is not null, 0
    from multi_agent_spans as root
    where parent_span_id is null
        or not exists (
            select 1 from multi_agent_spans as parent
            where parent.trace_id = root.trace_id and parent.span_id = root.parent_span_id
        )
    union all
    select
        child.trace_id,
        child.span_id,
        child.started_at,
        coalesce(child.own_agent_name, parent.agent_name),
        if(child.own_agent_name is null, parent.agent_version, child.own_agent_version),
        child.own_agent_name is not null and parent.agent_name is null,
        parent.depth + 1
    from agent_walk as parent
    inner join multi_agent_spans as child
        on child.trace_id = parent.trace_id and child.parent_span_id = parent.span_id
    where parent.depth < 256
),

multi_agent_cases as (
    select trace_id, arg_min(agent_name, (started_at, span_id)) as case_agent_name
    from agent_walk
    where is_top_agent
    group by trace_id
),

-- the agent whose case the trace is: the first top agent of a multi-agent trace, else
-- the trace's first named agent (NULL when no span invokes an agent)
trace_cases as (
    select
        traces.*,
        coalesce(multi_agent_cases.case_agent_name, traces.trace_agent_name)
            as case_agent_name
    from traces
    left join multi_agent_cases using (trace_id)
),

-- the rare spans whose parent is not stored, and the rare second emissions of a call:
-- small tables, so joining them back costs next to nothing. An anti join, not NOT EXISTS:
-- that one is planned as a mark join on IS NOT DISTINCT FROM, twice the work over every span
broken_chains as (
    select child.trace_id, child.span_id
    from spans as child
    anti join spans as parent
        on parent.trace_id = child.trace_id and parent.span_id = child.parent_span_id
    where child.parent_span_id is not null
),

-- a call emitted twice shares its response id: only those few ids are ranked (ranking
-- every call took a sixth of this model's time)
repeated_responses as (
    select trace_id, response_id
    from spans
    where response_id is not null
    group by all
    having count(*) > 1
),

duplicate_calls as (
    select trace_id, span_id
    from spans
    semi join repeated_responses using (trace_id, response_id)
    qualify row_number() over (
        partition by trace_id, response_id
        order by
            (input_tokens is not null)::int + (output_tokens is not null)::int
            + (cache_read_tokens is not null)::int + (reasoning_tokens is not null)::int
            desc,
            started_at,
            span_id
    ) > 1
),

attributed as (
    select
        spans.* replace (
            coalesce(
                agent_walk.agent_name,
                if(spans.operation <> 'invoke_agent', traces.case_agent_name, null),
                spans.agent_name,
                traces.case_agent_name
            ) as agent_name,
            coalesce(
                spans.agent_version, agent_walk.agent_version, traces.trace_agent_version
            ) as agent_version,
            coalesce(
                spans.conversation_id, traces.trace_conversation_id, spans.trace_id
            ) as conversation_id
        ),
        coalesce(traces.case_agent_name, spans.agent_name) as case_agent_name,
        duplicate_calls.span_id is not null as is_duplicate_call,
        spans.operation in (
            'chat', 'text_completion', 'generate_content', 'embeddings', 'completion'
        ) and duplicate_calls.span_id is null as is_llm_call,
        coalesce(spans.response_model, spans.request_model) as model,
        broken_chains.span_id is null as has_parent_chain,
        coalesce(spans.conversation_id, traces.trace_conversation_id) is not null
            as has_case_id
    from spans
    left join trace_cases as traces using (trace_id)
    left join agent_walk using (trace_id, span_id)
    left join duplicate_calls using (trace_id, span_id)
    left join broken_chains using (trace_id, span_id)
),

final as (
    select
        * exclude (has_parent_chain, has_case_id, parent_span_id, response_id),
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
