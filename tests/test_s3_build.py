"""The warehouse build with its data dir on object storage (`s3://bucket/prefix`, a UPath),
against a local S3 server (moto): the same lake ingested locally and into the bucket builds
the same warehouse, full and incremental, and fanned out to other processes; the facts go
under the bucket's marts/, the warehouse is one object, nothing lands on the local disk
but the cached copy of the warehouse, downloaded again only when the object changed."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import date

import pytest
from upath import UPath

import pipelines.objectstore  # noqa: F401  (before any UPath's filesystem is made)
from pipelines import warehouse
from pipelines.alerts import alerts_in_warehouse
from pipelines.analyst import open_read_only
from pipelines.db import connect
from pipelines.increments import local_copy, local_dir, read_state
from pipelines.ingest import ingest_paths
from pipelines.settings import Settings
from tests.conftest import generated_demo
from tests.s3_server import objects
from tests.test_incremental import _relations, _same

# Columns that differ between the two warehouses by design: the clock of each ingest run
# (the same raw files are ingested into both data dirs, so every source_file is the same
# local path). The fact file paths differ too (a local path, an s3:// URL), but they are
# only in build_files, which `_relations` leaves out with the rest of the build state.
DIFFERS = ("ingested_at", "validated_at")
FACTS = ("fct_case_traces", "fct_cases", "fct_evaluations", "fct_llm_calls")
END = date(2026, 10, 3)
# rows compared: of the first two days' warehouse, of all three days'
FULL_ROWS = 10_605
ALL_ROWS = 11_678
BATCHES = 2  # the fanned-out build's batches of about FAN_OUT_BATCH spans
FAN_OUT_BATCH = 300


def _named(state) -> set[str]:
    """Every fact file a warehouse's state names."""
    return {p for fact in FACTS for paths in state.files(fact).values() for p in paths}


def _fact_objects(settings) -> set[str]:
    """The URLs of every fact file object under the data dir's marts/."""
    url = str(settings.data_dir)
    return {f"{url}/{k}" for k in objects(url) if k.startswith("marts/fct_")}


@pytest.fixture(scope="module")
def lakes(s3_endpoint, tmp_path_factory):
    """A 3-day demo, its raw files ingested into a local data dir and into a bucket (the
    last day's traces held back for the incremental build); run from an empty folder."""
    import boto3

    root = tmp_path_factory.mktemp("s3build")
    local = generated_demo(root / "local", days=3, calls_per_day=100, seed=3, end=END)
    bucket = f"fleet-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/fleet"
    remote = Settings(data_dir=UPath(url), config_dir=local.config_dir,
                      reports_dir=root / "s3-reports")  # fmt: skip
    cwd = root / "cwd"
    cwd.mkdir()
    old_cwd = os.getcwd()
    os.chdir(cwd)
    try:
        traces = sorted((local.raw_dir / "traces").glob("*.jsonl"))
        held_back = traces[-1:]  # otlp-2026-10-03.jsonl: the last day
        first = [p for p in local.raw_dir.rglob("*") if p.is_file() and p not in held_back]
        for settings in (local, remote):
            ingest_paths(sorted(first), settings)
        yield local, remote, held_back, cwd
    finally:
        os.chdir(old_cwd)
        shutil.rmtree(local_dir(remote.warehouse_path), ignore_errors=True)  # the cache


def _rows(con, name: str) -> list[tuple]:
    """Every row of relation `name`, but the DIFFERS columns, in a stable order."""
    columns = [c for (c,) in con.execute(f"select column_name from (describe {name})").fetchall()]
    kept = ", ".join(f'"{c}"' for c in columns if c not in DIFFERS)
    return con.sql(f"select {kept} from {name} order by all").fetchall()


def _compare(local_warehouse, remote_warehouse) -> int:
    """Assert the two warehouses hold the same relations and rows (but the DIFFERS
    columns); returns how many rows were compared. The remote one's views read s3://
    files: `connect` registers the filesystem."""
    with connect(local_warehouse, read_only=True) as mine, \
            connect(remote_warehouse, read_only=True) as theirs:  # fmt: skip
        names = _relations(mine)
        assert names == _relations(theirs)
        compared = 0
        for name in names:
            rows, other_rows = _rows(mine, name), _rows(theirs, name)
            assert len(rows) == len(other_rows), name
            for row, other_row in zip(rows, other_rows, strict=True):
                assert all(_same(a, b) for a, b in zip(row, other_row, strict=True)), (name, row)
            compared += len(rows)
    return compared


@pytest.fixture(scope="module")
def full_builds(lakes):
    local, remote, _, _ = lakes
    return warehouse.build(local), warehouse.build(remote)


def test_full_build_on_s3_equals_the_local_one(lakes, full_builds):
    local, remote, _, cwd = lakes
    assert [r.mode for r in full_builds] == ["full", "full"]
    assert _compare(local.warehouse_path, local_copy(remote.warehouse_path)) == FULL_ROWS
    keys = objects(str(remote.data_dir))
    assert "warehouse.duckdb" in keys
    assert not [k for k in keys if ".warehouse-" in k or ".build-" in k]
    # every fact file the warehouse names is an object under the bucket's marts/, and
    # no other fact file is left there
    named = _named(read_state(remote.warehouse_path))
    assert named and all(p.startswith(f"{remote.data_dir}/marts/fct_") for p in named)
    assert _fact_objects(remote) == named
    assert list(cwd.iterdir()) == []  # nothing written to the working folder


def test_incremental_build_on_s3_equals_the_local_one(lakes, full_builds):
    local, remote, held_back, cwd = lakes
    before = _named(read_state(remote.warehouse_path))
    for settings in (local, remote):
        ingest_paths(held_back, settings)
    built = [warehouse.build(settings) for settings in (local, remote)]
    assert [r.mode for r in built] == ["incremental", "incremental"]
    assert built[0].touched_days == built[1].touched_days
    assert built[0].n_touched_traces == built[1].n_touched_traces > 0
    assert _compare(local.warehouse_path, local_copy(remote.warehouse_path)) == ALL_ROWS
    # the readers open the warehouse wherever it is: the same alerts, an analyst's query
    assert alerts_in_warehouse(remote.warehouse_path) == alerts_in_warehouse(local.warehouse_path)
    analyst = open_read_only(remote.warehouse_path)
    try:
        n_calls = analyst.execute("select count(*) from fct_llm_calls").fetchall()[0][0]
    finally:
        analyst.close()
    with connect(local.warehouse_path, read_only=True) as con:
        assert n_calls == con.execute("select count(*) from fct_llm_calls").fetchall()[0][0] > 0
    # the previous build's facts are kept (an analyst may read them), older ones deleted
    now = _named(read_state(remote.warehouse_path))
    assert now != before and _fact_objects(remote) == now | before
    assert not [k for k in objects(str(remote.data_dir)) if ".warehouse-" in k]
    assert list(cwd.iterdir()) == []


def test_local_copy_downloads_only_a_changed_object(lakes, full_builds):
    _, remote, _, _ = lakes
    first = local_copy(remote.warehouse_path)
    assert first.parent == local_dir(remote.warehouse_path)
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name]  # one copy kept
    stamp = first.stat().st_mtime_ns
    assert local_copy(remote.warehouse_path) == first
    assert first.stat().st_mtime_ns == stamp  # not downloaded again
    fs = remote.warehouse_path.fs
    original = first.read_bytes()
    fs.pipe_file(remote.warehouse_path.path, original + b"\0")  # another version
    second = local_copy(remote.warehouse_path)
    assert second != first and second.read_bytes() == original + b"\0"
    assert not first.exists()  # the older copy is forgotten
    fs.pipe_file(remote.warehouse_path.path, original)  # put the built one back
    assert local_copy(remote.warehouse_path).read_bytes() == original


def test_no_warehouse_on_s3_yet(s3_url):
    remote = Settings(data_dir=UPath(s3_url))
    assert not local_copy(remote.warehouse_path).exists()
    assert read_state(remote.warehouse_path) is None


def test_full_build_fanned_out_to_other_processes_on_s3(lakes, full_builds):
    """`run_slice_batch` in spawned processes (nothing of this one's is imported there):
    they register the object store themselves and write their facts to the bucket. The
    build removes what a killed build left, here and on S3."""
    local, remote, held_back, _ = lakes
    for settings in (local, remote):  # the whole lake (a no-op after the incremental test)
        ingest_paths(held_back, settings)
    warehouse.build(local)
    # what a killed build leaves: its half-built warehouse here, a fact file on S3
    killed = local_dir(remote.warehouse_path) / ".warehouse-killed.duckdb"
    killed.write_bytes(b"half")
    stray = remote.marts_dir / "fct_cases" / "day=2026-10-01" / "killed-0.parquet"
    stray.write_bytes(b"half")
    batched = replace(remote, spans_per_build_batch=FAN_OUT_BATCH)
    context = multiprocessing.get_context("spawn")
    mapped = []

    def map_batches(fn, items):
        mapped.append(len(items))
        return list(pool.map(fn, items))

    with ProcessPoolExecutor(2, mp_context=context) as pool:
        result = warehouse.build(batched, full=True, map_batches=map_batches)
    assert (result.mode, mapped) == ("full", [BATCHES])
    assert not killed.exists() and not stray.exists()
    # the local warehouse is incremental by now: equal to a full build (test_incremental)
    assert _compare(local.warehouse_path, local_copy(remote.warehouse_path)) == ALL_ROWS
