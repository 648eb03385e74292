"""Hand-made OTLP/JSON lines for tests: small, explicit, real-shaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

NS = 1_000_000_000


def ns(moment: datetime) -> str:
    return str(int(moment.replace(tzinfo=UTC).timestamp()) * NS)


def attr(key: str, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def span(trace: str, span_id: str, start: datetime, duration_ms: int, parent: str = "", **attrs):
    """A span; keyword attributes use `__` for dots (gen_ai__usage__input_tokens)."""
    start_ns = int(ns(start))
    return {
        "traceId": trace,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": attrs.get("gen_ai__operation__name", "span"),
        "kind": 1,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + duration_ms * 1_000_000),
        "attributes": [attr(k.replace("__", "."), v) for k, v in attrs.items()],
        "status": {},
    }


def line(*spans: dict, service: str = "test-service") -> str:
    """One ExportTraceServiceRequest holding the spans."""
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [attr("service.name", service)]},
                    "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
                }
            ]
        }
    )


def llm_case(
    n: int,
    agent: str,
    start: datetime,
    input_tokens: int,
    *,
    provider: str = "openai",
    model: str = "gpt-4o-mini",
    duration_ms: int = 900,
    output_tokens: int = 0,
    **root_attrs,
) -> list[dict]:
    """Case `n` of `agent` with one LLM call: its invoke_agent root span (trace f"{n:032x}",
    span f"{n:015x}a", holding `root_attrs` too) and a chat span under it (f"{n:015x}b",
    100 ms shorter)."""
    trace, root = f"{n:032x}", f"{n:015x}a"
    return [
        span(trace, root, start, duration_ms, gen_ai__operation__name="invoke_agent",
             gen_ai__agent__name=agent, **root_attrs),
        span(trace, f"{n:015x}b", start, duration_ms - 100, parent=root,
             gen_ai__operation__name="chat", gen_ai__provider__name=provider,
             gen_ai__request__model=model, gen_ai__usage__input_tokens=input_tokens,
             gen_ai__usage__output_tokens=output_tokens),
    ]  # fmt: skip
