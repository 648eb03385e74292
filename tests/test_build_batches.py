"""An incremental build runs in batches of whole cases like a full build, and a day
holding more spans than a batch is cut into batches of whole cases."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date

import duckdb
import pytest

from pipelines import warehouse
from pipelines.batches import pack_days, plan_batches
from pipelines.db import connect
from pipelines.ingest import ingest_paths
from tests.conftest import generated_demo
from tests.test_batches import _lake
from tests.test_incremental import _relations, _same

D1, D2, D3, D4 = (date(2026, 1, d) for d in (1, 2, 3, 4))


def test_a_day_above_the_batch_size_gets_the_fewest_batches_that_hold_it():
    # day 2 (10 spans, limit 4) takes batches 1, 2 and 3; days 3 and 4 share batch 4
    assert pack_days({D1: 3, D2: 10, D3: 2, D4: 2}, 4) == {
        D1: (0, 1), D2: (1, 3), D3: (4, 1), D4: (4, 1)}  # fmt: skip


def _batch_sizes(con) -> list[int]:
    """Spans per batch, from the plan's batch_traces and the lake's (trace, case) rows."""
    return [n for (_, n) in con.execute(
        "select batch, count(*) from spans join batch_traces using (trace_id) "
        "group by batch order by batch").fetchall()]  # fmt: skip


def _one_day_of_six_cases(tmp_path):
    """Six cases of two spans on one day: a case of two traces, the others one."""
    spans = [("a", "p"), ("b", "p"), ("c", "q"), ("c", "q"), ("d", "r"), ("d", "r"),
             ("e", "s"), ("e", "s"), ("f", "t"), ("f", "t"), ("g", "u"), ("g", "u")]  # fmt: skip
    files = _lake(tmp_path, {"2026-01-01": spans})
    con = connect()
    con.execute("create table spans (trace_id varchar, case_key varchar)")
    con.executemany("insert into spans values (?, ?)", spans)
    return con, files


def test_a_day_above_the_batch_size_is_cut_into_batches_of_whole_cases(tmp_path):
    con, files = _one_day_of_six_cases(tmp_path)
    batches = plan_batches(con, files, 4)  # 12 spans: 3 batches of 2 cases (4 spans)
    assert [(b.number, b.days, b.whole_lake) for b in batches] == [
        (0, (D1,), False), (1, (D1,), False), (2, (D1,), False)]  # fmt: skip
    assert _batch_sizes(con) == [4, 4, 4]
    (n_batches,) = con.execute(
        "select count(distinct batch) from batch_traces where trace_id in ('a', 'b')"
    ).fetchone()
    assert n_batches == 1  # case p's two traces stay together


def test_only_the_given_traces_are_batched(tmp_path):
    con, files = _one_day_of_six_cases(tmp_path)
    con.execute("create table touched (trace_id varchar)")
    con.execute("insert into touched values ('a'), ('b'), ('c'), ('d')")
    batches = plan_batches(con, files, 4, traces="touched")  # 6 spans: 2 batches
    assert [b.number for b in batches] == [0, 1]
    assert sorted(t for (t,) in con.execute("select trace_id from batch_traces").fetchall()) == [
        "a", "b", "c", "d"]  # fmt: skip
    assert sorted(_batch_sizes(con)) == [2, 4]
    con.execute("delete from touched where trace_id in ('c', 'd')")
    (batch,) = plan_batches(con, files, 4, traces="touched")  # 2 spans: counted, one batch
    assert batch.whole_lake and batch.days == (D1,)


@pytest.fixture(scope="module")
def incremental_in_batches(tmp_path_factory):
    """A 6-day demo delivered in two parts, built in batches of 300 spans (the second
    build incremental), and a full build of the same lake in one batch."""
    root = tmp_path_factory.mktemp("incremental-batches")
    settings = generated_demo(root, days=6, calls_per_day=300, seed=5, end=date(2026, 10, 6))
    settings = replace(settings, spans_per_build_batch=300)
    traces = sorted((settings.raw_dir / "traces").glob("*.jsonl"))
    ingest_paths(traces[:4], settings)
    warehouse.build(settings)
    ingest_paths([settings.raw_dir], settings)  # late spans of old days, two new days, bills
    labels = []
    second = warehouse.build(settings, on_step=lambda label, *_: labels.append(label))
    full = replace(settings, data_dir=root / "full", spans_per_build_batch=4_000_000)
    shutil.copytree(settings.lake_dir, full.lake_dir)
    assert warehouse.build(full).mode == "full"
    return settings, second, labels, full


def test_the_increment_ran_in_batches(incremental_in_batches):
    _, second, labels, _ = incremental_in_batches
    assert second.mode == "incremental"
    batch_labels = {label.split("(batch ")[1] for label in labels if "(batch " in label}
    n_batches = len(batch_labels)
    assert n_batches >= 2 and f"{n_batches}/{n_batches})" in batch_labels


def test_an_increment_in_batches_equals_a_full_build(incremental_in_batches):
    settings, _, _, full = incremental_in_batches
    con = duckdb.connect(str(full.warehouse_path), read_only=True)
    con.execute(f"attach '{settings.warehouse_path}' as batched (read_only)")
    compared = 0
    for name in _relations(con):
        full_rows = con.sql(f"select * from {name} order by all").fetchall()
        batched_rows = con.sql(f"select * from batched.{name} order by all").fetchall()
        assert len(full_rows) == len(batched_rows), name
        for full_row, batched_row in zip(full_rows, batched_rows, strict=True):
            assert all(_same(a, b) for a, b in zip(full_row, batched_row, strict=True)), (
                name,
                full_row,
            )
        compared += len(full_rows)
    con.close()
    assert compared > 10_000


def test_every_relation_and_documented_column_has_its_comment(incremental_in_batches):
    settings, *_ = incremental_in_batches
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        uncommented = con.sql(
            "select table_name from duckdb_tables() where comment is null "
            "union all select view_name from duckdb_views() where not internal "
            "and comment is null order by 1"
        ).fetchall()
        (n_column_comments,) = con.execute(
            "select count(*) from duckdb_columns() where comment is not null "
            "and table_name = 'fct_cases'"
        ).fetchone()
        (fct_cases_columns,) = con.execute(
            "select count(*) from duckdb_columns() where table_name = 'fct_cases'"
        ).fetchone()
    assert uncommented == []
    assert n_column_comments == fct_cases_columns  # every column of fct_cases documented
