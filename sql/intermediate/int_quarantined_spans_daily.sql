-- int_quarantined_spans_daily: spans held back at ingest, per agent × UTC day.
-- They are audit events the lake lacks. Each quarantined span (lake_quarantine, table
-- `spans`) is read back from its raw text as its format wrote it (OTLP span, native row,
-- Langfuse observation or legacy trace): its trace id and, when readable, its own agent
-- name and start. Agent: its own gen_ai.agent.name (native `agent_name`; Langfuse
-- metadata, or an AGENT observation's name), else its trace's case agent
-- (fct_case_traces), else the Langfuse trace name, else NULL: the fleet's unattributed
-- gap, where a whole line that held no readable record also counts (as one span). Day:
-- the span's start day when readable and plausible (from 2000 on, not after its ingest:
-- the demo's broken spans start at 1 ns, a 1970 day no report reads), else the day it
-- was ingested. A span quarantined as a duplicate is not counted: the span is stored.
-- grain: day, agent_name
-- materialized: table
-- columns:
--   day: UTC date the quarantined spans started (else the date they were ingested)
--   agent_name: agent the quarantined spans belong to (NULL: not attributable)
--   n_quarantined_spans: spans held back at ingest (unreadable or invalid), duplicates excepted
with quarantined as (
    select
        source_format,
        ingested_at,
        if(json_valid(raw), raw, null)::json as record
    from lake_quarantine
    where table_name = 'spans' and reason not like 'duplicate: %'
),

case_traces as (
    select * from fct_case_traces
),

read_back as (
    select
        source_format,
        ingested_at,
        case source_format
            when 'otlp_json' then lower(record ->> 'traceId')
            when 'langfuse_traces' then record ->> 'id'
            else record ->> 'trace_id'
        end as source_trace_id,
        case source_format
            when 'otlp_json' then list_filter(
                from_json(
                    record -> 'attributes',
                    '[{"key": "VARCHAR", "value": {"stringValue": "VARCHAR"}}]'
                ),
                lambda a: a.key = 'gen_ai.agent.name'
            )[1].value.stringValue
            when 'native_spans' then record ->> 'agent_name'
            when 'langfuse_observations' then coalesce(
                try_cast(record ->> 'metadata' as json) ->> '/gen_ai.agent.name',
                if(record ->> 'type' = 'AGENT', record ->> 'name', null)
            )
            when 'langfuse_traces' then record ->> 'name'
        end as own_agent_name,
        if(source_format = 'langfuse_observations', record ->> 'trace_name', null)
            as trace_name,
        case source_format
            when 'otlp_json' then try(make_timestamp(
                cast(try_cast(record ->> 'startTimeUnixNano' as hugeint) // 1000 as bigint)
            ))::timestamptz
            when 'native_spans' then try_cast(record ->> 'started_at' as timestamptz)
            when 'langfuse_observations' then try_cast(record ->> 'start_time' as timestamptz)
            when 'langfuse_traces' then try_cast(record ->> 'timestamp' as timestamptz)
        end as started_at
    from quarantined
),

-- Langfuse ids become hex ids as the ingest makes them (pipelines/ingest/langfuse.py)
spans as (
    select
        * exclude (source_trace_id),
        case
            when source_format not like 'langfuse_%' then source_trace_id
            when regexp_full_match(lower(source_trace_id), '[0-9a-f]{32}')
                then lower(source_trace_id)
            when regexp_full_match(
                lower(source_trace_id), '[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}'
            ) then left(replace(lower(source_trace_id), '-', ''), 32)
            else left(md5(source_trace_id), 32)
        end as trace_id
    from read_back
),

trace_agents as (
    select trace_id, arg_max(agent_name, (n_spans, agent_name)) as agent_name
    from case_traces
    where agent_name is not null and trace_id in (select trace_id from spans)
    group by trace_id
),

final as (
    select
        cast(
            if(
                spans.started_at between timestamptz '2000-01-01' and spans.ingested_at,
                spans.started_at,
                spans.ingested_at
            ) as date
        ) as day,
        coalesce(spans.own_agent_name, trace_agents.agent_name, spans.trace_name)
            as agent_name,
        count(*) as n_quarantined_spans
    from spans
    left join trace_agents using (trace_id)
    group by all
)

select * from final
