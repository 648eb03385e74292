"""Langfuse exports (JSONL, CSV, Parquet) ingest with exact, hand-checked values."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.ingest import ingest_file
from pipelines.ingest.detect import detect_format

FIXTURES = Path(__file__).parent.parent / "fixtures" / "langfuse"
TRACE = "d1e2f3a4b5c64d7e8f90a1b2c3d4e5f6"  # the UUID without dashes
AGENT_SPAN = "7f3c2a1e9b4d4c8e"


def _copy(settings, name: str) -> Path:
    target = settings.raw_dir / name
    shutil.copy(FIXTURES / name, target)
    return target


PARQUET_TYPES = {
    "start_time": pa.timestamp("us"),
    "end_time": pa.timestamp("us"),
    "usage_details": pa.map_(pa.string(), pa.int64()),
    "total_cost": pa.float64(),
}


def _observations_parquet(settings) -> Path:
    """The JSONL rows as a Parquet export writes them: typed times, maps and numbers;
    other objects as JSON text."""
    rows = [json.loads(line) for line in (FIXTURES / "observations_v2.jsonl").open()]
    for row in rows:
        for key, value in row.items():
            if key in ("start_time", "end_time"):
                try:
                    row[key] = datetime.fromisoformat(value) if value else None
                except ValueError:
                    row[key] = None  # the broken clock has no time at all in Parquet
            elif key == "usage_details":
                row[key] = list(value.items())
            elif key not in PARQUET_TYPES and not isinstance(value, str | type(None)):
                row[key] = json.dumps(value)
    schema = pa.schema([(key, PARQUET_TYPES.get(key, pa.string())) for key in rows[0]])
    path = settings.raw_dir / "observations_v2.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def _spans(settings) -> dict:
    return {r["span_id"]: r for r in pq.read_table(settings.lake_dir / "spans").to_pylist()}


@pytest.mark.parametrize("export", ["jsonl", "csv", "parquet"])
def test_observations_export(settings, export):
    if export == "parquet":
        path = _observations_parquet(settings)
    else:
        path = _copy(settings, f"observations_v2.{export}")
    assert detect_format(path) == "langfuse_observations"
    result = ingest_file(path, settings)
    assert (result.rows_read, result.rows_accepted) == (6, 5)
    spans = _spans(settings)
    plan = spans["0b1c2d3e4f504617"]
    assert (plan["trace_id"], plan["parent_span_id"]) == (TRACE, AGENT_SPAN)
    assert (plan["operation"], plan["agent_name"], plan["agent_version"]) == (
        "chat",
        "refund-agent",
        "v7",
    )
    assert plan["conversation_id"] == "case-20261005-0007"
    assert plan["started_at"] == datetime(2026, 10, 5, 9, 15, 2, 250000, tzinfo=UTC)
    assert plan["duration_ms"] == pytest.approx(1750.0)
    assert plan["request_model"] == "gpt-4.1-mini"
    assert plan["reported_cost_usd"] == pytest.approx(0.00048)
    attributes = dict(plan["attributes"])
    assert attributes["langfuse.id"] == "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
    assert "langfuse.input" not in attributes and attributes["langfuse.input.chars"] == "41"
    # disjoint Langfuse usage (total 1350 = 400 + 800 + 100 + 50) → OTel inclusive counts
    assert (plan["input_tokens"], plan["cache_read_tokens"]) == (1200, 800)
    assert (plan["output_tokens"], plan["reasoning_tokens"]) == (150, 50)
    assert plan["provider"] == "openai"  # from metadata.ls_provider
    failed = spans["2d3e4f5061724839"]
    assert (failed["status"], failed["input_tokens"], failed["output_tokens"]) == (
        "error",
        900,
        0,
    )
    # status_message is content (it may quote the prompt): kept only as length and hash
    failed_attributes = dict(failed["attributes"])
    assert "langfuse.status_message" not in failed_attributes
    assert failed_attributes["langfuse.status_message.chars"] == "28"
    assert failed_attributes["ls_provider"] == "anthropic"  # a metadata key the parser reads
    agent = spans[AGENT_SPAN]
    assert (agent["operation"], agent["agent_name"], agent["parent_span_id"]) == (
        "invoke_agent",
        "refund-agent",
        None,
    )
    tool = spans["1c2d3e4f50614728"]
    assert (tool["operation"], tool["tool_name"], tool["duration_ms"]) == (
        "execute_tool",
        "lookup_order",
        pytest.approx(80.0),
    )
    event = spans["3e4f50617283494a"]
    assert (event["operation"], event["duration_ms"]) == ("event", 0.0)
    quarantine = pq.read_table(settings.lake_dir / "quarantine").to_pylist()
    assert [(q["line_no"], q["field"]) for q in quarantine] == [
        (6 if export == "jsonl" else 7 if export == "csv" else 6, "started_at")
    ]


def test_scores_export(settings):
    result = ingest_file(_copy(settings, "scores.jsonl"), settings)
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (4, 3, 1)
    rows = pq.read_table(settings.lake_dir / "evaluations").to_pylist()
    got = {r["name"]: r for r in rows}
    assert (got["helpfulness"]["score_value"], got["helpfulness"]["source"]) == (0.82, "llm_judge")
    assert got["helpfulness"]["conversation_id"] == "case-20261005-0007"
    outcome = got["case.outcome"]
    assert (outcome["score_value"], outcome["score_label"], outcome["source"]) == (
        None,
        "escalated",
        "human",
    )
    assert (outcome["trace_id"], outcome["span_id"]) == (TRACE, "2d3e4f5061724839")
    assert (got["thumbs_up"]["score_value"], got["thumbs_up"]["score_label"]) == (0.0, "false")
    quarantine = pq.read_table(settings.lake_dir / "quarantine").to_pylist()
    assert [(q["line_no"], q["field"], q["reason"]) for q in quarantine] == [
        (4, "name", "is required but missing")
    ]


def test_legacy_trace_becomes_the_root_agent_span(settings):
    result = ingest_file(_copy(settings, "traces_legacy.jsonl"), settings)
    assert (result.source_format, result.rows_accepted) == ("langfuse_traces", 1)
    (span,) = _spans(settings).values()
    assert (span["operation"], span["agent_name"], span["conversation_id"]) == (
        "invoke_agent",
        "kb-answerer",
        "case-kb-0042",
    )
    assert span["started_at"] == datetime(2026, 10, 6, 14, 0, 0, 500000, tzinfo=UTC)
    assert dict(span["attributes"])["langfuse.trace_id"] == "trace-legacy-0042"
