"""A full build whose batches fan out to other processes (`build(map_batches=…)`) equals
the one-process build, row for row; a failed or repeated batch leaves no fact file named."""

from __future__ import annotations

import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines import warehouse
from pipelines.increments import read_state
from pipelines.ingest import ingest_paths
from tests.conftest import generated_demo
from tests.test_incremental import _relations, _same

FACTS = ("fct_case_traces", "fct_cases", "fct_evaluations", "fct_llm_calls")  # with rows
SLICES = ("int_spans__attributed", "int_llm_call_keys", "int_llm_calls__costed", "fct_cases__all")
# spans per batch. The first part of the lake has 550, 506, 223 and 184 spans on its 4
# days: days 1 and 2 are cut in two batches each, days 3 and 4 share one (5 batches)
FAN_OUT_BATCH = 500


@pytest.fixture(scope="module")
def pool():
    """Two worker processes started afresh (spawn): nothing of the test's is inherited."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor


class PoolMap:
    """`map_batches` over the pool, remembering how many items each call mapped."""

    def __init__(self, pool) -> None:
        self.pool = pool
        self.calls: list[int] = []

    def __call__(self, fn, items):
        self.calls.append(len(items))
        return list(self.pool.map(fn, items))


@pytest.fixture(scope="module")
def fanned(tmp_path_factory, pool):
    """A 6-day demo delivered in two parts into two data dirs, each part followed by a
    build: in one process in one batch (`seq`), and fanned out to the pool in batches of
    500 spans (`fan`). The full builds' warehouses are kept as copies (their fact files
    stay: the next build keeps its previous build's)."""
    root = tmp_path_factory.mktemp("fanout")
    seq = generated_demo(root, days=6, calls_per_day=300, seed=5, end=date(2026, 10, 6))
    fan = replace(seq, data_dir=root / "fan", spans_per_build_batch=FAN_OUT_BATCH)
    traces = sorted((seq.raw_dir / "traces").glob("*.jsonl"))
    ingest_paths(traces[:4], seq)
    shutil.copytree(seq.lake_dir, fan.lake_dir)
    mapped, labels = PoolMap(pool), []
    full = warehouse.build(fan, map_batches=mapped, on_step=lambda *step: labels.append(step))
    warehouse.build(seq)
    shutil.copy(seq.warehouse_path, root / "seq-full.duckdb")
    shutil.copy(fan.warehouse_path, root / "fan-full.duckdb")
    ingest_paths([seq.raw_dir], seq)  # late spans of old days, two new days, bills
    shutil.copytree(seq.lake_dir, fan.lake_dir, dirs_exist_ok=True)
    increments = (warehouse.build(seq), warehouse.build(fan, map_batches=mapped))
    return {"root": root, "seq": seq, "fan": fan, "full": full, "labels": labels,
            "calls": mapped.calls, "increments": increments}  # fmt: skip


def _compare(one: Path, other: Path) -> int:
    """Assert two warehouses have the same relations (but the build_* state), each of the
    same columns and the same rows (as sorted lists); returns how many rows were compared."""
    con = duckdb.connect(str(one), read_only=True)
    con.execute(f"attach '{other}' as other (read_only)")
    names = _relations(con)
    compared = 0
    for name in names:
        assert con.sql(f"describe {name}").fetchall() == (
            con.sql(f"describe other.{name}").fetchall()
        ), name
        rows = con.sql(f"select * from {name} order by all").fetchall()
        other_rows = con.sql(f"select * from other.{name} order by all").fetchall()
        assert len(rows) == len(other_rows), name
        for row, other_row in zip(rows, other_rows, strict=True):
            assert all(_same(a, b) for a, b in zip(row, other_row, strict=True)), (name, row)
        compared += len(rows)
    con.execute("use other")
    assert _relations(con) == names
    con.close()
    return compared


def test_the_fanned_out_full_build_ran_its_batches_in_the_pool(fanned):
    assert fanned["full"].mode == "full"
    assert fanned["calls"] == [5]  # the full build's 5 batches; the increment ran here
    slice_labels = [label for label, _, _ in fanned["labels"] if label.startswith(SLICES)]
    assert slice_labels == [f"{name} (batch {k}/5)" for k in range(1, 6) for name in SLICES]
    assert [done for _, done, _ in fanned["labels"]] == list(range(1, len(fanned["labels"]) + 1))
    assert {total for _, _, total in fanned["labels"]} == {len(fanned["labels"])}


def test_a_fanned_out_full_build_equals_the_one_process_build(fanned):
    root = fanned["root"]
    assert _compare(root / "seq-full.duckdb", root / "fan-full.duckdb") > 10_000
    with duckdb.connect(str(root / "fan-full.duckdb"), read_only=True) as con:
        (empty,) = con.execute("select count(*) from fct_shadow_cases").fetchone()
    assert empty == 0  # a fact no batch had rows of: a table made from a batch's columns


def test_an_increment_after_a_fanned_out_build_equals_one_after_a_one_process_build(fanned):
    seq_increment, fan_increment = fanned["increments"]
    assert (seq_increment.mode, fan_increment.mode) == ("incremental", "incremental")
    assert seq_increment.touched_days == fan_increment.touched_days
    assert _compare(fanned["seq"].warehouse_path, fanned["fan"].warehouse_path) > 10_000


def _lost_on_second_batch(fn, item):
    """`fn(item)`, but the second batch's worker is lost."""
    if item.job.batch.number == 1:
        raise RuntimeError("worker lost running batch 2")
    return fn(item)


def _batch_of(path: str) -> str:
    """The batch number in a fanned-out fact file's name: <build id>-<batch>-<attempt>-<i>."""
    return Path(path).name.split("-")[2]


def _fact_day(path: str) -> tuple[str, date]:
    day = Path(path).parent.name.removeprefix("day=")
    return Path(path).parent.parent.name, date.fromisoformat(day)


def _fact_files(settings) -> set[str]:
    return {str(p) for p in settings.marts_dir.glob("fct_*/day=*/*.parquet")}


def _named(warehouse_path: Path) -> set[str]:
    state = read_state(warehouse_path)
    return {p for by_day in state.fact_files.values() for paths in by_day.values() for p in paths}


def test_a_failed_batch_leaves_the_warehouse_and_a_rerun_batch_leaves_no_file_named(
    fanned, pool, tmp_path
):
    settings = replace(fanned["seq"], data_dir=tmp_path / "data")
    shutil.copytree(fanned["seq"].lake_dir, settings.lake_dir)
    warehouse.build(settings)
    before = tmp_path / "before.duckdb"
    shutil.copy(settings.warehouse_path, before)
    named_before = _named(settings.warehouse_path)
    assert _fact_files(settings) == named_before

    def lose_a_worker(fn, items):
        futures = [pool.submit(_lost_on_second_batch, fn, item) for item in items]
        wait(futures)  # every other batch has written its files when the build fails
        return [future.result() for future in futures]

    # the whole lake's 6 days (550, 506, 223, 191, 622, 588 spans) in batches of 700
    # spans: days 1, 2, 3 and 4, 5, 6: batch 2 (day 2) fails, the 4 others write
    batched = replace(settings, spans_per_build_batch=700)
    with pytest.raises(RuntimeError, match="worker lost running batch 2"):
        warehouse.build(batched, full=True, map_batches=lose_a_worker)
    assert settings.warehouse_path.read_bytes() == before.read_bytes()
    assert list(settings.data_dir.glob(".warehouse-*")) == []
    left = _fact_files(settings) - named_before
    assert sorted({_batch_of(path) for path in left}) == ["0", "2", "3", "4"]
    assert sorted(_fact_day(path) for path in left) == [  # a file per fact and day
        (fact, date(2026, 10, day)) for fact in FACTS for day in (1, 3, 4, 5, 6)]  # fmt: skip
    assert left.isdisjoint(_named(settings.warehouse_path))

    orphans: list[str] = []

    def run_the_first_twice(fn, items):
        """In this process: the first batch runs, its worker is taken for lost, and it
        runs again; the first attempt's result never reaches the build."""
        lost = fn(items[0])
        orphans.extend(p for by_day in lost.files.values() for ps in by_day.values() for p in ps)
        return [fn(item) for item in items]

    rebuilt = warehouse.build(settings, full=True, map_batches=run_the_first_twice)
    assert rebuilt.mode == "full"
    assert len(orphans) == 24  # one batch (the lake's spans fit in one): 4 facts × 6 days
    named = _named(settings.warehouse_path)
    assert named.isdisjoint(orphans) and len(named) == 24
    # the failed build's files and the lost attempt's are collected; the previous kept
    assert _fact_files(settings) == named | named_before
    assert list(settings.marts_dir.rglob(".build-*")) == []
    assert _compare(before, settings.warehouse_path) > 10_000
