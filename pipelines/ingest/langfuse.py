"""Langfuse blob-storage exports: observations (v2 and legacy), scores, legacy traces.

Field reference: `shared/fixtures/langfuse/LANGFUSE_EXPORT_SCHEMA.md`. JSONL, CSV and
Parquet all arrive as record batches (see `records`), so one SQL per export serves all
three. How Langfuse maps onto the canonical tables:
- ids: 32/16 hex ids are kept; UUIDs lose their dashes; other ids are hashed (md5) into
  hex, and the original is kept in `attributes` (`langfuse.trace_id`, `langfuse.id`).
- observation type → operation: GENERATION chat, EMBEDDING embeddings, AGENT
  invoke_agent, TOOL execute_tool, others lower-cased.
- agent: metadata `gen_ai.agent.name`, else the AGENT observation's name, else the trace
  name. Case: `session_id`.
- usage_details are disjoint in Langfuse (`input` excludes `input_cached_tokens`, `output`
  excludes reasoning) unless `total` = input + output says otherwise; either way the
  canonical counts follow OTel (input includes cached, output includes reasoning).
- a legacy trace row becomes the trace's root `invoke_agent` span (zero duration).
- `latency` is ignored (its unit changed in 2026); durations come from the timestamps.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.db import sql_identifier
from pipelines.ingest import split
from pipelines.ingest.seen import SeenRows
from pipelines.ingest.split import Lineage, ParsedBatch
from pipelines.schemas import EVALUATIONS, SPANS, Table

OBSERVATIONS = "langfuse_observations"
SCORES = "langfuse_scores"
TRACES = "langfuse_traces"

OBSERVATION_FIELDS = (
    "id",
    "trace_id",
    "type",
    "parent_observation_id",
    "start_time",
    "end_time",
    "name",
    "metadata",
    "level",
    "status_message",
    "version",
    "input",
    "output",
    "provided_model_name",
    "model_parameters",
    "usage_details",
    "cost_details",
    "total_cost",
    "prompt_name",
    "prompt_version",
    "environment",
    "session_id",
    "trace_name",
    "user_id",
    "tags",
    "release",
    "tool_call_names",
)
SCORE_FIELDS = (
    "id",
    "timestamp",
    "trace_id",
    "observation_id",
    "session_id",
    "name",
    "value",
    "source",
    "comment",
    "data_type",
    "string_value",
)
TRACE_FIELDS = (
    "id",
    "timestamp",
    "name",
    "environment",
    "metadata",
    "user_id",
    "session_id",
    "release",
    "version",
    "tags",
    "input",
    "output",
)
ATTRIBUTE_FIELDS = (
    "type",
    "name",
    "level",
    "status_message",
    "environment",
    "prompt_name",
    "prompt_version",
    "release",
    "tags",
    "user_id",
    "model_parameters",
    "tool_call_names",
    "version",
)
CONTENT_FIELDS = ("input", "output")


def _ensure(batch: pa.Table, fields: tuple[str, ...]) -> pa.Table:
    """Absent optional fields become NULL text, so one SQL serves every export variant."""
    for name in fields:
        if name not in batch.column_names:
            batch = batch.append_column(name, pa.nulls(batch.num_rows, pa.string()))
    return batch


def _fields(batch: pa.Table) -> str:
    """The export's known fields only: an unknown field must not shadow our own names."""
    known = set(OBSERVATION_FIELDS) | set(SCORE_FIELDS) | set(TRACE_FIELDS)
    names = ["line_no", "row_problem", *(n for n in batch.column_names if n in known)]
    return ", ".join(sql_identifier(n) for n in names)


def _text(batch: pa.Table, name: str) -> str:
    """SQL for a field as text whatever its stored type (JSON text for nested ones)."""
    kind = batch.schema.field(name).type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return f"nullif({sql_identifier(name)}, '')"
    if pa.types.is_nested(kind):
        return f"to_json({sql_identifier(name)})::varchar"
    return f"cast({sql_identifier(name)} as varchar)"


def _json(batch: pa.Table, name: str) -> str:
    kind = batch.schema.field(name).type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return f"try_cast({sql_identifier(name)} as json)"
    return f"to_json({sql_identifier(name)})"


HEX_ID_MACRO = """
create or replace temp macro hex_id(v, width) as case
    when v is null then null
    when regexp_full_match(lower(v), '[0-9a-f]{' || width || '}') then lower(v)
    when regexp_full_match(lower(v), '[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}')
        then left(replace(lower(v), '-', ''), width)
    else left(md5(v), width) end
"""


def _hex_id(value: str, width: int) -> str:
    return f"hex_id({value}, {width})"


def _timestamp(batch: pa.Table, name: str) -> str:
    kind = batch.schema.field(name).type
    if pa.types.is_timestamp(kind):
        return f"{sql_identifier(name)}::timestamptz"
    return f"try_cast(nullif({sql_identifier(name)}, '') as timestamptz)"  # zone-less text is UTC


def _unreadable_time(batch: pa.Table, field: str, parsed: str, column: str) -> str:
    """The parse problem of a time field that is present but not a timestamp."""
    text = _text(batch, field)
    return (
        f"case when {parsed} is null and {text} is not null "
        f"then '{column}|{field} is not a timestamp: ' || {text} end"
    )


def _attributes(batch: pa.Table, fields: tuple[str, ...], keep_content: bool) -> str:
    entries = [f"{{k: 'langfuse.{f}', v: {_text(batch, f)}}}" for f in fields]
    for f in CONTENT_FIELDS:
        if f not in batch.column_names:
            continue
        text = _text(batch, f)
        if keep_content:
            entries.append(f"{{k: 'langfuse.{f}', v: {text}}}")
        else:
            entries.append(f"{{k: 'langfuse.{f}.chars', v: cast(length({text}) as varchar)}}")
            entries.append(f"{{k: 'langfuse.{f}.sha256', v: sha256({text})}}")
    own = f"map_from_entries(list_filter([{', '.join(entries)}], lambda e: e.v is not null))"
    return f"map_concat({_json_map(batch, 'metadata', 'varchar')}, {own})"


def _json_map(batch: pa.Table, name: str, value_type: str) -> str:
    """A JSON-object field as a map (empty when absent or not an object)."""
    kind = f"map(varchar, {value_type})"
    return f"coalesce(try_cast({_json(batch, name)} as {kind}), map()::{kind})"


def _observation_sql(batch: pa.Table, keep_content: bool) -> str:
    attributes = _attributes(batch, ATTRIBUTE_FIELDS, keep_content)
    return f"""
    create or replace temp view lf_candidates as
    with r as (
        select {_fields(batch)}, {_json_map(batch, "usage_details", "double")} as u,
            {_json_map(batch, "metadata", "varchar")} as meta,
            {_timestamp(batch, "start_time")} as start_at,
            {_timestamp(batch, "end_time")} as end_at,
            {_text(batch, "type")} as kind
        from lf_records as r where row_problem is null
    ),
    tokens as (
        select *,
            cast(coalesce(u['input_cached_tokens'], u['cache_read_input_tokens'],
                u['input_cache_read']) as bigint) as cache_read,
            cast(coalesce(u['cache_creation_input_tokens'], u['input_cache_creation'],
                u['input_cache_write']) as bigint) as cache_write,
            cast(coalesce(u['output_reasoning_tokens'], u['reasoning_tokens'],
                u['output_reasoning']) as bigint) as reasoning,
            u['total'] is not null and u['total'] = coalesce(u['input'], 0)
                + coalesce(u['output'], 0) as details_included
        from r
    )
    select
        {_hex_id(_text(batch, "trace_id"), 32)} as trace_id,
        {_hex_id(_text(batch, "id"), 16)} as span_id,
        {_hex_id(_text(batch, "parent_observation_id"), 16)} as parent_span_id,
        coalesce(meta['gen_ai.agent.name'], case when kind = 'AGENT' then {_text(batch, "name")} end,
            {_text(batch, "trace_name")}) as agent_name,
        coalesce(meta['gen_ai.agent.version'], {_text(batch, "version")}) as agent_version,
        {_text(batch, "session_id")} as conversation_id,
        case kind when 'GENERATION' then 'chat' when 'EMBEDDING' then 'embeddings'
            when 'AGENT' then 'invoke_agent' when 'TOOL' then 'execute_tool'
            else coalesce(lower(kind), 'span') end as operation,
        coalesce(meta['gen_ai.provider.name'], meta['gen_ai.system'], meta['ls_provider'])
            as provider,
        {_text(batch, "provided_model_name")} as request_model,
        {_text(batch, "provided_model_name")} as response_model,
        meta['gen_ai.response.id'] as response_id,
        start_at as started_at,
        coalesce(end_at, start_at) as ended_at,
        (epoch_us(coalesce(end_at, start_at)) - epoch_us(start_at)) / 1000.0 as duration_ms,
        cast(u['input'] as bigint) + case when details_included then 0
            else coalesce(cache_read, 0) + coalesce(cache_write, 0) end as input_tokens,
        cast(u['output'] as bigint) + case when details_included then 0
            else coalesce(reasoning, 0) end as output_tokens,
        cache_read as cache_read_tokens,
        cache_write as cache_write_tokens,
        reasoning as reasoning_tokens,
        case when {_text(batch, "level")} = 'ERROR' then 'error' else 'unset' end as status,
        null as error_type,
        case when kind = 'TOOL' then {_text(batch, "name")} end as tool_name,
        meta['service_tier'] as service_tier,
        coalesce(try_cast({_text(batch, "total_cost")} as double),
            try_cast({_json(batch, "cost_details")} as map(varchar, double))['total'])
            as reported_cost_usd,
        map_concat({attributes}, map_from_entries(list_filter([
            {{k: 'langfuse.trace_id', v: {_text(batch, "trace_id")}}},
            {{k: 'langfuse.id', v: {_text(batch, "id")}}}], lambda e: e.v is not null)))
            as attributes,
        line_no, 0 as ordinal,
        {_unreadable_time(batch, "start_time", "start_at", "started_at")} as parse_problem
    from tokens
    """  # noqa: E501


def _trace_sql(batch: pa.Table, keep_content: bool) -> str:
    attributes = _attributes(
        batch, ("environment", "user_id", "release", "version", "tags"), keep_content
    )
    return f"""
    create or replace temp view lf_candidates as
    with r as (
        select {_fields(batch)}, {_timestamp(batch, "timestamp")} as stamped_at from lf_records as r
        where row_problem is null
    )
    select
        {_hex_id(_text(batch, "id"), 32)} as trace_id,
        {_hex_id("'trace:' || " + _text(batch, "id"), 16)} as span_id,
        null as parent_span_id,
        {_text(batch, "name")} as agent_name,
        {_text(batch, "version")} as agent_version,
        {_text(batch, "session_id")} as conversation_id,
        'invoke_agent' as operation,
        null as provider, null as request_model, null as response_model, null as response_id,
        stamped_at as started_at, stamped_at as ended_at, 0.0 as duration_ms,
        null as input_tokens, null as output_tokens, null as cache_read_tokens,
        null as cache_write_tokens, null as reasoning_tokens,
        'unset' as status, null as error_type, null as tool_name, null as service_tier,
        null as reported_cost_usd,
        map_concat({attributes}, map {{'langfuse.record': 'trace',
            'langfuse.trace_id': {_text(batch, "id")}}}) as attributes,
        line_no, 0 as ordinal,
        {_unreadable_time(batch, "timestamp", "stamped_at", "started_at")} as parse_problem
    from r
    """


def _score_sql(batch: pa.Table, keep_content: bool) -> str:
    return f"""
    create or replace temp view lf_candidates as
    with r as (
        select {_fields(batch)}, {_timestamp(batch, "timestamp")} as stamped_at,
            {_text(batch, "data_type")} as data_type_text
        from lf_records as r where row_problem is null
    )
    select
        {_hex_id(_text(batch, "trace_id"), 32)} as trace_id,
        {_hex_id(_text(batch, "observation_id"), 16)} as span_id,
        {_text(batch, "session_id")} as conversation_id,
        null as response_id,
        {_text(batch, "name")} as name,
        case when coalesce(data_type_text, 'NUMERIC') in ('NUMERIC', 'BOOLEAN')
            then try_cast({_text(batch, "value")} as double) end as score_value,
        {_text(batch, "string_value")} as score_label,
        case {_text(batch, "source")} when 'ANNOTATION' then 'human'
            when 'EVAL' then 'llm_judge' else lower({_text(batch, "source")}) end as source,
        stamped_at as evaluated_at,
        line_no, 0 as ordinal,
        {_unreadable_time(batch, "timestamp", "stamped_at", "evaluated_at")} as parse_problem
    from r
    """


_BAD_RECORDS_SQL = """
select line_no, 0 as record_index, null as field, substr(row_problem, 2) as reason,
    to_json(r)::varchar as raw
from lf_records as r where row_problem is not null
"""
_RAW_SQL = """
select line_no, 0 as ordinal, to_json(r)::varchar as raw
from lf_records as r semi join {rows} using (line_no)
"""


def _parser(table: Table, fields: tuple[str, ...], candidates_sql):
    def parse(
        con, batch: pa.Table, lineage: Lineage, *, keep_content: bool, seen: SeenRows
    ) -> ParsedBatch:
        batch = _ensure(batch, fields)
        con.register("lf_records", batch)
        try:
            con.execute(HEX_ID_MACRO)
            con.execute(candidates_sql(batch, keep_content))
            checked = split.check(
                con, "lf_candidates", table, seen=seen if table is SPANS else None
            )
            return ParsedBatch(
                rows={table.name: split.accepted(con, checked, table, lineage)},
                quarantine=pa.concat_tables(
                    [
                        split.quarantine_rows(con, _BAD_RECORDS_SQL, table, lineage),
                        split.rejected(con, checked, _RAW_SQL, table, lineage),
                    ]
                ),
                records_read=batch.num_rows,
            )
        finally:
            con.unregister("lf_records")

    return parse


PARSERS = {
    OBSERVATIONS: _parser(SPANS, OBSERVATION_FIELDS, _observation_sql),
    SCORES: _parser(EVALUATIONS, SCORE_FIELDS, _score_sql),
    TRACES: _parser(SPANS, TRACE_FIELDS, _trace_sql),
}
