"""An increment of new days only (the nightly case): its span files hold only touched
traces, so the slice reads them without the touched-trace filter; the warehouse equals a
full rebuild (issue 21)."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines import warehouse
from pipelines.batches import Batch, select_batch
from pipelines.ingest import ingest_paths
from pipelines.synth import generate_demo
from tests.conftest import generated_demo
from tests.test_incremental import _relations, _same

DAY = date(2026, 3, 2)


def _span_file(con, folder: Path, day: date, traces: list[str]) -> Path:
    path = folder / f"day={day}" / f"{traces[0]}.parquet"
    path.parent.mkdir(parents=True)
    con.execute(
        f"copy (select unnest({traces}) as trace_id, 's' || unnest({traces}) as span_id) "
        f"to '{path}' (format parquet)"
    )
    return path


@pytest.fixture
def slice_con(tmp_path):
    """A warehouse catalog with touched traces t1, t2, t3 (t1, t2: the new file's; t3 of an
    old day) and a slice catalog attached."""
    con = duckdb.connect()
    new = _span_file(con, tmp_path, DAY, ["t1", "t2"])
    old = _span_file(con, tmp_path, DAY - timedelta(days=1), ["t3", "t4"])
    con.execute("create table lake_evaluations (trace_id varchar, value double)")
    con.execute("create temp table touched_traces as select unnest(['t1', 't2', 't3']) as trace_id")
    con.execute("attach ':memory:' as slice")
    return con, new, old


def _slice_spans(con) -> list[str]:
    return [
        t
        for (t,) in con.execute("select trace_id from slice.main.lake_spans order by 1").fetchall()
    ]


def _view_sql(con) -> str:
    return con.execute(
        "select sql from duckdb_views() where database_name = 'slice' and view_name = 'lake_spans'"
    ).fetchall()[0][0]


def test_a_batch_of_new_span_files_only_reads_them_unfiltered(slice_con):
    con, new, _ = slice_con
    batch = Batch(0, (DAY,), whole_lake=True)
    select_batch(con, batch, "memory", [new], "temp.main.touched_traces", [], [new])
    assert _slice_spans(con) == ["t1", "t2"]
    assert "touched_traces" not in _view_sql(con)


def test_a_batch_with_an_old_span_file_keeps_the_filter(slice_con):
    con, new, old = slice_con
    batch = Batch(0, (DAY - timedelta(days=1), DAY), whole_lake=True)
    select_batch(con, batch, "memory", [old, new], "temp.main.touched_traces", [], [new])
    assert _slice_spans(con) == ["t1", "t2", "t3"]  # not t4: its trace is not touched
    assert "touched_traces" in _view_sql(con)


def test_an_increment_of_a_new_day_equals_a_full_rebuild(tmp_path):
    settings = generated_demo(tmp_path, days=3, calls_per_day=300, seed=7, end=DAY)
    ingest_paths([settings.raw_dir], settings)
    warehouse.build(settings)
    # the next day, generated apart (other ids), as the nightly gets it
    generate_demo(tmp_path / "next", tmp_path / "next-config", days=1, calls_per_day=300,
                  seed=8, end=DAY + timedelta(days=1))  # fmt: skip
    (made,) = (tmp_path / "next" / "raw" / "traces").glob("*.jsonl")
    shutil.move(made, settings.raw_dir / "traces" / f"next-{made.name}")
    ingest_paths([settings.raw_dir / "traces"], settings)
    result = warehouse.build(settings)
    assert result.mode == "incremental"
    assert min(result.touched_days) == DAY + timedelta(days=1)  # new days only
    incremental = tmp_path / "incremental.duckdb"
    shutil.copy(settings.warehouse_path, incremental)
    assert warehouse.build(settings, full=True).mode == "full"
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    con.execute(f"attach '{incremental}' as incremental (read_only)")
    n_cases = 0
    for name in _relations(con):
        full_rows = con.sql(f"select * from {name} order by all").fetchall()
        inc_rows = con.sql(f"select * from incremental.{name} order by all").fetchall()
        assert len(full_rows) == len(inc_rows), name
        for full_row, inc_row in zip(full_rows, inc_rows, strict=True):
            assert all(_same(a, b) for a, b in zip(full_row, inc_row, strict=True)), name
        n_cases += len(full_rows) if name == "fct_cases" else 0
    con.close()
    assert n_cases > 400  # four days of the demo at 300 calls a day: 505 cases
