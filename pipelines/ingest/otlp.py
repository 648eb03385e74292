"""OTLP/JSON traces (collector file exporter, one ExportTraceServiceRequest per line).

A batch of lines is parsed once, by one DuckDB statement: `from_json` with a declared
structure; then `unnest` of resource → scope → span, attribute lists folded into maps,
and canonical columns picked by the alias table below. Every non-blank line ends as records
or as quarantine rows with a reason; nothing is dropped and no value makes the file fail:

- a line that is not JSON, has no `resourceSpans` list, is malformed (a list that is an
  object, a span that is not an object, …) or holds no span is quarantined whole, once;
- a span whose attributes cannot be read (an attribute without a key, a key twice), whose
  times are not integers of nanoseconds, or whose token counts and cost are present but
  not numbers (`"abc"`, `NaN`, `12.5` tokens, 2^63) is quarantined with the column named;
- an evaluation (`gen_ai.evaluation.result` span event) is checked and de-duplicated
  like a span.

Malformed structure is found without parsing every line twice: `from_json` turns a part
of the wrong type into NULL (or an all-NULL struct), so only a line whose parsed
structure holds such a NULL (a suspect) is read again, level by level, to say which part
is wrong; a suspect that is well-formed (a span without attributes) is parsed as usual.
"""

from __future__ import annotations

import json

import pyarrow as pa

from pipelines.db import sql_list, sql_string
from pipelines.ingest import content, split
from pipelines.ingest.seen import SeenRows
from pipelines.ingest.split import Lineage, ParsedBatch
from pipelines.schemas import EVALUATIONS, MAX_COUNT, SPANS

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
    # Kept as JSON text, read by EVENTS_STRUCTURE when needed: most spans have no events,
    # and so a non-list `events` is told apart from an absent one.
    "events": "JSON",
}
EVENTS_STRUCTURE = json.dumps(
    [{"timeUnixNano": "VARCHAR", "name": "VARCHAR", "attributes": _KEY_VALUES}]
)
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
_COUNT_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
_NUMBER_COLUMNS = ("reported_cost_usd",)
EVALUATION_EVENT = "gen_ai.evaluation.result"
# The largest time in nanoseconds DuckDB can hold (as microseconds: year 294247).
MAX_TIME_NS = 9_223_372_036_854_775_000_000

# The shape an export must have: each level is a list of objects (resourceSpans, then
# each one's scopeSpans, then their spans), and fields of those objects must have a type
# (or be null or absent: an empty list). The next level is the list field it names.
SHAPE: tuple[tuple[str, dict[str, str]], ...] = (
    (
        "resourceSpans",
        {"resource": "OBJECT", "resource.attributes": "ARRAY", "scopeSpans": "ARRAY"},
    ),
    ("scopeSpans", {"spans": "ARRAY"}),
    ("spans", {"attributes": "ARRAY", "events": "ARRAY"}),
)
_TYPE_NOUNS = {"OBJECT": "an object", "ARRAY": "a list"}

# A number as JSON or OTLP writes it; anything else ('0x10', '1_000', 'inf') is not read.
NUMBER_PATTERN = r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*"


def _count_sql(text: str) -> str:
    """SQL reading `text` as a count (a whole number >= 0 that fits a bigint), else NULL."""
    as_double = f"try_cast({text} as double)"
    number = f"""case
        when regexp_full_match({text}, '\\s*\\+?[0-9]+\\s*') then try_cast({text} as bigint)
        when regexp_full_match({text}, '{NUMBER_PATTERN}') and {as_double} = trunc({as_double})
            then try_cast({as_double} as bigint) end"""
    return f"(case when ({number}) >= 0 then ({number}) end)"


def _number_sql(text: str) -> str:
    """SQL reading `text` as a finite number, else NULL."""
    as_double = f"try_cast({text} as double)"
    return (
        f"(case when regexp_full_match({text}, '{NUMBER_PATTERN}') and isfinite({as_double}) "
        f"then {as_double} end)"
    )


def _attribute_sql(key: str) -> str:
    """SQL of the text value of a span's attribute `key` (the resource's, for the keys read
    from it), NULL when absent or when the span's attributes cannot be read (see
    `_flatten_sql`)."""
    if key in RESOURCE_FALLBACK:
        return f"res_attrs[{sql_string(key)}]"
    return f"attr_values[list_position(attr_keys, {sql_string(key)})]"


def _picks(column: str) -> list[tuple[str, str]]:
    """(key, SQL of its text value) of each alias of a canonical column, in order."""
    return [(key, _attribute_sql(key)) for key in SPAN_ATTRIBUTE_ALIASES[column]]


def _text(column: str) -> str:
    """SQL of the text of the first present alias of a canonical column."""
    picks = [value for _, value in _picks(column)]
    return picks[0] if len(picks) == 1 else f"coalesce({', '.join(picks)})"


def _key(column: str) -> str:
    """SQL naming the alias `_text(column)` was read from."""
    whens = " ".join(f"when {v} is not null then {sql_string(k)}" for k, v in _picks(column))
    return f"case {whens} end"


def _shown(text: str) -> str:
    """A value, as a reason shows it: at most 80 characters."""
    return f"(case when length({text}) > 80 then left({text}, 79) || '…' else {text} end)"


def _extracted_keys() -> list[str]:
    keys = {k for keys in SPAN_ATTRIBUTE_ALIASES.values() for k in keys}
    return sorted(keys - RESOURCE_FALLBACK)


_VALUE_TEXT = """coalesce(
    a.value.stringValue, a.value.intValue, cast(a.value.doubleValue as varchar),
    cast(a.value.boolValue as varchar),
    to_json(json_extract_string(a.value.arrayValue, '$.values[*].*'))::varchar,
    cast(a.value.kvlistValue as varchar), a.value.bytesValue)"""


def _attribute_entries(kvs: str) -> str:
    """SQL list of the entries {key, value} of an OTLP attribute list, values as text."""
    return f"list_transform({kvs}, lambda a: {{key: a.key, value: {_VALUE_TEXT}}})"


def _attribute_map(kvs: str) -> str:
    """SQL map of an OTLP attribute list; NULL when it cannot be one (see `_map_problem`)."""
    return f"try(map_from_entries({_attribute_entries(kvs)}))"


SHORT_LIST = 32  # attributes a span or resource usually has far fewer


def _distinct(keys: str) -> str:
    """SQL: whether the list `keys` (SQL of a list, not NULL; it is read more than once)
    holds no NULL and no key twice (makes a map). A short list is searched for each key's
    first place: quicker than `list_distinct`'s hash set, which a long list (quadratic
    otherwise) still uses."""
    repeated = f"list_transform({keys}, lambda k, i: k is null or list_position({keys}, k) < i)"
    return (
        f"(case when len({keys}) <= {SHORT_LIST} then not coalesce(list_bool_or({repeated}), false)"
        f" else len(list_distinct({keys})) = len({keys}) end)"
    )


def _if_distinct(entries: str) -> str:
    """SQL of the entries {k, v} `entries` (a column; NULL: none) when they make a map,
    else NULL. (Not `coalesce`: DuckDB's, of a list of structs, is slow.)"""
    keys = f"list_transform({entries}, lambda e: e.k)"
    return f"case when {entries} is null then [] when {_distinct(keys)} then {entries} end"


def _map_problem(kvs: str, what: str) -> str:
    """Why the attribute list `kvs` makes no map: a key missing, or a key twice."""
    keys = f"list_transform({kvs}, lambda a: a.key)"
    twice = f"list_filter({keys}, lambda k, i: list_position({keys}, k) < i)[1]"
    return (
        f"case when list_bool_or(list_transform({kvs}, lambda a: a.key is null)) "
        f"then '{what} include one without a key' "
        f"else '{what} hold the key ' || {_shown(twice)} || ' twice' end"
    )


# One pass: the JSON is parsed once. Per line: its spans and evaluation events (counted
# from the parsed structure, not from the output, so the conservation check compares two
# independent counts) and whether a part came out NULL, as a part of the wrong type does:
# `suspect_depth` is the deepest level of `SHAPE` holding one (0: none).
_PARSE_SQL = """
create or replace temp table otlp_parsed as
with parsed as (
    select line_no, problem as line_problem,
        case when problem is null
            then try(from_json(line, $structure)).resourceSpans end as resource_spans
    from otlp_lines
)
select line_no, line_problem, resource_spans,
    coalesce(list_sum(list_transform(resource_spans, lambda r: coalesce(list_sum(
        list_transform(r.scopeSpans, lambda ss: len(ss.spans))), 0))), 0) as n_spans,
    coalesce(list_sum(list_transform(resource_spans, lambda r: coalesce(list_sum(
        list_transform(r.scopeSpans, lambda ss: coalesce(list_sum(list_transform(ss.spans,
            lambda s: len(list_filter(from_json(s.events, $events),
                lambda e: e.name = $event_name)))), 0))), 0))),
        0) as n_evaluations,
    coalesce(list_max(list_transform(resource_spans, lambda r: greatest(
        case when r is null or r.scopeSpans is null or r.resource.attributes is null
            then 1 else 0 end,
        list_max(list_transform(r.scopeSpans, lambda ss: greatest(
            case when ss is null or ss.spans is null then 2 else 0 end,
            list_max(list_transform(ss.spans, lambda s: case when s is null
                or s.traceId is null or s.attributes is null
                or coalesce(left(s.events, 1) <> '[', false) then 3 else 0 end)))))))),
        0) as suspect_depth
from parsed
"""

_BAD_LINE_REASON = """case
    when not json_valid(line) then 'invalid JSON (truncated or corrupt line)'
    when json_type(line, '$.resourceSpans') = 'ARRAY'
        then 'resourceSpans cannot be read as OTLP/JSON'
    when json_type(line, '$.resourceSpans') is not null
        then 'resourceSpans must be a list, got ' || json_type(line, '$.resourceSpans')
    else 'not an OTLP/JSON traces export: no resourceSpans list' end"""


def _shape_statements() -> list[str]:
    """Statements making `otlp_shape`: the lines whose structure breaks `SHAPE`, with the
    first part that does (by position): 'resourceSpans[0].scopeSpans must be a list, got
    OBJECT'. Only suspect lines are walked (see `_PARSE_SQL`), a level at a time: each
    list is taken apart with `json_extract`, and each element's type and its fields'
    types are read with one `json_type` (a walk of every node, `json_tree`, costs the
    square of the depth; one statement per level keeps the memory to one level's)."""
    statements, levels = [], []
    parent, descend = (
        "(select line_no, suspect_depth, []::bigint[] as place, '' as path, "
        "line::json as item from otlp_parsed join otlp_lines using (line_no) "
        "where suspect_depth > 0 and resource_spans is not null)",
        "true",
    )
    for depth, (name, fields) in enumerate(SHAPE):
        paths = sql_list(["$", *(f"$.{field}" for field in fields)])
        prefix = "" if depth == 0 else "path || '.' || "
        checks = ["when types[1] <> 'OBJECT' then path || ' must be an object, got ' || types[1]"]
        for n, (field, kind) in enumerate(fields.items(), start=2):
            checks.append(
                f"when coalesce(types[{n}], 'NULL') not in ('{kind}', 'NULL') then path || "
                f"'.{field} must be {_TYPE_NOUNS[kind]}, got ' || types[{n}]"
            )
        last = depth + 1 == len(SHAPE)
        statements.append(f"""
        create or replace temp table otlp_shape_{depth} as
        select *, case {" ".join(checks)} end as reason
        from (
            select line_no, suspect_depth, place || [i - 1] as place,
                {prefix}'{name}[' || (i - 1) || ']' as path,
                {"" if last else "item, "}json_type(item, {paths}) as types
            from (select line_no, suspect_depth, place, path, unnest(items) as item,
                    generate_subscripts(items, 1) as i
                from (select *, json_extract(item, '$.{name}[*]') as items from {parent}
                    where {descend}))
        )""")
        levels.append(f"select line_no, place, reason from otlp_shape_{depth}")
        if not last:
            next_list = list(fields).index(SHAPE[depth + 1][0]) + 2
            parent = f"otlp_shape_{depth}"
            descend = f"types[{next_list}] = 'ARRAY' and suspect_depth > {depth + 1}"
    statements.append(f"""
    create or replace temp table otlp_shape as
    select line_no, arg_min(reason, place) as reason
    from ({" union all ".join(levels)})
    where reason is not null
    group by line_no
    """)
    return statements


# Lines quarantined whole, once: as the reader marked them, not JSON, malformed, or empty.
_LINE_REJECTS_TABLE_SQL = f"""
create or replace temp table otlp_line_rejects as
with rejects as (
    select line_no, line_problem, resource_spans is null as unparsed, shape.reason
    from otlp_parsed left join otlp_shape as shape using (line_no)
    where line_problem is not null or resource_spans is null or shape.reason is not null
        or n_spans = 0
)
select line_no, case
        when line_problem is not null then line_problem
        when unparsed then {_BAD_LINE_REASON}
        when reason is not null then reason
        else 'holds no spans' end as reason
from rejects join otlp_lines using (line_no)
"""


_RECORDS_SQL = """
select (select count(*) from otlp_line_rejects)
    + coalesce(sum(n_spans + n_evaluations), 0)
from otlp_parsed anti join otlp_line_rejects using (line_no)
"""

_LINE_REJECTS_SQL = """
select line_no, 0 as record_index, null as field, reason, line as raw
from otlp_line_rejects join otlp_lines using (line_no)
"""


def _span_rows_sql(lines: str, *, resources: bool = False, keep_content: bool = False) -> str:
    """SQL of one row per span of `lines` (a query of `otlp_parsed` rows): its line_no, its
    ordinal (the order of the spans in their line) and `s`, its parsed structure. With
    `resources`, also its resource's attributes as a map (`res_attrs`), as stored (the
    entries `res_kept`, see `content`; NULL when they make no map) and what is wrong with
    them (`res_problem`): made once per resource, before its spans are unnested."""
    made = redacted = checked = carried = ""
    if resources:
        made = f""", rs.resource.attributes as res_kvs,
            coalesce({_attribute_map("rs.resource.attributes")}, map()) as res_attrs"""
        entries = content.redacted_entries_sql("map_entries(res_attrs)", keep_content=keep_content)
        redacted = f", {entries} as res_redacted"
        checked = f"""res_attrs, {_if_distinct("res_redacted")} as res_kept,
            case when res_kvs is not null and cardinality(res_attrs) = 0 and len(res_kvs) > 0
                then {_map_problem("res_kvs", "resource attributes")} end as res_problem,"""
        carried = "res_attrs, res_kept, res_problem,"
    return f"""
    with resource_spans as (
        select line_no, unnest(resource_spans) as rs,
            generate_subscripts(resource_spans, 1) as rs_i
        from {lines}
    ),
    resources as (select line_no, rs_i, rs.scopeSpans as scope_spans{made} from resource_spans),
    redacted as (select *{redacted} from resources),
    scope_spans as (
        select line_no, rs_i, {checked}
            unnest(scope_spans) as ss, generate_subscripts(scope_spans, 1) as ss_i
        from redacted
    ),
    spans as (
        select line_no, rs_i, ss_i, {carried}
            unnest(ss.spans) as s, generate_subscripts(ss.spans, 1) as sp_i
        from scope_spans
    )
    select line_no, (rs_i::hugeint << 80) + (ss_i::hugeint << 40) + sp_i as ordinal,
        {carried} s
    from spans
    """


def _flatten_sql(keep_content: bool) -> str:
    """The view `otlp_flat`: one row per span of the lines not quarantined whole, with its
    resource's attributes (see `_span_rows_sql`) and its own: their keys (`attr_keys`), their
    entries {key, value} (`attr_entries`) and values (`attr_values`, NULL when the keys
    make no map: one is missing or repeats; a span without attributes has none).

    A view, not a table: the span candidates' check (`split.check`) is its one full read,
    and writing a table of every span's structure, to read it back once, cost more than
    the rest of that check. The evaluations read few of its rows (the spans with events)
    and columns (DuckDB computes only those). A span's attributes are lists, not a map:
    DuckDB checks every key of a map it makes, which cost more than reading the aliases
    (`_attribute_sql`) from the lists."""
    spans = _span_rows_sql(
        "otlp_parsed anti join otlp_line_rejects using (line_no)",
        resources=True,
        keep_content=keep_content,
    )
    return f"""
    create or replace temp view otlp_flat as
    select *,
        case when attr_keys is null then []
            when {_distinct("attr_keys")}
            then list_transform(attr_entries, lambda e: e.value) end as attr_values
    from (
        select *,
            list_transform(s.attributes, lambda a: a.key) as attr_keys,
            {_attribute_entries("s.attributes")} as attr_entries,
            try_cast(s.startTimeUnixNano as hugeint) as start_ns,
            try_cast(s.endTimeUnixNano as hugeint) as end_ns
        from ({spans})
    )
    """


def _timestamp(nanoseconds: str) -> str:
    """SQL timestamp of a time in nanoseconds; NULL when not a positive time DuckDB holds."""
    return (
        f"case when {nanoseconds} between 1 and {MAX_TIME_NS} "
        f"then make_timestamp(cast({nanoseconds} // 1000 as bigint))::timestamptz end"
    )


def _time_problem(column: str, field: str, nanoseconds: str, text: str) -> list[str]:
    return [
        f"when {nanoseconds} is null or {nanoseconds} <= 0 then '{column}|{field} must be "
        "a positive integer of nanoseconds'",
        f"when {nanoseconds} > {MAX_TIME_NS} then '{column}|{field} is too large to be a "
        f"time: ' || {_shown(text)}",
    ]


def _span_problem_sql() -> str:
    """'field|reason' of what the parse already knows is wrong with a span, else NULL."""
    whens = [
        "when res_problem is not null then 'attributes|' || res_problem",
        "when attr_values is null then 'attributes|' || "
        + _map_problem("s.attributes", "span attributes"),
        "when res_kept is null or span_kept is null then 'attributes|an attribute is named "
        "like the summary of a content attribute (<key>.chars or <key>.sha256)'",
        *_time_problem("started_at", "startTimeUnixNano", "start_ns", "s.startTimeUnixNano"),
        "when end_ns is null or end_ns < start_ns then "
        "'ended_at|endTimeUnixNano must be an integer not before startTimeUnixNano'",
        *_time_problem("ended_at", "endTimeUnixNano", "end_ns", "s.endTimeUnixNano")[1:],
    ]
    for column in _COUNT_COLUMNS:
        whens.append(
            f"when {column}__text is not null and {column}__count is null then '{column}|' "
            f"|| {_key(column)} || ' cannot be read as a count: ' || {_shown(column + '__text')}"
        )
    for column in _NUMBER_COLUMNS:
        whens.append(
            f"when {column}__text is not null and {column}__number is null then '{column}|' "
            f"|| {_key(column)} || ' cannot be read as a finite number: ' || "
            f"{_shown(column + '__text')}"
        )
    return "case " + "\n        ".join(whens) + " end"


def _with_included(total: str, *parts: str) -> str:
    """OTel semantics: the total includes its parts. A source whose total is smaller
    than its parts evidently counted them apart, so they are added back (unless a count
    is beyond belief: the split rejects it, and the sum must not overflow)."""
    parts_sum = " + ".join(f"coalesce({p}, 0)" for p in parts)
    counts = ", ".join(f"coalesce({c}, 0)" for c in (total, *parts))
    return (
        f"case when greatest({counts}) <= {int(MAX_COUNT)} and {total} < {parts_sum} "
        f"then {total} + {parts_sum} else {total} end"
    )


# The span's `attributes`, as the entries {k, v} of the map_concat of the maps of
# res_kept and span_kept: the resource's entries in order, a span attribute of the same
# key overriding its value, then the span's other entries in order. DuckDB's map_concat
# costs more than the whole rest of the span's columns, so only the rare span that
# overrides a resource attribute uses it; the others' entries are a concatenation of
# lists. Arrow makes the map from the entries (`split.accepted`). Only the entries of
# accepted spans are read: a span whose res_kept or span_kept is NULL is rejected
# (`_span_problem_sql`).
_ATTRIBUTE_ENTRIES_SQL = """case
    when list_has_any(list_transform(res_kept, lambda e: e.k),
            list_transform(span_kept, lambda e: e.k))
        then list_transform(
            map_entries(map_concat(map_from_entries(res_kept), map_from_entries(span_kept))),
            lambda e: {k: e.key, v: e.value})
    else list_concat(res_kept, span_kept) end"""


def _spans_view_sql(keep_content: bool) -> str:
    def attr(column: str) -> str:
        if column in _COUNT_COLUMNS:
            return f"{column}__count"
        if column in _NUMBER_COLUMNS:
            return f"{column}__number"
        return _text(column)

    columns = {
        "trace_id": "lower(s.traceId)",
        "span_id": "lower(s.spanId)",
        "parent_span_id": "nullif(lower(s.parentSpanId), '')",
        **{c: attr(c) for c in SPAN_ATTRIBUTE_ALIASES},
        "started_at": _timestamp("start_ns"),
        "ended_at": _timestamp("end_ns"),
        "duration_ms": f"""case when start_ns between 1 and {MAX_TIME_NS}
            and end_ns between 1 and {MAX_TIME_NS}
            then cast(end_ns - start_ns as double) / 1e6 end""",
        "status": """case when s.status.code in ('1', 'STATUS_CODE_OK') then 'ok'
            when s.status.code in ('2', 'STATUS_CODE_ERROR') then 'error' else 'unset' end""",
        "attributes": "attributes",
    }
    columns["operation"] = f"coalesce({_text('operation')}, s.name, 'unknown')"
    columns["input_tokens"] = _with_included(
        attr("input_tokens"), attr("cache_read_tokens"), attr("cache_write_tokens")
    )
    columns["output_tokens"] = _with_included(attr("output_tokens"), attr("reasoning_tokens"))
    # "<class 'openai.NotFoundError'>" → "NotFoundError"
    columns["error_type"] = (
        f"coalesce(nullif(regexp_extract({_text('error_type')}, "
        "'^<class ''(?:[\\w.]*\\.)?(\\w+)''>$', 1), ''), " + _text("error_type") + ")"
    )
    select = ",\n    ".join(
        f"{columns[name]} as {name}" for name in SPANS.column_names if name in columns
    )
    texts = ", ".join(f"{_text(c)} as {c}__text" for c in (*_COUNT_COLUMNS, *_NUMBER_COLUMNS))
    values = ", ".join(
        [f"{_count_sql(c + '__text')} as {c}__count" for c in _COUNT_COLUMNS]
        + [f"{_number_sql(c + '__text')} as {c}__number" for c in _NUMBER_COLUMNS]
    )
    span_entries = (
        f"list_filter(attr_entries, "
        f"lambda e: not list_contains({sql_list(_extracted_keys())}, e.key))"
    )
    span_redacted = content.redacted_entries_sql(span_entries, keep_content=keep_content)
    return f"""
    create or replace temp view otlp_span_candidates as
    with texts as (
        select *, {texts}, {span_redacted} as span_redacted from otlp_flat
    ),
    counted as (select *, {values}, {_if_distinct("span_redacted")} as span_kept from texts),
    kept as (select *, {_ATTRIBUTE_ENTRIES_SQL} as attributes from counted)
    select {select}, line_no, ordinal, {_span_problem_sql()} as parse_problem
    from kept
    """


# Most spans have no events (`[]`): they are passed over before their maps are made.
_EVALUATIONS_SQL = f"""
create or replace temp table otlp_evaluations as
with events as (
    select line_no, ordinal as span_ordinal, end_ns,
        lower(s.traceId) as trace_id, lower(s.spanId) as span_id,
        {_text("conversation_id")} as conversation_id,
        unnest(events) as e, generate_subscripts(events, 1) as event_i
    from (select *, from_json(s.events, $events) as events from otlp_flat
        where s.events is not null and s.events <> '[]')
)
select line_no, row_number() over (partition by line_no order by span_ordinal, event_i)
        as ordinal,
    trace_id, span_id, conversation_id, e, end_ns, {_attribute_map("e.attributes")} as ea
from events where e.name = '{EVALUATION_EVENT}'
"""

_EVALUATION_PROBLEM = f"""case
    when ea is null and len(e.attributes) > 0
        then '|' || {_map_problem("e.attributes", "event attributes")}
    when ea['gen_ai.evaluation.name'] is null
        then 'name|evaluation event without gen_ai.evaluation.name'
    when ea['gen_ai.evaluation.score.value'] is not null and score_value is null
        then 'score_value|gen_ai.evaluation.score.value cannot be read as a finite number: '
            || {_shown("ea['gen_ai.evaluation.score.value']")}
    when event_ns <= 0 then 'evaluated_at|timeUnixNano must be a positive integer of nanoseconds'
    when event_ns > {MAX_TIME_NS}
        then 'evaluated_at|timeUnixNano is too large to be a time: ' || {_shown("e.timeUnixNano")}
end"""

# An event time of 0 (or none) is unset in OTLP: the evaluation is dated by its span's end.
_EVALUATIONS_VIEW_SQL = f"""
create or replace temp view otlp_evaluation_candidates as
with evaluations as (
    select *,
        case when e.timeUnixNano is null or try_cast(e.timeUnixNano as hugeint) = 0 then null
            else coalesce(try_cast(e.timeUnixNano as hugeint), -1) end as event_ns,
        {_number_sql("ea['gen_ai.evaluation.score.value']")} as score_value
    from otlp_evaluations
)
select trace_id, span_id, conversation_id,
    ea['gen_ai.response.id'] as response_id,
    ea['gen_ai.evaluation.name'] as name,
    score_value,
    ea['gen_ai.evaluation.score.label'] as score_label,
    ea['fleet.evaluation.source'] as source,
    {_timestamp("coalesce(event_ns, end_ns)")} as evaluated_at,
    line_no, ordinal, {_EVALUATION_PROBLEM} as parse_problem
from evaluations
"""


# The rejected spans' lines only are unnested again (`{rows}`: see `split.rejected`).
_SPAN_RAW_SQL = f"""
select line_no, ordinal, to_json(s)::varchar as raw
from ({_span_rows_sql("otlp_parsed semi join {rows} using (line_no)")})
semi join {{rows}} using (line_no, ordinal)
"""
_EVENT_RAW_SQL = """
select line_no, ordinal, to_json(e)::varchar as raw from otlp_evaluations semi join {rows}
using (line_no, ordinal)
"""


def with_problem_column(lines: pa.Table) -> pa.Table:
    """`lines` with a `problem` column (NULL: the line was read whole), if it has none."""
    if "problem" in lines.column_names:
        return lines
    return lines.append_column("problem", pa.nulls(lines.num_rows, pa.string()))


def parse_batch(
    con, lines: pa.Table, lineage: Lineage, *, keep_content: bool, seen: SeenRows
) -> ParsedBatch:
    """Parse a batch of numbered OTLP/JSON lines into spans, evaluations and rejects."""
    con.register("otlp_lines", with_problem_column(lines))
    try:
        con.execute(
            _PARSE_SQL,
            {
                "structure": OTLP_STRUCTURE,
                "events": EVENTS_STRUCTURE,
                "event_name": EVALUATION_EVENT,
            },
        )
        for statement in _shape_statements():
            con.execute(statement)
        con.execute(_LINE_REJECTS_TABLE_SQL)
        (records_read,) = con.execute(_RECORDS_SQL).fetchall()[0]
        con.execute(_flatten_sql(keep_content))
        con.execute(_spans_view_sql(keep_content))
        con.execute(_EVALUATIONS_SQL, {"events": EVENTS_STRUCTURE})
        con.execute(_EVALUATIONS_VIEW_SQL)
        spans = split.check(con, "otlp_span_candidates", SPANS, seen=seen)
        evaluations = split.check(con, "otlp_evaluation_candidates", EVALUATIONS, seen=seen)
        return ParsedBatch(
            rows={
                SPANS.name: split.accepted(con, spans, SPANS, lineage),
                EVALUATIONS.name: split.accepted(con, evaluations, EVALUATIONS, lineage),
            },
            quarantine=pa.concat_tables(
                [
                    split.quarantine_rows(con, _LINE_REJECTS_SQL, SPANS, lineage),
                    split.rejected(con, spans, _SPAN_RAW_SQL, SPANS, lineage),
                    split.rejected(con, evaluations, _EVENT_RAW_SQL, EVALUATIONS, lineage),
                ]
            ),
            records_read=records_read,
        )
    finally:
        con.unregister("otlp_lines")
