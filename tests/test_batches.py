"""A full build's batches hold whole cases: every trace of a case in one batch."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.batches import day_batches, plan_batches
from pipelines.db import connect


def _lake(tmp_path, rows):
    """One Parquet file per day of (trace_id, conversation_id) rows."""
    files = []
    for day, spans in rows.items():
        folder = tmp_path / f"day={day}"
        folder.mkdir()
        trace_ids, conversation_ids = zip(*spans, strict=True)
        path = folder / "lake-commit-00000-0.parquet"
        pq.write_table(pa.table({"trace_id": trace_ids, "conversation_id": conversation_ids}),
                       path)  # fmt: skip
        files.append(path)
    return files


def test_days_group_into_batches_by_span_count(tmp_path):
    files = _lake(tmp_path, {
        "2026-01-01": [("a", "x")] * 3,
        "2026-01-02": [("b", "y")] * 2,
        "2026-01-03": [("c", "z")] * 4,
        "2026-01-04": [("d", "w")] * 1,
    })  # fmt: skip
    batches = day_batches(files, 5)
    assert batches == {date(2026, 1, d): n for d, n in ((1, 0), (2, 0), (3, 1), (4, 1))}


def test_a_case_spread_over_days_lands_in_its_earliest_batch(tmp_path):
    # case x: trace a on day 1 and trace e on day 4 (via e's second span, whose case
    # links e to x); trace e also carries case v, whose trace f starts on day 3
    files = _lake(tmp_path, {
        "2026-01-01": [("a", "x"), ("a", None)],
        "2026-01-02": [("b", "y"), ("b", "y")],
        "2026-01-03": [("f", "v"), ("c", None)],
        "2026-01-04": [("e", "v"), ("e", "x"), ("d", "u")],
    })  # fmt: skip
    con = connect()
    batches = plan_batches(con, files, 2)
    traces = dict(con.execute("select trace_id, batch from batch_traces").fetchall())
    assert traces == {"a": 0, "e": 0, "f": 0, "b": 1, "c": 2, "d": 3}
    assert [(b.number, b.days) for b in batches] == [
        (0, (date(2026, 1, 1), date(2026, 1, 3), date(2026, 1, 4))),
        (1, (date(2026, 1, 2),)),
        (2, (date(2026, 1, 3),)),
        (3, (date(2026, 1, 4),)),
    ]


def test_a_small_lake_is_one_batch_without_a_pass(tmp_path):
    files = _lake(tmp_path, {"2026-01-01": [("a", "x")], "2026-01-02": [("b", "y")]})
    (batch,) = plan_batches(connect(), files, 10)
    assert batch.whole_lake and batch.days == (date(2026, 1, 1), date(2026, 1, 2))
