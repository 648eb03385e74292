"""Incremental builds equal a full rebuild; the warehouse swap never disturbs a reader."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import date

import duckdb
import pytest

from pipelines import warehouse
from pipelines.ingest import ingest_paths
from tests.conftest import generated_demo


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    """A 6-day demo delivered in two parts (build after each), a full rebuild, and a full
    build of the same lake in batches."""
    root = tmp_path_factory.mktemp("incremental")
    settings = generated_demo(root, days=6, calls_per_day=300, seed=5, end=date(2026, 10, 6))
    traces = sorted((settings.raw_dir / "traces").glob("*.jsonl"))
    ingest_paths(traces[:4], settings)
    first = warehouse.build(settings)
    ingest_paths([settings.raw_dir], settings)  # late spans of old days, two new days, bills
    second = warehouse.build(settings)
    incremental = root / "incremental.duckdb"
    shutil.copy(settings.warehouse_path, incremental)
    again = warehouse.build(settings)
    full = warehouse.build(settings, full=True)
    # the same lake, built in a copy in small batches of whole cases
    batched = replace(settings, data_dir=root / "batched", spans_per_build_batch=700)
    shutil.copytree(settings.lake_dir, batched.lake_dir)
    labels = []
    warehouse.build(batched, on_step=lambda label, done, total: labels.append((label, done, total)))
    built = {"incremental": incremental, "batched": batched.warehouse_path, "labels": labels}
    return settings, built, (first, second, again, full)


def test_modes(two_builds):
    _, _, (first, second, again, full) = two_builds
    assert (first.mode, second.mode, again.mode, full.mode) == (
        "full", "incremental", "current", "full")  # fmt: skip
    assert second.n_touched_traces > 0
    assert date(2026, 10, 5) in second.touched_days and date(2026, 10, 6) in second.touched_days


def test_batched_build_ran_in_batches_and_reported_each_step(two_builds):
    _, built, _ = two_builds
    labels = built["labels"]
    batch_labels = {label.split("(batch ")[1] for label, _, _ in labels if "(batch " in label}
    n_batches = len(batch_labels)
    assert n_batches >= 3 and f"{n_batches}/{n_batches})" in batch_labels
    assert [done for _, done, _ in labels] == list(range(1, len(labels) + 1))
    assert labels[-1][1] == labels[-1][2]  # the bar ends full


def _relations(con):
    return [
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() "
            "union all select view_name from duckdb_views() "
            "where database_name = current_database() and not internal order by 1"
        ).fetchall()
        if not name.startswith("build_")
    ]


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("other", ["incremental", "batched"])
def test_incremental_or_batched_build_equals_full_rebuild(two_builds, other):
    settings, built, _ = two_builds
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    con.execute(f"attach '{built[other]}' as other (read_only)")
    compared = 0
    for name in _relations(con):
        full_rows = con.sql(f"select * from {name} order by all").fetchall()
        inc_rows = con.sql(f"select * from other.{name} order by all").fetchall()
        assert len(full_rows) == len(inc_rows), name
        for full_row, inc_row in zip(full_rows, inc_rows, strict=True):
            assert all(_same(a, b) for a, b in zip(full_row, inc_row, strict=True)), (
                name,
                full_row,
            )
        compared += len(full_rows)
    con.close()
    assert compared > 10_000


READER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(con.execute("select count(*) from fct_cases").fetchall()[0][0], flush=True)
    sys.stdin.readline()  # the other process rebuilds meanwhile
    print(con.execute("select count(*) from fct_cases").fetchall()[0][0], flush=True)
""")


def test_open_reader_in_another_process_survives_a_rebuild(two_builds):
    settings, _, _ = two_builds
    reader = subprocess.Popen([sys.executable, "-c", READER, str(settings.warehouse_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    before = int(reader.stdout.readline())
    shutil.rmtree(settings.raw_dir / "traces")  # fewer cases after the rebuild…
    (settings.lake_dir / "_ingest_log.parquet").unlink()
    for table in ("spans", "evaluations"):
        shutil.rmtree(settings.lake_dir / table, ignore_errors=True)
    ingest_paths([settings.raw_dir], settings)
    assert warehouse.build(settings).mode == "full"
    reader.stdin.write("\n")
    reader.stdin.flush()
    during = int(reader.stdout.readline())
    assert reader.wait(timeout=60) == 0
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        after = con.execute("select count(*) from fct_cases").fetchall()[0][0]
    assert (during, after) == (before, 0)  # old reader: old data; new connection: new data
