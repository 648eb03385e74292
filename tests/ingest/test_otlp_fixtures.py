"""Real instrumentations' OTLP/JSON ingests with exact values."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from pipelines.ingest import ingest_file


def _spans(settings) -> dict:
    table = pq.read_table(settings.lake_dir / "spans").to_pylist()
    return {row["span_id"]: row for row in table}


def test_openai_v2_latest_semconv(settings, otlp_fixture):
    result = ingest_file(otlp_fixture("otel_openai_v2_latest_semconv.jsonl"), settings)
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (7, 7, 0)
    spans = _spans(settings)
    call = spans["2d0a70d7f0a24a1a"]
    assert call["trace_id"] == "2fa38047eb9edf52f257c2eddfc4b175"
    assert call["parent_span_id"] == "1962d73b48e9135f"
    assert call["operation"] == "chat"
    assert call["provider"] == "openai"
    assert call["request_model"] == "gpt-4o-mini"
    assert call["response_model"] == "gpt-4o-mini-2024-07-18"
    assert call["response_id"] == "chatcmpl-APfFOuWLsYvVpZYqENRo9rKnifNdD"
    assert (call["input_tokens"], call["output_tokens"]) == (75, 51)
    assert call["cache_read_tokens"] is None and call["reasoning_tokens"] is None
    # 1795300246784806617 − 1795300246774488681 ns
    assert call["duration_ms"] == pytest.approx(10.317936, abs=1e-9)
    assert call["status"] == "unset"
    assert call["agent_name"] == "realdata-fixture-agent"  # service.name: no agent attribute
    attributes = dict(call["attributes"])
    assert attributes["gen_ai.response.finish_reasons"] == '["tool_calls"]'
    assert "gen_ai.input.messages" not in attributes  # content is not kept by default
    assert attributes["gen_ai.input.messages.chars"] == "194"

    error = next(s for s in spans.values() if s["request_model"] == "does-not-exist")
    assert (error["status"], error["error_type"]) == ("error", "NotFoundError")
    assert error["parent_span_id"] is None

    root = spans["1962d73b48e9135f"]
    assert (root["operation"], root["agent_name"]) == ("invoke_agent", "weather-agent")
    assert root["conversation_id"] == "case-0001"
    tools = [s for s in spans.values() if s["operation"] == "execute_tool"]
    assert sorted(t["tool_name"] for t in tools) == ["get_current_weather"] * 2


def test_openllmetry_openai(settings, otlp_fixture):
    result = ingest_file(otlp_fixture("otel_openllmetry_openai.jsonl"), settings)
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (9, 9, 0)
    spans = _spans(settings)
    by_response = {s["response_id"]: s for s in spans.values() if s["response_id"]}
    reasoning = by_response["resp_05177a4994c7df3a0069e2f402f00881a1b9eda520cb779fef"]
    assert reasoning["request_model"] == "gpt-5.4"
    assert reasoning["response_model"] == "gpt-5.4-2026-03-05"
    assert (reasoning["input_tokens"], reasoning["output_tokens"]) == (44, 288)
    assert (reasoning["cache_read_tokens"], reasoning["reasoning_tokens"]) == (0, 9)
    assert reasoning["service_tier"] == "default"
    first = by_response["chatcmpl-APfFOuWLsYvVpZYqENRo9rKnifNdD"]
    assert (first["input_tokens"], first["output_tokens"]) == (75, 51)
    assert dict(first["attributes"])["gen_ai.usage.total_tokens"] == "126"
    error = next(s for s in spans.values() if s["status"] == "error")
    assert error["error_type"] == "NotFoundError"
