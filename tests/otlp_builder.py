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
