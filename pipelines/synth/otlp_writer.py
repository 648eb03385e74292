"""Write simulated cases as OTLP/JSON Lines, the way a collector's file exporter does:
one ExportTraceServiceRequest per line, resource → scope → spans, ints as strings,
nanosecond timestamps, `gen_ai.*` attributes, evaluation results (the quality judge's score
and, for some agents, a 0/1 guardrail evaluator's) as span events on the root span.
LLM and tool spans carry no agent name: like real instrumentations, only the root
`invoke_agent` span does. One file per arrival day (late spans arrive days later)."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.db import connect, sql_string
from pipelines.synth.simulate import Calendar, Simulation

CASES_PER_LINE = 20
SCOPE = "{'name': 'fleet.demo.instrumentation', 'version': '1.4.0'}"


def _kv(key: str, kind: str, value: str) -> str:
    """One OTLP attribute of demo span `s`; vanishes (NULL) when the value is NULL."""
    value = f"s.{value}"
    if kind == "intValue":
        value = f"cast({value} as varchar)"
    return (
        f"{{key: '{key}', value: case when {value} is not null "
        f"then json_object('{kind}', {value}) end}}"
    )


ATTRIBUTES = ", ".join(
    [
        _kv("gen_ai.operation.name", "stringValue", "operation"),
        _kv("gen_ai.agent.name", "stringValue", "agent_name"),
        _kv("gen_ai.agent.version", "stringValue", "agent_version"),
        _kv("gen_ai.conversation.id", "stringValue", "conversation_id"),
        _kv("fleet.intent", "stringValue", "intent"),
        _kv("fleet.case.outcome", "stringValue", "outcome"),
        _kv("fleet.fallback", "boolValue", "is_fallback"),
        _kv("gen_ai.provider.name", "stringValue", "provider"),
        _kv("gen_ai.request.model", "stringValue", "model"),
        _kv("gen_ai.response.model", "stringValue", "response_model"),
        _kv("gen_ai.response.id", "stringValue", "response_id"),
        _kv("gen_ai.usage.input_tokens", "intValue", "input_tokens"),
        _kv("gen_ai.usage.output_tokens", "intValue", "output_tokens"),
        _kv("gen_ai.usage.cache_read.input_tokens", "intValue", "cache_read_tokens"),
        _kv("gen_ai.usage.cache_creation.input_tokens", "intValue", "cache_write_tokens"),
        _kv("gen_ai.usage.reasoning.output_tokens", "intValue", "reasoning_tokens"),
        _kv("error.type", "stringValue", "error_type"),
        _kv("gen_ai.tool.name", "stringValue", "tool_name"),
        _kv("gen_ai.tool.call.id", "stringValue", "tool_call_id"),
    ]
)


def _evaluation_event(name: str, value: str, source: str) -> str:
    """A `gen_ai.evaluation.result` span event (SQL struct) from three SQL expressions."""
    return f"""{{
                timeUnixNano: cast(s.end_ns as varchar), name: 'gen_ai.evaluation.result',
                attributes: [
                    {{key: 'gen_ai.evaluation.name', value: json_object('stringValue', {name})}},
                    {{key: 'gen_ai.evaluation.score.value',
                      value: json_object('doubleValue', cast({value} as double))}},
                    {{key: 'fleet.evaluation.source',
                      value: json_object('stringValue', {source})}}
                ]}}"""


QUALITY_EVENT = _evaluation_event("'quality'", "s.quality", "'llm_judge'")
GUARDRAIL_EVENT = _evaluation_event("s.guardrail", "s.guardrail_value", "agents.guardrail_source")

# when each call and tool span starts: one after the other within its case (the billing
# writer bills each call on the day it starts, as providers do)
CHILD_STARTS_SQL = """
child_durations as (
    select case_no, position, span_id, duration_ns from sim_calls
    union all
    select case_no, position, span_id, duration_ns from sim_tools
),
child_starts as (
    select case_no, span_id, cases.start_ns + 2000000 * (position + 1)
        + coalesce(sum(duration_ns) over (partition by case_no order by position
            rows between unbounded preceding and 1 preceding), 0) as start_ns
    from child_durations join sim_cases as cases using (case_no)
)"""

SPANS_SQL = f"""
create or replace temp table demo_spans as
with children as (
    select case_no, position, span_id, duration_ns, 'chat' as operation,
        provider, model, response_model,
        case when provider = 'anthropic' then 'msg_' else 'chatcmpl-' end
            || printf('%016x', response_no) as response_id,
        nullif(input_tokens, 0) as input_tokens, nullif(output_tokens, 0) as output_tokens,
        case when input_tokens > 0 then cache_read_tokens end as cache_read_tokens,
        case when input_tokens > 0 then nullif(cache_write_tokens, 0) end as cache_write_tokens,
        nullif(reasoning_tokens, 0) as reasoning_tokens,
        case when is_error then 'RateLimitError' end as error_type,
        null as tool_name, null as tool_call_id
    from sim_calls
    union all by name
    select case_no, position, span_id, duration_ns, 'execute_tool' as operation,
        tool_name, 'call_' || printf('%016x', call_no) as tool_call_id
    from sim_tools
),
{CHILD_STARTS_SQL},
timed as (
    select children.*, child_starts.start_ns
    from children join child_starts using (case_no, span_id)
),
case_ends as (
    select case_no, max(start_ns + duration_ns) as last_child_end_ns from timed group by case_no
),
roots as (
    select cases.*, coalesce(last_child_end_ns, cases.start_ns) + 3000000 as end_ns
    from sim_cases as cases left join case_ends using (case_no)
)
select case_no, printf('%016x', root_span_id) as span_id, '' as parent_span_id,
    'invoke_agent ' || agent_name as name, 1 as kind, start_ns, end_ns,
    'invoke_agent' as operation, agent_name, agent_version,
    'conv-' || printf('%016x', trace_lo) as conversation_id, intent, outcome,
    outcome = 'fallback' as is_fallback,
    case when is_scored then quality end as quality, guardrail, guardrail_value
from roots
union all by name
select timed.case_no, printf('%016x', timed.span_id) as span_id,
    printf('%016x', cases.root_span_id) as parent_span_id,
    case when operation = 'chat' then 'chat ' || timed.model
        else 'execute_tool ' || tool_name end as name,
    case when operation = 'chat' then 3 else 1 end as kind,
    timed.start_ns, timed.start_ns + duration_ns as end_ns,
    operation, timed.provider, timed.model, response_model, response_id, input_tokens,
    output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, error_type,
    tool_name, tool_call_id
from timed join sim_cases as cases using (case_no)
"""

LINES_SQL = f"""
with spans as (
    select cases.arrival_day_idx, cases.agent_idx, cases.case_no, agents.service_name,
        {{
            traceId: printf('%016x%016x', cases.trace_hi, cases.trace_lo),
            spanId: s.span_id, parentSpanId: s.parent_span_id, name: s.name, kind: s.kind,
            startTimeUnixNano: cast(s.start_ns as varchar),
            endTimeUnixNano: cast(s.end_ns as varchar),
            attributes: list_filter([{ATTRIBUTES}], lambda a: a.value is not null),
            status: case when s.error_type is not null
                then json_object('code', 2, 'message', 'Error code: 429 - rate limited')
                else '{{}}'::json end,
            events: list_concat(
                case when s.quality is not null then [{QUALITY_EVENT}] else [] end,
                case when s.guardrail is not null then [{GUARDRAIL_EVENT}] else [] end)
        }} as span
    from demo_spans as s
    join sim_cases as cases using (case_no)
    join sim_agents as agents using (agent_idx)
),
batches as (
    select arrival_day_idx, service_name, case_no // {CASES_PER_LINE} as batch_no,
        list(span order by case_no, span.startTimeUnixNano) as spans
    from spans group by all
)
select strftime($start::date + arrival_day_idx::int, '%Y-%m-%d') as arrival_day,
    [{{
        resource: {{attributes: [
            {{key: 'service.name', value: json_object('stringValue', service_name)}},
            {{key: 'telemetry.sdk.language', value: json_object('stringValue', 'python')}},
            {{key: 'deployment.environment.name', value: json_object('stringValue', 'production')}}
        ]}},
        scopeSpans: [{{scope: {SCOPE}, spans: spans}}]
    }}] as resourceSpans
from batches
order by arrival_day_idx, service_name, batch_no
"""


def write_otlp(sim: Simulation, agents_table, calendar: Calendar, out_dir: Path) -> list[Path]:
    """Write one `otlp-<arrival day>.jsonl` per day into out_dir; returns the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for previous in out_dir.glob("otlp-*.jsonl"):  # a re-run replaces the demo's own files
        previous.unlink()
    staging = out_dir / "_partitions"
    shutil.rmtree(staging, ignore_errors=True)
    con = connect()
    con.execute("set preserve_insertion_order = true")
    for name, table in (
        ("sim_cases", sim.cases),
        ("sim_calls", sim.calls),
        ("sim_tools", sim.tools),
        ("sim_agents", agents_table),
    ):
        con.register(name, table)
    con.execute(SPANS_SQL)
    # PARTITION_BY writes every day in one parallel pass; order by keeps lines stable.
    con.execute(
        f"copy ({LINES_SQL}) to {sql_string(staging)} "
        "(format json, partition_by (arrival_day), overwrite_or_ignore true)",
        {"start": calendar.start},
    )
    con.close()
    files = []
    for part in sorted(staging.glob("arrival_day=*")):
        target = out_dir / f"otlp-{part.name.split('=', 1)[1]}.jsonl"
        chunks = sorted(part.glob("*.json"))
        with open(target, "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as handle:
                    shutil.copyfileobj(handle, out)
        files.append(target)
    shutil.rmtree(staging)
    return files
