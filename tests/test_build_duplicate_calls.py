"""The same LLM call emitted twice in a trace (same response id) counts once: the span
with the most token detail is the call, then the earliest, then the lowest span id."""

from __future__ import annotations

from pipelines.db import connect
from pipelines.models import load_models
from pipelines.schemas import SPANS

ATTRIBUTED = next(m for m in load_models() if m.name == "int_spans__attributed")

# trace, span, parent, operation, response id, start second, input, output, cache reads
SPANS_ROWS = [
    ("t1", "root", None, "invoke_agent", None, 0, None, None, None),
    ("t1", "a", "root", "chat", "r1", 1, 10, 5, None),
    ("t1", "b", "root", "chat", "r1", 2, 10, 5, 3),  # more detail: b is the call
    ("t1", "c", "root", "chat", "r2", 3, 7, 2, None),  # its response id is its own
    ("t2", "root", None, "invoke_agent", None, 0, None, None, None),
    ("t2", "a", "root", "chat", "r1", 1, 10, 5, None),  # r1 again, in another trace
    ("t2", "x", "root", "chat", "r3", 5, 1, 1, None),
    ("t2", "y", "root", "chat", "r3", 4, 1, 1, None),  # same detail, earlier: y is the call
]


def _attributed():
    con = connect()
    con.register("empty_spans", SPANS.empty())
    con.execute("create table stg_spans as select * from empty_spans")
    con.executemany(
        "insert into stg_spans by name select ? as trace_id, ? as span_id, "
        "? as parent_span_id, ? as operation, ? as response_id, "
        "timestamptz '2026-10-01 00:00:00+00' + to_seconds(?) as started_at, "
        "? as input_tokens, ? as output_tokens, ? as cache_read_tokens, "
        "'agent' as agent_name, 'case-' || trace_id as conversation_id",
        SPANS_ROWS,
    )
    return con.sql(
        f"select trace_id, span_id, is_duplicate_call, is_llm_call from ({ATTRIBUTED.sql}) "
        "order by trace_id, span_id"
    ).fetchall()


def test_a_call_emitted_twice_in_a_trace_counts_once():
    assert _attributed() == [
        ("t1", "a", True, False),
        ("t1", "b", False, True),
        ("t1", "c", False, True),
        ("t1", "root", False, False),
        ("t2", "a", False, True),
        ("t2", "root", False, False),
        ("t2", "x", True, False),
        ("t2", "y", False, True),
    ]
