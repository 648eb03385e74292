"""int_quarantined_spans_daily: spans the ingest held back, read back from their raw text
(OTLP, native, Langfuse) and counted per agent and day. Every value worked out by hand."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

from pipelines import warehouse
from pipelines.ingest import ingest_file
from tests.otlp_builder import line, span

TRIAGE = f"{1:032x}"
INGESTED = datetime(2026, 10, 9, 12)  # every file here is ingested then


def _triage_trace(started: datetime) -> list[dict]:
    """An agent span and its call (both good), and a call that ends before it starts."""
    bad = span(
        TRIAGE,
        "000000000000000c",
        started,
        100,
        parent="000000000000000a",
        gen_ai__operation__name="chat",
    )
    bad["endTimeUnixNano"] = str(int(bad["startTimeUnixNano"]) - 1)
    return [
        span(
            TRIAGE,
            "000000000000000a",
            started,
            1000,
            gen_ai__operation__name="invoke_agent",
            gen_ai__agent__name="triage",
            gen_ai__conversation__id="conv-1",
        ),
        span(
            TRIAGE,
            "000000000000000b",
            started,
            500,
            parent="000000000000000a",
            gen_ai__operation__name="chat",
        ),
        bad,
    ]


def _ingest(settings, name: str, text: str) -> None:
    path = settings.raw_dir / name
    path.write_text(text)
    ingest_file(path, settings, now=INGESTED)


def _build(settings) -> tuple[list, list]:
    """Build; return (quarantine rows of spans, int_quarantined_spans_daily rows)."""
    warehouse.build(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        quarantine = con.sql(
            "select field, reason from lake_quarantine where table_name = 'spans' order by all"
        ).fetchall()
        daily = con.sql(
            "select day::varchar, agent_name, n_quarantined_spans "
            "from int_quarantined_spans_daily order by day, agent_name nulls first"
        ).fetchall()
    return quarantine, daily


def test_a_bad_span_counts_for_its_traces_agent_on_its_start_day(settings):
    _ingest(settings, "triage.jsonl", line(*_triage_trace(datetime(2026, 10, 6, 10))) + "\n")
    quarantine, daily = _build(settings)
    assert quarantine == [
        ("ended_at", "endTimeUnixNano must be an integer not before startTimeUnixNano")
    ]
    assert daily == [("2026-10-06", "triage", 1)]


def test_every_format_is_read_back_and_attributed(settings):
    start = datetime(2026, 10, 6, 10)
    # OTLP: besides triage's bad call, a span naming its own agent with an unreadable
    # start (its trace is stored nowhere), a span of an unknown trace with negative
    # tokens, one with a bad trace id starting at 1 ns (not a plausible day), a second
    # copy of a stored span (not a gap), and a line that is no JSON
    spans = _triage_trace(start)
    own = span(
        f"{2:032x}",
        "00000000000000d1",
        start,
        100,
        gen_ai__operation__name="invoke_agent",
        gen_ai__agent__name="drafter",
    )
    own["startTimeUnixNano"] = "soon"
    stray = span(
        f"{3:032x}",
        "00000000000000e1",
        start,
        100,
        gen_ai__operation__name="chat",
        gen_ai__usage__input_tokens=-5,
    )
    epoch = span("not-a-trace-id", "00000000000000e2", start, 100, gen_ai__operation__name="chat")
    epoch |= {"startTimeUnixNano": "1", "endTimeUnixNano": "2"}
    _ingest(
        settings,
        "otlp.jsonl",
        line(*spans, own, stray, epoch, spans[1]) + "\n" + '{"resourceSpans": [{"trunc\n',
    )
    # Langfuse: an AGENT observation (stored) and a generation of its trace whose start
    # is unreadable: the trace's agent, on the day it was ingested
    observation = {
        "trace_id": "lf-trace-1",
        "parent_observation_id": None,
        "session_id": "s-1",
        "trace_name": "lf-app",
        "end_time": "2026-10-07T10:00:05Z",
    }
    _ingest(
        settings,
        "langfuse.jsonl",
        "\n".join(
            json.dumps(observation | row)
            for row in (
                {
                    "id": "obs-1",
                    "type": "AGENT",
                    "name": "support",
                    "start_time": "2026-10-07T10:00:00Z",
                },
                {"id": "obs-2", "type": "GENERATION", "name": "answer", "start_time": "yesterday"},
            )
        )
        + "\n",
    )
    # native: a row naming its agent that ends before it starts
    native = {
        "trace_id": f"{4:032x}",
        "span_id": "00000000000000f1",
        "agent_name": "nat",
        "operation": "chat",
        "status": "ok",
        "started_at": "2026-10-08T10:00:00Z",
        "ended_at": "2026-10-08T09:00:00Z",
    }
    _ingest(settings, "native.jsonl", json.dumps(native) + "\n")

    quarantine, daily = _build(settings)
    assert [field for field, _ in quarantine] == [
        "duration_ms",
        "ended_at",
        "input_tokens",
        "span_id",
        "started_at",
        "started_at",
        "trace_id",
        None,
    ]
    assert daily == [
        ("2026-10-06", None, 1),  # the unknown trace's span: nobody's
        ("2026-10-06", "triage", 1),
        ("2026-10-08", "nat", 1),
        ("2026-10-09", None, 2),  # the line that is no JSON, the span of 1970
        ("2026-10-09", "drafter", 1),
        ("2026-10-09", "support", 1),
    ]


def test_builds_with_an_empty_quarantine(settings):
    _ingest(settings, "clean.jsonl", line(*_triage_trace(datetime(2026, 10, 6, 10))[:2]) + "\n")
    quarantine, daily = _build(settings)
    assert (quarantine, daily) == ([], [])
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        columns = con.sql("describe int_quarantined_spans_daily").fetchall()
    assert [(name, kind) for name, kind, *_ in columns] == [
        ("day", "DATE"),
        ("agent_name", "VARCHAR"),
        ("n_quarantined_spans", "BIGINT"),
    ]
