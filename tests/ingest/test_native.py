"""Native JSONL / Parquet in the canonical schema, with exact values."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest

from pipelines.ingest import ingest_file
from pipelines.ingest.detect import detect_format

FIXTURES = Path(__file__).parent.parent / "fixtures" / "native"


def test_native_spans_jsonl(settings):
    path = settings.raw_dir / "spans.jsonl"
    shutil.copy(FIXTURES / "spans.jsonl", path)
    result = ingest_file(path, settings)
    assert (result.source_format, result.rows_read, result.rows_accepted) == ("native_spans", 4, 2)
    spans = {r["span_id"]: r for r in pq.read_table(settings.lake_dir / "spans").to_pylist()}
    call = spans["00f067aa0ba902b8"]
    assert (call["input_tokens"], call["output_tokens"], call["cache_read_tokens"]) == (
        3000,
        420,
        1024,
    )
    assert call["started_at"] == datetime(2026, 10, 7, 8, 0, 0, 100000, tzinfo=UTC)
    assert (call["duration_ms"], call["reported_cost_usd"]) == (2200.0, 0.0019)
    root = spans["00f067aa0ba902b7"]
    assert root["duration_ms"] == pytest.approx(2500.0)  # computed: not given
    assert dict(root["attributes"]) == {"fleet.intent": "invoice"}
    quarantine = pq.read_table(settings.lake_dir / "quarantine").to_pylist()
    assert sorted((q["line_no"], q["field"], q["reason"]) for q in quarantine) == [
        (3, "input_tokens", "cannot be read as bigint: many"),
        (4, "status", "must be one of ok/error/unset, got done"),
    ]


def test_native_parquet_and_evaluations(settings):
    path = settings.raw_dir / "evaluations.parquet"
    pq.write_table(pj.read_json(FIXTURES / "evaluations.jsonl"), path)
    assert detect_format(path) == "native_evaluations"
    result = ingest_file(path, settings)
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (2, 2, 0)
    rows = pq.read_table(settings.lake_dir / "evaluations").to_pylist()
    assert sorted((r["name"], r["score_value"], r["score_label"]) for r in rows) == [
        ("case.outcome", None, "resolved"),
        ("extraction_accuracy", 0.97, None),
    ]
