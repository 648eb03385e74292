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
- a value that is present but does not read quarantines its record, naming the canonical
  column: a time that is no timestamp, a usage count that is no whole number >= 0 (1e30,
  2^63, "NaN", "abc", true, -5), a cost or score that is no number, usage or cost details
  that are no JSON object. Sums of counts cannot overflow.
- content (`input`, `output`, `metadata`, `model_parameters`, `status_message`) is kept
  only with `keep_content`; otherwise it becomes `langfuse.<field>.chars` / `.sha256`
  (`content`), and of `metadata` only the keys fleetledger reads (`METADATA_KEYS`,
  `fleet.*`) stay, as attributes of their own names.
- scores are deduplicated like spans: a score already stored (same trace, observation,
  name and time) is quarantined as a duplicate.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.db import sql_identifier, sql_string
from pipelines.ingest import split
from pipelines.ingest.content import is_content_key, summary_entries_sql
from pipelines.ingest.pages import read_sql, sum_counts_sql
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
ATTRIBUTE_FIELDS = (  # kept as `langfuse.<field>`; content ones only as summaries
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
    "input",
    "output",
)
TRACE_ATTRIBUTE_FIELDS = ("environment", "user_id", "release", "version", "tags", "input", "output")
# Metadata keys the parser reads (agent, provider, response id, tier) and the warehouse
# reads (`fleet.*`): kept as attributes of their own names; the rest of metadata is content.
METADATA_KEYS = (
    "gen_ai.agent.name",
    "gen_ai.agent.version",
    "gen_ai.provider.name",
    "gen_ai.system",
    "ls_provider",
    "gen_ai.response.id",
    "service_tier",
)
# usage_details keys read, each with the canonical column it fills. Langfuse's own names
# first, then those integrations pass through from the provider. `total` only tells
# disjoint counts from inclusive ones, which changes input_tokens.
USAGE_KEYS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "total": "input_tokens",
    "input_cached_tokens": "cache_read_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
    "input_cache_read": "cache_read_tokens",
    "cache_creation_input_tokens": "cache_write_tokens",
    "input_cache_creation": "cache_write_tokens",
    "input_cache_write": "cache_write_tokens",
    "output_reasoning_tokens": "reasoning_tokens",
    "reasoning_tokens": "reasoning_tokens",
    "output_reasoning": "reasoning_tokens",
}


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
    return f"try_cast({_text(batch, name)} as timestamptz)"  # zone-less text is UTC


def _unreadable_time(batch: pa.Table, field: str, parsed: str, column: str) -> str:
    """A `when` clause: the parse problem of a time field present but not a timestamp."""
    text = _text(batch, field)
    return (
        f"when {parsed} is null and {text} is not null "
        f"then '{column}|{field} is not a timestamp: ' || left({text}, 200)"
    )


def _unreadable(value: str, read: str, column: str, label: str, kind: str) -> str:
    """A `when` clause: the parse problem of a value present (`value`, text) whose reading
    (`read`) is NULL: '<column>|<label> cannot be read as <kind>: <value>'."""
    return (
        f"when {value} is not null and {read} is null "
        f"then '{column}|{label} cannot be read as {kind}: ' || left({value}, 200)"
    )


def _object(batch: pa.Table, name: str) -> str:
    """SQL for a JSON-object field as map(varchar, json): empty when absent or JSON null,
    NULL when present but no object (see `_not_an_object`)."""
    if name not in batch.column_names:
        return "map()::map(varchar, json)"
    value = _json(batch, name)
    return (
        f"case when {_text(batch, name)} is null or json_type({value}) = 'NULL' "
        f"then map()::map(varchar, json) else try_cast({value} as map(varchar, json)) end"
    )


def _not_an_object(batch: pa.Table, name: str, parsed: str, column: str) -> str:
    """A `when` clause: the parse problem of a field present but not a JSON object."""
    return (
        f"when {parsed} is null "
        f"then '{column}|{name} is not a JSON object: ' || left({_text(batch, name)}, 200)"
    )


def _problem(*whens: str) -> str:
    """The first of `whens` that holds, as 'field|reason', else NULL."""
    return f"case {' '.join(whens)} end"


def _attributes(batch: pa.Table, fields: tuple[str, ...], keep_content: bool) -> str:
    """`langfuse.<field>` of `fields`, and the metadata (`meta`, its map): whole with
    `keep_content`, else only its `METADATA_KEYS` and `fleet.*` keys, and a summary of all
    of it. A content field (`content.is_content_key`) is kept only as its summary unless
    `keep_content`; which fields those are is known here, so no row is matched."""
    text = _text(batch, "metadata")
    if keep_content:  # the metadata's keys; metadata that is no object as it is
        kept = "meta"
        not_object = f"try_cast({_json(batch, 'metadata')} as map(varchar, varchar)) is null"
        whole = f"case when {not_object} then {text} end"
    else:
        names = ", ".join(sql_string(k) for k in METADATA_KEYS)
        kept = (
            f"map_from_entries(list_filter(map_entries(meta), "
            f"lambda e: e.key in ({names}) or starts_with(e.key, 'fleet.')))"
        )
        whole = f"nullif({text}, '{{}}')"
    entries = []
    for key, value in [*((f"langfuse.{f}", _text(batch, f)) for f in fields),
                       ("langfuse.metadata", whole)]:  # fmt: skip
        if keep_content or not is_content_key(key):
            entries.append(f"[{{k: {sql_string(key)}, v: {value}}}]")
        else:
            entries.append(summary_entries_sql(sql_string(key), value))
    own = f"list_filter(flatten([{', '.join(entries)}]), lambda e: e.v is not null)"
    return f"map_concat({kept}, map_from_entries({own}))"


def _json_map(batch: pa.Table, name: str, value_type: str) -> str:
    """A JSON-object field as a map (empty when absent or not an object)."""
    kind = f"map(varchar, {value_type})"
    return f"coalesce(try_cast({_json(batch, name)} as {kind}), map()::{kind})"


def _usage_counts() -> tuple[str, list[str]]:
    """SQL columns `n_<key>` reading each `USAGE_KEYS` key of the usage map `u` as a count,
    and the `when` clauses of the values present that are not one."""
    columns, whens = [], []
    for key, column in USAGE_KEYS.items():
        value = f"(u[{sql_string(key)}] ->> '$')"
        count = read_sql(value, "bigint")
        columns.append(f"case when {count} >= 0 then {count} end as n_{key}")
        whens.append(_unreadable(value, f"n_{key}", column, f"usage_details.{key}", "a count"))
    return ",\n            ".join(columns), whens


def _first_count(*keys: str) -> str:
    """The first of the usage keys present, read as a count."""
    names = [f"n_{key}" for key in keys]
    return f"coalesce({', '.join(names)})" if len(names) > 1 else names[0]


def _observation_sql(batch: pa.Table, keep_content: bool) -> str:
    attributes = _attributes(batch, ATTRIBUTE_FIELDS, keep_content)
    counts, count_problems = _usage_counts()
    cost = "(c['total'] ->> '$')"
    name = _text(batch, "name")
    cache_write = _first_count(
        "cache_creation_input_tokens", "input_cache_creation", "input_cache_write"
    )
    problem = _problem(
        _unreadable_time(batch, "start_time", "start_at", "started_at"),
        _unreadable_time(batch, "end_time", "end_at", "ended_at"),
        _not_an_object(batch, "usage_details", "u", "input_tokens"),
        *count_problems,
        _unreadable(_text(batch, "total_cost"), "total_cost_usd", "reported_cost_usd",
                    "total_cost", "a number"),
        _not_an_object(batch, "cost_details", "c", "reported_cost_usd"),
        _unreadable(cost, "details_cost_usd", "reported_cost_usd", "cost_details.total",
                    "a number"),
    )  # fmt: skip
    return f"""
    create or replace temp view lf_candidates as
    with r as (
        select {_fields(batch)}, {_object(batch, "usage_details")} as u,
            {_object(batch, "cost_details")} as c,
            {_json_map(batch, "metadata", "varchar")} as meta,
            {_timestamp(batch, "start_time")} as start_at,
            {_timestamp(batch, "end_time")} as end_at,
            {_text(batch, "type")} as kind
        from lf_records as r where row_problem is null
    ),
    counted as (
        select *,
            {counts},
            {read_sql(_text(batch, "total_cost"), "double")} as total_cost_usd,
            {read_sql(cost, "double")} as details_cost_usd
        from r
    ),
    tokens as (
        select *,
            {_first_count("input_cached_tokens", "cache_read_input_tokens", "input_cache_read")}
                as cache_read,
            {cache_write} as cache_write,
            {_first_count("output_reasoning_tokens", "reasoning_tokens", "output_reasoning")}
                as reasoning,
            n_total is not null and n_total::hugeint = coalesce(n_input, 0)::hugeint
                + coalesce(n_output, 0) as details_included
        from counted
    )
    select
        {_hex_id(_text(batch, "trace_id"), 32)} as trace_id,
        {_hex_id(_text(batch, "id"), 16)} as span_id,
        {_hex_id(_text(batch, "parent_observation_id"), 16)} as parent_span_id,
        coalesce(meta['gen_ai.agent.name'], case when kind = 'AGENT' then {name} end,
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
        (epoch_us(coalesce(end_at, start_at))::hugeint - epoch_us(start_at)) / 1000.0
            as duration_ms,
        case when n_input is not null then case when details_included
            then n_input else {sum_counts_sql("n_input", "cache_read", "cache_write")} end
        end as input_tokens,
        case when n_output is not null then case when details_included
            then n_output else {sum_counts_sql("n_output", "reasoning")} end
        end as output_tokens,
        cache_read as cache_read_tokens,
        cache_write as cache_write_tokens,
        reasoning as reasoning_tokens,
        case when {_text(batch, "level")} = 'ERROR' then 'error' else 'unset' end as status,
        null as error_type,
        case when kind = 'TOOL' then {name} end as tool_name,
        meta['service_tier'] as service_tier,
        coalesce(total_cost_usd, details_cost_usd) as reported_cost_usd,
        map_concat({attributes}, map_from_entries(list_filter([
            {{k: 'langfuse.trace_id', v: {_text(batch, "trace_id")}}},
            {{k: 'langfuse.id', v: {_text(batch, "id")}}}], lambda e: e.v is not null)))
            as attributes,
        line_no, 0 as ordinal,
        {problem} as parse_problem
    from tokens
    """


def _trace_sql(batch: pa.Table, keep_content: bool) -> str:
    attributes = _attributes(batch, TRACE_ATTRIBUTE_FIELDS, keep_content)
    return f"""
    create or replace temp view lf_candidates as
    with r as (
        select {_fields(batch)}, {_timestamp(batch, "timestamp")} as stamped_at,
            {_json_map(batch, "metadata", "varchar")} as meta
        from lf_records as r where row_problem is null
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
        {_problem(_unreadable_time(batch, "timestamp", "stamped_at", "started_at"))}
            as parse_problem
    from r
    """


def _score_sql(batch: pa.Table, keep_content: bool) -> str:
    value = f"case when is_numeric then {_text(batch, 'value')} end"  # read when numeric
    problem = _problem(
        _unreadable_time(batch, "timestamp", "stamped_at", "evaluated_at"),
        _unreadable(value, "value_number", "score_value", "value", "a number"),
    )
    return f"""
    create or replace temp view lf_candidates as
    with r as (
        select {_fields(batch)}, {_timestamp(batch, "timestamp")} as stamped_at,
            coalesce({_text(batch, "data_type")}, 'NUMERIC') in ('NUMERIC', 'BOOLEAN')
                as is_numeric,
            {read_sql(_text(batch, "value"), "double")} as value_number
        from lf_records as r where row_problem is null
    )
    select
        {_hex_id(_text(batch, "trace_id"), 32)} as trace_id,
        {_hex_id(_text(batch, "observation_id"), 16)} as span_id,
        {_text(batch, "session_id")} as conversation_id,
        null as response_id,
        {_text(batch, "name")} as name,
        case when is_numeric then value_number end as score_value,
        {_text(batch, "string_value")} as score_label,
        case {_text(batch, "source")} when 'ANNOTATION' then 'human'
            when 'EVAL' then 'llm_judge' else lower({_text(batch, "source")}) end as source,
        stamped_at as evaluated_at,
        line_no, 0 as ordinal,
        {problem} as parse_problem
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
            checked = split.check(con, "lf_candidates", table, seen=seen)
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
