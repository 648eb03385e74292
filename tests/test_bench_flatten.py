"""The flatten floor makes the same canonical spans as the ingest (so it bounds any ingest
that makes them), and the bench and README say what it leaves of the 1.5× target."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.ingest import ingest_file
from tests.bench_flatten import flatten_room, flatten_sql
from tests.bench_readme import _ingest_rows, nightly_table
from tests.test_bench_floors import NIGHTLY

COMPARED = ("trace_id", "span_id", "parent_span_id", "agent_name", "provider",
            "request_model", "response_model", "output_tokens", "started_at",
            "ended_at")  # fmt: skip


def _rows(rows: list[dict]) -> list[tuple]:
    # an absent parentSpanId is NULL in both; an empty one only the ingest makes NULL
    return sorted(tuple(r[c] or None for c in COMPARED) for r in rows)


@pytest.mark.parametrize(
    ("fixture", "n_spans"),
    [("otel_openai_v2_latest_semconv.jsonl", 7), ("otel_openllmetry_openai.jsonl", 9)],
)
def test_the_floor_makes_the_spans_the_ingest_makes(settings, otlp_fixture, tmp_path,
                                                    fixture, n_spans):  # fmt: skip
    path = otlp_fixture(fixture)
    ingest_file(path, settings)
    ingested = pq.read_table(settings.lake_dir / "spans").to_pylist()
    target = tmp_path / "flat.parquet"
    duckdb.execute(flatten_sql(str(path), str(target)))
    flattened = pq.read_table(target).to_pylist()
    assert len(flattened) == len(ingested) == n_spans
    assert _rows(flattened) == _rows(ingested)


def test_the_floor_picks_canonical_columns_by_alias(settings, otlp_fixture, tmp_path):
    path = otlp_fixture("otel_openai_v2_latest_semconv.jsonl")
    target = tmp_path / "flat.parquet"
    duckdb.execute(flatten_sql(str(path), str(target)))
    spans = {r["span_id"]: r for r in pq.read_table(target).to_pylist()}
    call = spans["2d0a70d7f0a24a1a"]  # the fixture's first span, read by hand
    assert call["agent_name"] == "realdata-fixture-agent"  # resource service.name
    assert (call["request_model"], call["input_tokens"], call["output_tokens"]) == (
        "gpt-4o-mini",
        75,
        51,
    )
    assert spans["1962d73b48e9135f"]["agent_name"] == "weather-agent"  # gen_ai.agent.name


def test_the_floor_says_what_it_leaves_of_the_target():
    assert flatten_room(1.2, 1.5) == (
        "the canonical spans alone (flatten floor) cost 1.20× the read_json floor: ≤ 1.5× "
        "leaves 0.30× for checks, dedupe, quarantine, the audit"
    )
    assert flatten_room(1.62, 1.5) == (
        "the canonical spans alone (flatten floor) cost 1.62× the read_json floor: more than "
        "the ≤ 1.5× target allows, before any check"
    )


INGEST = {
    "ingest_ratio": 3.0, "ingest_s": 9.0, "floor_s": 3.0, "spans": 200_000, "file_mb": 168.0,
    "ingest_peak_rss_mb": 900.0, "spans_per_s": 22_222.0, "floor_spans_per_s": 66_667.0,
    "pandas_spans_per_s": 5_000.0,
}  # fmt: skip


def test_the_readme_shows_the_flatten_floor_beside_the_ingest_ratio():
    (ratio_row, *_) = _ingest_rows({**INGEST, "flatten_s": 4.8})
    # 4.8 / 3.0 = 1.60× the read_json floor; ingest 9.0 / 4.8 = 1.88× the flatten floor
    assert ratio_row[-1].endswith(
        "200,000 spans, 168 MB; the canonical spans alone (flatten floor) cost 1.60× the "
        "read_json floor: more than the ≤ 1.5× target allows, before any check (4.80 s); "
        "ingest ÷ flatten floor 1.88×"
    )
    (older, *_) = _ingest_rows(INGEST)
    assert older[-1].endswith("200,000 spans, 168 MB")


def test_the_nightly_shows_the_flatten_floor_extrapolated():
    lines = nightly_table({"nightly": {**NIGHTLY, "flatten_s": 30.0}})
    # 30 s for 2,075,000 spans: 69,167 spans/s; × 4 = 120 s at 8.3M
    assert (
        "| flatten floor: the same files made canonical span rows, no check | 30 s | 69,167 |"
        in lines
    )
    assert "| the flatten floor, extrapolated the same way | 120 s | |" in lines
