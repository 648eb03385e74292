"""Files ingested in parallel give the lake, log and audit of one after the other."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import duckdb
import pytest

from pipelines.ingest import (
    FileResult,
    audit,
    ingest_file,
    ingest_paths,
    lake,
    parallel,
    prepare_file,
)
from pipelines.ingest.parallel import stale
from pipelines.schemas import DATA_QUALITY, EVALUATIONS, QUARANTINE, SPANS
from tests.otlp_builder import line, span

DAY1, DAY2 = datetime(2026, 10, 1, 9), datetime(2026, 10, 2, 9)
TRACE = "a" * 32


def _span(n: int, when: datetime) -> dict:
    return span(TRACE, f"{n:016x}", when, 100, gen_ai__operation__name="chat")


# a: 3 spans + a line that is not JSON; b: a's span 3 again, 4 and 5 (day 2); c: b's span
# 4 again, and 6; d: 7 (day 2), shares nothing.
FILES = {
    "a.jsonl": [line(_span(1, DAY1), _span(2, DAY1), _span(3, DAY1)), "{not json"],
    "b.jsonl": [line(_span(3, DAY1), _span(4, DAY1)), line(_span(5, DAY2))],
    "c.jsonl": [line(_span(4, DAY1), _span(6, DAY1))],
    "d.jsonl": [line(_span(7, DAY2))],
}
# file → (read, accepted, quarantined, days), as a sequential run makes them
EXPECTED_LOG = {
    "a.jsonl": (4, 3, 1, ["2026-10-01"]),
    "b.jsonl": (3, 2, 1, ["2026-10-01", "2026-10-02"]),
    "c.jsonl": (2, 1, 1, ["2026-10-01"]),
    "d.jsonl": (1, 1, 0, ["2026-10-02"]),
}


@pytest.fixture
def raw(settings):
    for name, lines in FILES.items():
        (settings.raw_dir / name).write_text("\n".join(lines) + "\n")
    return settings.raw_dir


def _lake(settings) -> dict[str, list[tuple]]:
    """Every lake table's rows (without the ingest time), sorted; the log's counts."""
    log = lake.read_log(settings.lake_dir)
    found = {
        "log": sorted(
            (e["source_file"].rsplit("/", 1)[-1], e["rows_read"], e["rows_accepted"],
             e["rows_quarantined"], e["days"])
            for e in log.to_pylist()
        )
    }  # fmt: skip
    for table in (SPANS, EVALUATIONS, QUARANTINE, DATA_QUALITY):
        files = lake.live_files(settings.lake_dir, table, log=log)
        if not files:
            found[table.name] = []
            continue
        skip = [c for c in ("ingested_at", "validated_at") if c in table.column_names]
        rows = duckdb.sql(
            f"select * exclude ({', '.join(skip)}) from read_parquet({[str(f) for f in files]}, "
            "hive_partitioning = false)"
        ).fetchall()
        found[table.name] = sorted(rows, key=repr)
    return found


def test_parallel_ingest_equals_sequential(settings, raw, tmp_path):
    one_by_one = replace(settings, data_dir=tmp_path / "sequential")
    at_once = replace(settings, data_dir=tmp_path / "parallel")
    sequential = ingest_paths([raw], one_by_one, workers=1)
    parallel = ingest_paths([raw], at_once, workers=3)
    assert [(r.path.name, r.rows_read, r.rows_accepted, r.rows_quarantined) for r in parallel] == [
        (name, *EXPECTED_LOG[name][:3]) for name in FILES
    ]
    assert parallel == sequential
    expected, got = _lake(one_by_one), _lake(at_once)
    assert got["log"] == [(name, *counts) for name, counts in EXPECTED_LOG.items()]
    assert [len(got[name]) for name in ("spans", "quarantine")] == [7, 3]
    assert got == expected
    # the audit: every accepted span, per file and day (18 expectations of spans)
    counts = {(r[-1].rsplit("/", 1)[-1], r[1], r[4]) for r in got["data_quality"]}
    assert counts == {("a.jsonl", "2026-10-01", 3), ("b.jsonl", "2026-10-01", 1),
                      ("b.jsonl", "2026-10-02", 1), ("c.jsonl", "2026-10-01", 1),
                      ("d.jsonl", "2026-10-02", 1)}  # fmt: skip
    assert len(got["data_quality"]) == 5 * 18


def test_a_file_parsed_before_an_earlier_commit_is_stale_only_if_they_share_keys(settings, raw):
    """b parsed before a is committed holds a's span 3: stale; d shares no key: not."""
    b = prepare_file(raw / "b.jsonl", settings, keep_keys=True)
    d = prepare_file(raw / "d.jsonl", settings, keep_keys=True)
    ingest_file(raw / "a.jsonl", settings)
    log = lake.read_log(settings.lake_dir)
    assert stale(b, settings.lake_dir, log) is True
    assert stale(d, settings.lake_dir, log) is False
    b.staged.discard()
    d.staged.discard()


def test_an_unchanged_file_is_reported_unchanged_in_parallel(settings, raw):
    ingest_paths([raw], settings, workers=2)
    again = ingest_paths([raw], settings, workers=2)
    assert again == [FileResult(raw / name, "otlp_json", "unchanged") for name in FILES]


def test_the_audit_is_a_sample_per_day_the_same_in_parallel(settings, raw, tmp_path, monkeypatch):
    """With 2 rows a day, GX checks 2 of day 1's 5 accepted spans and both of day 2's,
    the same ones whichever way the files were ingested."""
    monkeypatch.setattr(audit, "AUDIT_DAY_ROWS", 2)
    one_by_one = replace(settings, data_dir=tmp_path / "sequential")
    at_once = replace(settings, data_dir=tmp_path / "parallel")
    ingest_paths([raw], one_by_one, workers=1)
    ingest_paths([raw], at_once, workers=2)
    checked = _lake(at_once)["data_quality"]
    assert checked == _lake(one_by_one)["data_quality"]
    per_day = {}
    for row in checked:
        if row[2] == "column_values_to_not_be_null(trace_id)":
            per_day[row[1]] = per_day.get(row[1], 0) + row[4]
    assert per_day == {"2026-10-01": 2, "2026-10-02": 2}


def test_a_key_stored_on_another_day_does_not_make_a_file_stale(settings, raw, monkeypatch):
    """Dedupe compares a row with the stored rows of its own day only, so a version
    committed meanwhile can change a file only on the days its rows fall on: e holds a's
    span 1 on day 2 (the same key, another day; a run of one file after the other
    accepts it too). e is not stale: a's files, all of day 1, are not even read."""
    (raw / "e.jsonl").write_text(line(_span(1, DAY2)) + "\n")
    e = prepare_file(raw / "e.jsonl", settings, keep_keys=True)
    assert e.passed_keys["spans"].days == frozenset({"2026-10-02"})
    ingest_file(raw / "a.jsonl", settings)

    def read(*args):
        raise AssertionError(f"lake files read: {args[-1]}")

    monkeypatch.setattr(parallel, "overlaps", read)
    assert stale(e, settings.lake_dir, lake.read_log(settings.lake_dir)) is False
    e.staged.discard()
