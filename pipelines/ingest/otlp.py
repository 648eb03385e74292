"""OTLP/JSON traces (collector file exporter, one ExportTraceServiceRequest per line).

The whole parse is one DuckDB statement per batch of lines: `from_json` with a declared
structure, `unnest` of resource → scope → span, attribute lists folded into maps, then
canonical columns picked by the alias table below. Bad lines and bad spans come out as
quarantine rows with a reason; nothing is dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from pipelines.db import sql_string
from pipelines.schemas import EVALUATIONS, QUARANTINE, SPANS

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


@dataclass(frozen=True)
class ParsedBatch:
    spans: pa.Table
    evaluations: pa.Table
    quarantine: pa.Table
    records_read: int


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

_SPAN_PROBLEM = """
case
    when s.traceId is null or not regexp_full_match(s.traceId, '[0-9a-fA-F]{32}')
        then 'traceId|must be 32 hex characters'
    when s.spanId is null or not regexp_full_match(s.spanId, '[0-9a-fA-F]{16}')
        then 'spanId|must be 16 hex characters'
    when start_ns is null or start_ns <= 0
        then 'startTimeUnixNano|must be a positive integer of nanoseconds'
    when end_ns is null or end_ns < start_ns
        then 'endTimeUnixNano|must be an integer not before startTimeUnixNano'
end
"""

_FLATTEN_SQL = f"""
create or replace temp table otlp_flat as
with parsed as (
    select line_no, request from otlp_parsed
),
resource_spans as (
    select line_no, unnest(request.resourceSpans) as rs
    from parsed where request.resourceSpans is not null
),
scope_spans as (
    select line_no, rs.resource.attributes as res_kvs, unnest(rs.scopeSpans) as ss
    from resource_spans
),
spans as (
    select line_no, res_kvs, unnest(ss.spans) as s from scope_spans
),
flat as (select
    line_no,
    row_number() over (partition by line_no) as record_index,
    s,
    map_from_entries({_KV_TO_TEXT.format(kvs="res_kvs")}) as res_attrs,
    map_from_entries({_KV_TO_TEXT.format(kvs="s.attributes")}) as attrs,
    try_cast(s.startTimeUnixNano as hugeint) as start_ns,
    try_cast(s.endTimeUnixNano as hugeint) as end_ns
from spans)
select *, {_SPAN_PROBLEM.strip()} as problem from flat
"""

_PARSE_SQL = """
create or replace temp table otlp_parsed as
select line_no, line, json_valid(line) as is_json,
    case when is_json then try(from_json(line, $structure)) end as request
from otlp_lines
"""

_BAD_LINES_SQL = """
select line_no, 0 as record_index, null as field,
    case when not is_json then 'invalid JSON (truncated or corrupt line)'
         else 'not an OTLP/JSON traces export: no resourceSpans list' end as reason,
    line as raw
from otlp_parsed
where not is_json or request.resourceSpans is null
"""


def _spans_sql(keep_content: bool) -> str:
    columns = {
        "trace_id": "lower(s.traceId)",
        "span_id": "lower(s.spanId)",
        "parent_span_id": "nullif(lower(s.parentSpanId), '')",
        **{c: _attr(c) for c in SPAN_ATTRIBUTE_ALIASES},
        "started_at": "make_timestamp(cast(start_ns // 1000 as bigint))::timestamptz",
        "ended_at": "make_timestamp(cast(end_ns // 1000 as bigint))::timestamptz",
        "duration_ms": "cast(end_ns - start_ns as double) / 1e6",
        "status": """case when s.status.code in ('1', 'STATUS_CODE_OK') then 'ok'
            when s.status.code in ('2', 'STATUS_CODE_ERROR') then 'error' else 'unset' end""",
        "attributes": "attributes",
        "source_format": "$source_format",
        "source_file": "$source_file",
        "ingested_at": "$ingested_at::timestamptz",
    }
    columns["operation"] = f"coalesce({_attr('operation')}, s.name, 'unknown')"
    # "<class 'openai.NotFoundError'>" → "NotFoundError"
    columns["error_type"] = (
        f"coalesce(nullif(regexp_extract({_attr('error_type')}, "
        "'^<class ''(?:[\\w.]*\\.)?(\\w+)''>$', 1), ''), " + _attr("error_type") + ")"
    )
    select = ",\n    ".join(f"{columns[name]} as {name}" for name in SPANS.column_names)
    if keep_content:
        entry = "{k: e.key, v: e.value}"
    else:  # content becomes its length: `gen_ai.input.messages.chars`
        entry = (
            "case when list_contains($content_keys, e.key) "
            "then {k: e.key || '.chars', v: cast(length(e.value) as varchar)} "
            "else {k: e.key, v: e.value} end"
        )
    return f"""
    with kept as (
        select *, map_concat(res_attrs, map_from_entries(list_transform(
            list_filter(map_entries(attrs), lambda e: not list_contains($extracted, e.key)),
            lambda e: {entry}))) as attributes
        from otlp_flat where problem is null
    )
    select {select} from kept
    """


_SPAN_REJECTS_SQL = """
select line_no, record_index, split_part(problem, '|', 1) as field,
    split_part(problem, '|', 2) as reason, coalesce(to_json(s)::varchar, 'null') as raw
from otlp_flat where problem is not null
"""

_EVENTS_SQL = """
create or replace temp table otlp_events as
with events as (
    select lower(s.traceId) as trace_id, lower(s.spanId) as span_id,
        coalesce(attrs['gen_ai.conversation.id'], attrs['session.id']) as conversation_id,
        line_no, record_index, end_ns, unnest(s.events) as e
    from otlp_flat where problem is null
)
select *, map_from_entries(list_transform(e.attributes, lambda a: {k: a.key,
    v: coalesce(a.value.stringValue, a.value.intValue, cast(a.value.doubleValue as varchar),
                cast(a.value.boolValue as varchar))})) as ea
from events where e.name = $event_name
"""


def _evaluations_sql() -> str:
    columns = {
        "trace_id": "trace_id",
        "span_id": "span_id",
        "conversation_id": "conversation_id",
        "response_id": "ea['gen_ai.response.id']",
        "name": "ea['gen_ai.evaluation.name']",
        "score_value": "try_cast(ea['gen_ai.evaluation.score.value'] as double)",
        "score_label": "ea['gen_ai.evaluation.score.label']",
        "source": "ea['fleet.evaluation.source']",
        "evaluated_at": "make_timestamp(cast(coalesce(try_cast(e.timeUnixNano as hugeint), "
        "end_ns) // 1000 as bigint))::timestamptz",
        "source_format": "$source_format",
        "source_file": "$source_file",
        "ingested_at": "$ingested_at::timestamptz",
    }
    select = ",\n    ".join(f"{columns[n]} as {n}" for n in EVALUATIONS.column_names)
    return f"select {select} from otlp_events where ea['gen_ai.evaluation.name'] is not null"


_EVENT_REJECTS_SQL = """
select line_no, record_index, 'gen_ai.evaluation.name' as field,
    'evaluation event without gen_ai.evaluation.name' as reason,
    coalesce(to_json(e)::varchar, 'null') as raw
from otlp_events where ea['gen_ai.evaluation.name'] is null
"""


def parse_batch(
    con, lines: pa.Table, *, source_file: str, ingested_at: datetime, keep_content: bool = False
) -> ParsedBatch:
    """Parse a batch of numbered OTLP/JSON lines into spans, evaluations and rejects."""
    con.register("otlp_lines", lines)
    con.execute(_PARSE_SQL, {"structure": OTLP_STRUCTURE})
    con.execute(_FLATTEN_SQL)
    lineage = {"source_format": FORMAT, "source_file": source_file, "ingested_at": ingested_at}
    span_params = {"extracted": _extracted_keys(), **lineage}
    if not keep_content:
        span_params["content_keys"] = list(CONTENT_KEYS)
    spans = con.sql(_spans_sql(keep_content), params=span_params).to_arrow_table()
    con.execute(_EVENTS_SQL, {"event_name": EVALUATION_EVENT})
    evaluations = con.sql(_evaluations_sql(), params=lineage).to_arrow_table()
    rejects = pa.concat_tables(
        [
            _quarantine_rows(con.sql(_BAD_LINES_SQL), "spans", lineage),
            _quarantine_rows(con.sql(_SPAN_REJECTS_SQL), "spans", lineage),
            _quarantine_rows(con.sql(_EVENT_REJECTS_SQL), "evaluations", lineage),
        ]
    )
    records = spans.num_rows + evaluations.num_rows + rejects.num_rows
    con.unregister("otlp_lines")
    return ParsedBatch(
        spans=spans.cast(SPANS.arrow_schema),
        evaluations=evaluations.cast(EVALUATIONS.arrow_schema),
        quarantine=rejects,
        records_read=records,
    )


def _quarantine_rows(relation, table_name: str, lineage: dict) -> pa.Table:
    rows = relation.to_arrow_table()
    n = rows.num_rows
    columns = {
        "table_name": pa.array([table_name] * n, pa.string()),
        **{name: rows[name] for name in ("line_no", "record_index", "field", "reason", "raw")},
        "source_format": pa.array([lineage["source_format"]] * n, pa.string()),
        "source_file": pa.array([lineage["source_file"]] * n, pa.string()),
        "ingested_at": pa.array(
            [lineage["ingested_at"]] * n, QUARANTINE.arrow_schema.field("ingested_at").type
        ),
    }
    return pa.table(columns).cast(QUARANTINE.arrow_schema)
