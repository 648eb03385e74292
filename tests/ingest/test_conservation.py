"""Rows in = rows accepted + rows quarantined; re-running is safe."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pyarrow.parquet as pq

from pipelines.ingest import ingest_file, ingest_paths
from pipelines.ingest.lake import live_files, read_log
from pipelines.schemas import QUARANTINE, SPANS
from tests.otlp_builder import line, span

T0 = datetime(2026, 10, 5, 12, 0, 0)
TRACE = "0af7651916cd43dd8448eb211c80319c"
GOOD = line(span(TRACE, "b7ad6b7169203331", T0, 100, gen_ai__operation__name="invoke_agent"))
BAD_SPANS = line(
    span("zz", "b7ad6b7169203332", T0, 100),  # bad traceId
    span(TRACE, "b7ad6b71692033", T0, 100),  # spanId too short
    span(TRACE, "b7ad6b7169203334", T0, 100),  # fine
)


def _quarantine(settings) -> list[tuple]:
    """The live quarantine (a replaced version's files are kept until the next build)."""
    files = [str(p) for p in live_files(settings.lake_dir, QUARANTINE)]
    if not files:
        return []
    return duckdb.sql(
        "select line_no, record_index, field, reason from read_parquet($files) order by all",
        params={"files": files},
    ).fetchall()


def test_bad_lines_and_spans_are_quarantined_with_line_and_field(settings):
    path = settings.raw_dir / "mixed.jsonl"
    path.write_text("\n".join([GOOD, GOOD[:40], "", json.dumps({"foo": 1}), BAD_SPANS]) + "\n")
    result = ingest_file(path, settings)
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (6, 2, 4)
    assert _quarantine(settings) == [
        (2, 0, None, "invalid JSON (truncated or corrupt line)"),
        (4, 0, None, "not an OTLP/JSON traces export: no resourceSpans list"),
        (5, 1, "trace_id", "must match [0-9a-f]{32}, got zz"),
        (5, 2, "span_id", "must match [0-9a-f]{16}, got b7ad6b71692033"),
    ]
    log = read_log(settings.lake_dir).to_pylist()
    assert [(r["rows_read"], r["rows_accepted"], r["rows_quarantined"]) for r in log] == [(6, 2, 4)]
    assert log[0]["days"] == ["2026-10-05"]


def test_ingesting_the_same_file_twice_changes_nothing(settings):
    path = settings.raw_dir / "good.jsonl"
    path.write_text(GOOD + "\n" + BAD_SPANS + "\n")
    first = ingest_paths([settings.raw_dir], settings)
    files_after_first = sorted(
        p.relative_to(settings.lake_dir) for p in settings.lake_dir.rglob("*")
    )
    second = ingest_paths([settings.raw_dir], settings)
    assert [r.status for r in first] == ["ingested"]
    assert [r.status for r in second] == ["unchanged"]
    assert sorted(p.relative_to(settings.lake_dir) for p in settings.lake_dir.rglob("*")) == (
        files_after_first
    )


def test_a_changed_file_replaces_exactly_its_own_rows(settings):
    other = settings.raw_dir / "other.jsonl"
    other.write_text(GOOD + "\n")
    path = settings.raw_dir / "changing.jsonl"
    path.write_text(BAD_SPANS + "\n")
    ingest_paths([settings.raw_dir], settings)
    path.write_text(line(span(TRACE, "c7ad6b7169203331", T0, 5)) + "\n")
    ingest_file(path, settings)
    rows = pq.ParquetDataset(live_files(settings.lake_dir, SPANS)).read().to_pylist()
    assert sorted((r["span_id"], r["source_file"].rsplit("/", 1)[1]) for r in rows) == [
        ("b7ad6b7169203331", "other.jsonl"),
        ("c7ad6b7169203331", "changing.jsonl"),
    ]
    assert _quarantine(settings) == []
    assert len(read_log(settings.lake_dir)) == 2


def test_the_same_span_in_two_files_is_stored_once(settings):
    (settings.raw_dir / "a.jsonl").write_text(GOOD + "\n")
    (settings.raw_dir / "b.jsonl").write_text(GOOD + "\n" + GOOD + "\n")
    results = ingest_paths([settings.raw_dir], settings)
    assert [(r.rows_read, r.rows_accepted, r.rows_quarantined) for r in results] == [
        (1, 1, 0),
        (2, 0, 2),
    ]
    rows = pq.read_table(settings.lake_dir / "spans").to_pylist()
    assert [(r["span_id"], r["source_file"].rsplit("/", 1)[1]) for r in rows] == [
        ("b7ad6b7169203331", "a.jsonl")
    ]
    reasons = [r[3] for r in _quarantine(settings)]
    assert (
        reasons
        == [f"duplicate: this span is already stored from {settings.raw_dir / 'a.jsonl'}"] * 2
    )
