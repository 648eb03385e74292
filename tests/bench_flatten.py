"""The ingest's two floors, as one DuckDB statement each, run by one script (`FLOOR`).

The read_json floor (`read_json_sql`: lines → Parquet, types guessed, nothing unnested)
is the cost of reading the bytes. Any ingest must also take each line apart into its
spans and give each span its canonical columns; the flatten floor (`flatten_sql`) does
only that: `read_json` with the declared structure, `unnest` resource → scope → span,
the attribute map (the resource's entries, then the span's), the canonical columns picked
by alias (`otlp.SPAN_ATTRIBUTE_ALIASES`, the ingest's own table), times and counts cast,
written to Parquet. It checks nothing, dedupes nothing, quarantines nothing (unreadable
lines are skipped), reads no evaluation event and adds no lineage: a lower bound of any
ingest that produces the spans table, as far as one plain statement is the cheapest way
to make them (over many files, an ingest of one process per core can beat it: the
nightly bench shows both). The bench prints what it leaves of the ingest's target.
"""

from __future__ import annotations

from pipelines.db import sql_string
from pipelines.ingest.otlp import (
    _COUNT_COLUMNS,
    _NUMBER_COLUMNS,
    RESOURCE_FALLBACK,
    SPAN_ATTRIBUTE_ALIASES,
)

# Run in its own process (the benches' `run`): the statement comes as the first argument,
# so the process imports DuckDB and nothing of the ingest.
FLOOR = """
import sys, time
from pipelines.db import connect
started = time.perf_counter()
con = connect(memory_limit="4GB")
con.execute(sys.argv[1])
print(peak_rss_mb(), time.perf_counter() - started)
"""


def read_json_sql(source: str, target: str) -> str:
    """The read_json floor's statement: the lines at `source` (a path or glob) straight to
    the Parquet file `target`, DuckDB guessing their types."""
    return (
        f"copy (select * from read_json({sql_string(source)}, format = 'newline_delimited', "
        f"ignore_errors = true)) to {sql_string(target)} (format parquet)"
    )


_KEY_VALUES = (
    "struct(key varchar, value struct(stringValue varchar, intValue varchar, "
    "doubleValue double, boolValue boolean))[]"
)
_RESOURCE_SPANS = (
    f"struct(resource struct(attributes {_KEY_VALUES}), scopeSpans struct(spans "
    "struct(traceId varchar, spanId varchar, parentSpanId varchar, name varchar, "
    f"startTimeUnixNano varchar, endTimeUnixNano varchar, attributes {_KEY_VALUES}, "
    "status struct(code varchar))[])[])[]"
)
_TEXT = (
    "coalesce(a.value.stringValue, a.value.intValue, a.value.doubleValue::varchar, "
    "a.value.boolValue::varchar)"
)


def _entries(kvs: str) -> str:
    return f"list_transform({kvs}, lambda a: struct_pack(k := a.key, v := {_TEXT}))"


def _pick(column: str) -> str:
    """The first present alias of a canonical column, as the ingest picks it."""
    picks = [
        f"{'resource' if key in RESOURCE_FALLBACK else 'attributes'}[{sql_string(key)}]"
        for key in SPAN_ATTRIBUTE_ALIASES[column]
    ]
    text = picks[0] if len(picks) == 1 else f"coalesce({', '.join(picks)})"
    if column in _COUNT_COLUMNS:
        return f"try_cast({text} as bigint)"
    return f"try_cast({text} as double)" if column in _NUMBER_COLUMNS else text


def flatten_sql(source: str, target: str) -> str:
    """The floor's one statement: OTLP/JSON lines at `source` (a path or glob) → canonical
    span rows in the Parquet file `target`."""
    columns = ",\n        ".join(f"{_pick(c)} as {c}" for c in SPAN_ATTRIBUTE_ALIASES)
    started, ended = (
        f"make_timestamp(try_cast(s.{field} as bigint) // 1000)::timestamptz"
        for field in ("startTimeUnixNano", "endTimeUnixNano")
    )
    columns_spec = "{'resourceSpans': " + sql_string(_RESOURCE_SPANS) + "}"
    return f"""
    copy (
        with resource_spans as (
            select unnest(resourceSpans) as rs
            from read_json({sql_string(source)}, format = 'newline_delimited',
                ignore_errors = true, columns = {columns_spec})
        ),
        scope_spans as (
            select rs.resource.attributes as resource_kvs, unnest(rs.scopeSpans) as ss
            from resource_spans
        ),
        spans as (select resource_kvs, unnest(ss.spans) as s from scope_spans),
        mapped as (
            select s, map_from_entries({_entries("resource_kvs")}) as resource,
                map_from_entries({_entries("list_concat(resource_kvs, s.attributes)")})
                    as attributes
            from spans
        )
        select lower(s.traceId) as trace_id, lower(s.spanId) as span_id,
            lower(s.parentSpanId) as parent_span_id, s.name,
            {started} as started_at, {ended} as ended_at, s.status.code as status,
            {columns},
            attributes
        from mapped
    ) to {sql_string(target)} (format parquet)
    """


def flatten_room(flatten_ratio: float, target: float) -> str:
    """What the flatten floor, `flatten_ratio` × the read_json floor, says of a target of
    `target` × that floor."""
    said = (
        f"the canonical spans alone (flatten floor) cost {flatten_ratio:.2f}× the read_json floor"
    )
    if flatten_ratio >= target:
        return f"{said}: more than the ≤ {target:g}× target allows, before any check"
    room = target - flatten_ratio
    return f"{said}: ≤ {target:g}× leaves {room:.2f}× for checks, dedupe, quarantine, the audit"
