"""OTLP/JSON traces (collector file exporter, one ExportTraceServiceRequest per line).

The whole parse is one DuckDB statement per batch of lines: `from_json` with a declared
structure, `unnest` of resource → scope → span, attribute lists folded into maps, then
canonical columns picked by the alias table below. Bad lines and bad spans come out as
quarantine rows with a reason; nothing is dropped.
"""

from __future__ import annotations

import json

import pyarrow as pa

from pipelines.db import sql_list, sql_string
from pipelines.ingest import split
from pipelines.ingest.seen import SeenRows
from pipelines.ingest.split import Lineage, ParsedBatch
from pipelines.schemas import EVALUATIONS, SPANS

FORMAT = "otlp_json"

_ANY_VALUE = {
    "stringValue": "VARCHAR",
    "intValue": "VARCHAR",  # int64 is a JSON string in OTLP/JSON; some writers use a number
    "doubleValue": "DOUBLE",
    "boolValue": "BOOLEAN",
    "arrayValue": "JSON",
    "kvlistValue": "JSON",
    "bytesValue": "VARCHAR",
}
_KEY_VALUES = [{"key": "VARCHAR", "value": _ANY_VALUE}]
_SPAN = {
    "traceId": "VARCHAR",
    "spanId": "VARCHAR",
    "parentSpanId": "VARCHAR",
    "name": "VARCHAR",
    "startTimeUnixNano": "VARCHAR",
    "endTimeUnixNano": "VARCHAR",
    "attributes": _KEY_VALUES,
    "status": {"code": "VARCHAR", "message": "VARCHAR"},
    "events": [{"timeUnixNano": "VARCHAR", "name": "VARCHAR", "attributes": _KEY_VALUES}],
}
OTLP_STRUCTURE = json.dumps(
    {
        "resourceSpans": [
            {
                "resource": {"attributes": _KEY_VALUES},
                "scopeSpans": [
                    {"scope": {"name": "VARCHAR", "version": "VARCHAR"}, "spans": [_SPAN]}
                ],
            }
        ]
    }
)

# Canonical column ← attribute keys, first present wins (current semconv first,
# then deprecated names, then OpenInference). Resource attributes are consulted too.
SPAN_ATTRIBUTE_ALIASES: dict[str, tuple[str, ...]] = {
    "agent_name": ("gen_ai.agent.name", "service.name"),
    "agent_version": ("gen_ai.agent.version", "service.version"),
    "conversation_id": ("gen_ai.conversation.id", "session.id"),
    "operation": ("gen_ai.operation.name",),
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "request_model": ("gen_ai.request.model", "llm.model_name"),
    "response_model": ("gen_ai.response.model", "llm.model_name"),
    "response_id": ("gen_ai.response.id",),
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    "error_type": ("error.type",),
    "tool_name": ("gen_ai.tool.name", "tool.name"),
    "service_tier": (
        "openai.response.service_tier",
        "gen_ai.openai.response.service_tier",
        "gen_ai.request.service_tier",
    ),
    "reported_cost_usd": ("gen_ai.usage.cost", "llm.cost.total"),
}
RESOURCE_FALLBACK = {"service.name", "service.version"}  # read from the resource, kept in map
CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "input.value",
    "output.value",
)
_INT_COLUMNS = {
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
}
EVALUATION_EVENT = "gen_ai.evaluation.result"


def _attr(column: str) -> str:
    """SQL picking the first present alias of a canonical column from the maps."""
    picks = []
    for key in SPAN_ATTRIBUTE_ALIASES[column]:
        source = "res_attrs" if key in RESOURCE_FALLBACK else "attrs"
        picks.append(f"{source}[{sql_string(key)}]")
    expr = picks[0] if len(picks) == 1 else f"coalesce({', '.join(picks)})"
    if column in _INT_COLUMNS:
        return f"try_cast(try_cast({expr} as double) as bigint)"
    if column == "reported_cost_usd":
        return f"try_cast({expr} as double)"
    return expr


def _extracted_keys() -> list[str]:
    keys = {k for keys in SPAN_ATTRIBUTE_ALIASES.values() for k in keys}
    return sorted(keys - RESOURCE_FALLBACK)


_KV_TO_TEXT = """list_transform({kvs}, lambda a: {{k: a.key, v: coalesce(
    a.value.stringValue, a.value.intValue, cast(a.value.doubleValue as varchar),
    cast(a.value.boolValue as varchar),
    to_json(json_extract_string(a.value.arrayValue, '$.values[*].*'))::varchar,
    cast(a.value.kvlistValue as varchar), a.value.bytesValue)}})"""

# One pass: the JSON is parsed once; a line that does not parse is told apart afterwards.
_PARSE_SQL = """
create or replace temp table otlp_parsed as
select line_no, try(from_json(line, $structure)).resourceSpans as resource_spans
from otlp_lines
"""

# Records read, counted from the parsed structure itself (not from the output), so the
# conservation check compares two independent counts.
_RECORDS_SQL = """
select
    count(*) filter (where resource_spans is null) as bad_lines,
    coalesce(sum(list_sum(list_transform(resource_spans, lambda r: coalesce(list_sum(
        list_transform(r.scopeSpans, lambda ss: len(ss.spans))), 0)))), 0) as spans,
    coalesce(sum(list_sum(list_transform(resource_spans, lambda r: coalesce(list_sum(
        list_transform(r.scopeSpans, lambda ss: coalesce(list_sum(list_transform(ss.spans,
            lambda s: len(list_filter(s.events, lambda e: e.name = $event_name)))), 0))), 0)))),
        0) as evaluation_events
from otlp_parsed
"""

_BAD_LINES_SQL = """
select line_no, 0 as record_index, null as field,
    case when not json_valid(line) then 'invalid JSON (truncated or corrupt line)'
         else 'not an OTLP/JSON traces export: no resourceSpans list' end as reason,
    line as raw
from otlp_parsed join otlp_lines using (line_no)
where resource_spans is null
"""

_FLATTEN_SQL = f"""
create or replace temp table otlp_flat as
with resource_spans as (
    select line_no, unnest(resource_spans) as rs, generate_subscripts(resource_spans, 1) as rs_i
    from otlp_parsed where resource_spans is not null
),
scope_spans as (
    select line_no, rs_i, rs.resource.attributes as res_kvs,
        unnest(rs.scopeSpans) as ss, generate_subscripts(rs.scopeSpans, 1) as ss_i
    from resource_spans
),
spans as (
    select line_no, rs_i, ss_i, res_kvs,
        unnest(ss.spans) as s, generate_subscripts(ss.spans, 1) as sp_i
    from scope_spans
)
select
    line_no,
    (rs_i * 1000000 + ss_i) * 1000000 + sp_i as ordinal,
    s,
    map_from_entries({_KV_TO_TEXT.format(kvs="res_kvs")}) as res_attrs,
    map_from_entries({_KV_TO_TEXT.format(kvs="s.attributes")}) as attrs,
    try_cast(s.startTimeUnixNano as hugeint) as start_ns,
    try_cast(s.endTimeUnixNano as hugeint) as end_ns
from spans
"""

_TIMING_PROBLEM = """
case
    when start_ns is null or start_ns <= 0
        then 'started_at|startTimeUnixNano must be a positive integer of nanoseconds'
    when end_ns is null or end_ns < start_ns
        then 'ended_at|endTimeUnixNano must be an integer not before startTimeUnixNano'
end
"""


def _timestamp(nanoseconds: str) -> str:
    return f"make_timestamp(cast({nanoseconds} // 1000 as bigint))::timestamptz"


def _with_included(total: str, *parts: str) -> str:
    """OTel semantics: the total includes its parts. A source whose total is smaller
    than its parts evidently counted them apart, so they are added back."""
    parts_sum = " + ".join(f"coalesce({p}, 0)" for p in parts)
    return f"case when {total} < {parts_sum} then {total} + {parts_sum} else {total} end"


def _spans_view_sql(keep_content: bool) -> str:
    columns = {
        "trace_id": "lower(s.traceId)",
        "span_id": "lower(s.spanId)",
        "parent_span_id": "nullif(lower(s.parentSpanId), '')",
        **{c: _attr(c) for c in SPAN_ATTRIBUTE_ALIASES},
        "started_at": _timestamp("start_ns"),
        "ended_at": _timestamp("end_ns"),
        "duration_ms": "cast(end_ns - start_ns as double) / 1e6",
        "status": """case when s.status.code in ('1', 'STATUS_CODE_OK') then 'ok'
            when s.status.code in ('2', 'STATUS_CODE_ERROR') then 'error' else 'unset' end""",
        "attributes": "attributes",
    }
    columns["operation"] = f"coalesce({_attr('operation')}, s.name, 'unknown')"
    columns["input_tokens"] = _with_included(
        _attr("input_tokens"), _attr("cache_read_tokens"), _attr("cache_write_tokens")
    )
    columns["output_tokens"] = _with_included(_attr("output_tokens"), _attr("reasoning_tokens"))
    # "<class 'openai.NotFoundError'>" → "NotFoundError"
    columns["error_type"] = (
        f"coalesce(nullif(regexp_extract({_attr('error_type')}, "
        "'^<class ''(?:[\\w.]*\\.)?(\\w+)''>$', 1), ''), " + _attr("error_type") + ")"
    )
    select = ",\n    ".join(
        f"{columns[name]} as {name}" for name in SPANS.column_names if name in columns
    )
    if keep_content:
        entries = "[{k: e.key, v: e.value}]"
    else:  # content becomes its length and hash: `gen_ai.input.messages.chars` / `.sha256`
        entries = (
            f"case when list_contains({sql_list(CONTENT_KEYS)}, e.key) "
            "then [{k: e.key || '.chars', v: cast(length(e.value) as varchar)}, "
            "{k: e.key || '.sha256', v: sha256(e.value)}] "
            "else [{k: e.key, v: e.value}] end"
        )
    return f"""
    create or replace temp view otlp_span_candidates as
    with kept as (
        select *, map_concat(res_attrs, map_from_entries(flatten(list_transform(
            list_filter(map_entries(attrs),
                lambda e: not list_contains({sql_list(_extracted_keys())}, e.key)),
            lambda e: {entries})))) as attributes
        from otlp_flat
    )
    select {select}, line_no, ordinal, {_TIMING_PROBLEM.strip()} as parse_problem
    from kept
    """


_EVALUATIONS_VIEW_SQL = f"""
create or replace temp view otlp_evaluation_candidates as
with events as (
    select lower(s.traceId) as trace_id, lower(s.spanId) as span_id,
        {_attr("conversation_id")} as conversation_id,
        line_no, ordinal, end_ns, unnest(s.events) as e,
        generate_subscripts(s.events, 1) as event_i
    from otlp_flat
),
evaluations as (
    select *, map_from_entries({_KV_TO_TEXT.format(kvs="e.attributes")}) as ea
    from events where e.name = '{EVALUATION_EVENT}'
)
select trace_id, span_id, conversation_id,
    ea['gen_ai.response.id'] as response_id,
    ea['gen_ai.evaluation.name'] as name,
    try_cast(ea['gen_ai.evaluation.score.value'] as double) as score_value,
    ea['gen_ai.evaluation.score.label'] as score_label,
    ea['fleet.evaluation.source'] as source,
    {_timestamp("coalesce(try_cast(e.timeUnixNano as hugeint), end_ns)")} as evaluated_at,
    line_no, ordinal * 1000 + event_i as ordinal,
    case when ea['gen_ai.evaluation.name'] is null
        then 'name|evaluation event without gen_ai.evaluation.name' end as parse_problem
from evaluations
"""


_SPAN_RAW_SQL = """
select line_no, ordinal, to_json(s)::varchar as raw from otlp_flat semi join {rows}
using (line_no, ordinal)
"""
_EVENT_RAW_SQL = """
with events as (
    select line_no, ordinal * 1000 + generate_subscripts(s.events, 1) as ordinal,
        unnest(s.events) as e
    from otlp_flat semi join (select line_no from {rows}) using (line_no)
)
select line_no, ordinal, to_json(e)::varchar as raw from events
"""


def parse_batch(
    con, lines: pa.Table, lineage: Lineage, *, keep_content: bool, seen: SeenRows
) -> ParsedBatch:
    """Parse a batch of numbered OTLP/JSON lines into spans, evaluations and rejects."""
    con.register("otlp_lines", lines)
    try:
        con.execute(_PARSE_SQL, {"structure": OTLP_STRUCTURE})
        bad_lines, n_spans, n_events = con.execute(
            _RECORDS_SQL, {"event_name": EVALUATION_EVENT}
        ).fetchall()[0]
        con.execute(_FLATTEN_SQL)
        con.execute(_spans_view_sql(keep_content))
        con.execute(_EVALUATIONS_VIEW_SQL)
        spans = split.check(con, "otlp_span_candidates", SPANS, seen=seen)
        evaluations = split.check(con, "otlp_evaluation_candidates", EVALUATIONS)
        return ParsedBatch(
            rows={
                SPANS.name: split.accepted(con, spans, SPANS, lineage),
                EVALUATIONS.name: split.accepted(con, evaluations, EVALUATIONS, lineage),
            },
            quarantine=pa.concat_tables(
                [
                    split.quarantine_rows(con, _BAD_LINES_SQL, SPANS, lineage),
                    split.rejected(con, spans, _SPAN_RAW_SQL, SPANS, lineage),
                    split.rejected(con, evaluations, _EVENT_RAW_SQL, EVALUATIONS, lineage),
                ]
            ),
            records_read=bad_lines + n_spans + n_events,
        )
    finally:
        con.unregister("otlp_lines")
