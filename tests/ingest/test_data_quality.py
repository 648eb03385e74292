"""Great Expectations suites from schemas.py audit every ingested file."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.ingest import ingest_paths
from pipelines.schemas import SPANS
from pipelines.validate import DataQuality, expectations


def test_suite_is_generated_from_the_column_rules():
    labels = [
        f"{e.expectation_type.removeprefix('expect_')}({e.column})" for e in expectations(SPANS)
    ]
    assert labels[:4] == [
        "column_values_to_not_be_null(trace_id)",
        "column_values_to_match_regex(trace_id)",
        "column_values_to_not_be_null(span_id)",
        "column_values_to_match_regex(span_id)",
    ]
    assert "column_values_to_be_in_set(status)" in labels
    assert "column_values_to_be_between(input_tokens)" in labels
    assert len(labels) == 18  # 7 required, 3 patterns, 1 value set, 7 ranges (+ cost)


def test_every_file_is_audited_per_day_and_data_docs_are_written(settings, otlp_fixture):
    otlp_fixture("otel_openai_v2_latest_semconv.jsonl")
    ingest_paths([settings.raw_dir], settings)
    rows = pq.read_table(settings.lake_dir / "_data_quality").to_pylist()
    assert {(r["table_name"], r["day"]) for r in rows} == {("spans", "2026-11-21")}
    assert all(r["success"] and r["element_count"] == 7 for r in rows)
    assert len(rows) == 18
    assert (settings.data_quality_dir / "index.html").exists()


def test_a_broken_expectation_is_attributed_to_its_day(settings):
    """Rows that slipped past the row checks (here: built by hand) fail the audit."""
    good = SPANS.empty().to_pylist()
    rows = pa.Table.from_pylist(
        good
        + [
            {"trace_id": "a" * 32, "span_id": "b" * 16, "operation": "chat", "status": status,
             "started_at": started, "ended_at": started, "duration_ms": 0.0,
             "source_format": "t", "source_file": "t", "ingested_at": started}
            for status, started in [("ok", _at(1)), ("weird", _at(2)), ("ok", _at(2))]
        ],
        schema=SPANS.arrow_schema,
    )  # fmt: skip
    quality = DataQuality(settings.gx_dir, settings.data_quality_dir)
    summary = quality.validate(SPANS, rows, source_file="t", run_name="t", at=_at(3)).to_pylist()
    failed = [
        (r["day"], r["expectation"], r["unexpected_count"]) for r in summary if not r["success"]
    ]
    assert failed == [("2026-10-02", "column_values_to_be_in_set(status)", 1)]


def _at(day: int):
    from datetime import UTC, datetime

    return datetime(2026, 10, day, 12, tzinfo=UTC)
