"""The flows on a Dask cluster (issue 22): the lake and warehouse of a one-process run, row
for row, even when a worker is killed mid-ingest."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines import cluster
from pipelines.cluster import ClusterUnreachable
from pipelines.db import connect, sql_string
from pipelines.flows import nightly
from pipelines.increments import local_copy
from pipelines.ingest import ingest_paths, lake, raw_files
from pipelines.schemas import DATA_QUALITY, LAKE_TABLES, QUARANTINE, SPANS
from pipelines.settings import DASK_ADDRESS_ENV, Settings
from pipelines.synth import generate_demo

# Columns that differ between two runs of the same raw files, and only those (each found
# needed by comparing two one-process runs):
# - source_file: the absolute path of the raw file; each run reads its own copy of them
#   (every lake table; the warehouse's lake_*, stg_*, eval_results, ...)
# - ingested_at: the clock at ingest (lake tables, lake_* and stg_* views)
# - validated_at: when the data-quality suite ran (data_quality)
# - commit_id: a fresh random id per committed file version (build_commits)
# - built_at, seconds: the build's clock and duration (build_log)
# - path: the lake and mart files a build read and wrote, under each run's own data dir
#   and named by commit ids (build_files)
RUN_COLUMNS = {"source_file", "ingested_at", "validated_at", "commit_id", "built_at",
               "seconds", "path"}  # fmt: skip


def checksum(con, relation: str, *, float_sums: bool = False) -> tuple:
    """(rows, order-independent hash of every row) of a relation, over its columns but
    RUN_COLUMNS, in name order (a sum, not an xor: a duplicated row counts twice).

    With `float_sums`, floating-point columns are left out of the hash; each is checked
    by its rows not null, rows not finite, and sum of finite values instead (compared
    within 1e-9, `same`): a build's aggregates sum in an order that depends on DuckDB's
    threads, so their last bits differ between two builds of the same lake, on a cluster
    or not (seen: agent_daily's allocated_billed_usd, 2 local builds)."""
    described = con.sql(f"select * from {relation} limit 0")
    kept = sorted(zip(described.columns, map(str, described.types), strict=True))
    kept = [(c, t) for c, t in kept if c not in RUN_COLUMNS]
    floats = [c for c, t in kept if float_sums and t in ("DOUBLE", "FLOAT")]
    hashed = ", ".join(f'"{c}"' for c, _ in kept if c not in floats)
    parts = [f"coalesce(sum(hash({hashed})::hugeint), 0)" if hashed else "0"]  # commit ids only
    for c in floats:
        parts += [f'count("{c}")', f'count(*) filter (where not isfinite("{c}"))',
                  f'coalesce(sum("{c}") filter (where isfinite("{c}")), 0)']  # fmt: skip
    rows, digest, *summed = con.execute(
        f"select count(*), {', '.join(parts)} from {relation}"
    ).fetchall()[0]
    return rows, digest, tuple(zip(floats, summed[0::3], summed[1::3], summed[2::3], strict=True))


def same(found: dict[str, tuple], expected: dict[str, tuple]) -> list[str]:
    """The relations whose checksums differ (float sums: by more than 1e-9, relative)."""

    def close(a: tuple, b: tuple) -> bool:
        return a[:3] == b[:3] and math.isclose(a[3], b[3], rel_tol=1e-9, abs_tol=1e-9)

    return sorted(
        name
        for name in found.keys() | expected.keys()
        if name not in found
        or name not in expected
        or found[name][:2] != expected[name][:2]
        or len(found[name][2]) != len(expected[name][2])
        or not all(map(close, found[name][2], expected[name][2]))
    )


def lake_checksums(settings: Settings) -> dict[str, tuple[int, int]]:
    """Each lake table's checksum (its live files only: logged commits), on local disk or
    object storage (`connect` registers the filesystem)."""
    con = connect()
    found = {}
    for table in (*LAKE_TABLES, QUARANTINE, DATA_QUALITY):
        files = lake.live_files(settings.lake_dir, table)
        listed = "[" + ", ".join(sql_string(str(f)) for f in files) + "]"
        relation = f"read_parquet({listed}, hive_partitioning = false, union_by_name = true)"
        found[table.name] = checksum(con, relation) if files else (0, 0, ())
    con.close()
    return found


def warehouse_checksums(settings: Settings) -> dict[str, tuple[int, int]]:
    """Each table's and view's checksum in the warehouse (a local copy of it, when it is
    on object storage)."""
    with connect(local_copy(settings.warehouse_path), read_only=True) as con:
        names = [n for (n,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' union all "
            "select view_name from duckdb_views() where schema_name = 'main' and not internal"
        ).fetchall()]  # fmt: skip
        return {name: checksum(con, f'"{name}"', float_sums=True) for name in sorted(names)}


def raw_copy(source: Settings, root: Path, *extra: Path) -> Settings:
    """Settings of a new data dir under `root` holding a copy of `source`'s raw files (and
    `extra` files, in raw/big/), with `source`'s config (read only)."""
    settings = Settings(
        data_dir=root / "data", config_dir=source.config_dir, reports_dir=root / "reports"
    ).resolved()
    shutil.copytree(source.raw_dir, settings.raw_dir)
    for path in extra:
        (settings.raw_dir / "big").mkdir(exist_ok=True)
        shutil.copy(path, settings.raw_dir / "big" / path.name)
    return settings


def locations(settings: Settings) -> tuple[str, str, str]:
    return str(settings.data_dir), str(settings.config_dir), str(settings.reports_dir)


def task_run_names(flow_run_id) -> list[str]:
    """The names of a flow run's task runs, sorted."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return sorted(run.name for run in runs)


# The demo's lake (tests/conftest.py `demo`), checked against its generator's summary and
# its raw files' records: 2,554 spans (DemoSummary.n_spans); 817 evaluation events (the
# 3,373 OTLP records of its 4 trace files, less the spans and the 2 malformed records,
# which are quarantined: n_malformed_records); billing rows 239 = 75 Anthropic cost
# + 129 OpenAI cost + 35 FOCUS, 66 = 20 Anthropic + 46 OpenAI usage; 1,800 eval results
# (kb-answerer.jsonl); 269 data-quality rows (one per table × day × expectation).
DEMO_LAKE_ROWS = {
    "spans": 2_554,
    "evaluations": 817,
    "billing_costs": 239,
    "billing_usage": 66,
    "eval_results": 1_800,
    "quarantine": 2,
    "data_quality": 269,
}


@pytest.mark.flow
def test_nightly_on_a_cluster_makes_the_one_process_lake_and_warehouse(
    prefect_harness, dask_cluster, demo, tmp_path
):
    local = raw_copy(demo, tmp_path / "local")
    on_cluster = raw_copy(demo, tmp_path / "cluster")
    report = nightly(*locations(local))
    state = nightly(*locations(on_cluster), cluster=dask_cluster, return_state=True)
    assert state.is_completed()
    assert state.result() == str(on_cluster.reports_dir / "2026-10" / "portfolio-review.html")
    assert report == str(local.reports_dir / "2026-10" / "portfolio-review.html")

    files = [p.name for p in raw_files([on_cluster.raw_dir])]
    names = task_run_names(state.state_details.flow_run_id)
    assert [n for n in names if n.startswith("prepare ")] == sorted(f"prepare {f}" for f in files)
    assert [n for n in names if n.startswith("commit ")] == sorted(f"commit {f}" for f in files)
    assert not [n for n in names if n.startswith("ingest ")]  # nothing ingested in-process
    assert [n for n in names if n.startswith("build batch ")] == ["build batch 0"]  # 1 batch:
    # a full build of 2,554 spans (Settings.spans_per_build_batch: 4M), on a worker

    lake_sums = lake_checksums(on_cluster)
    assert {name: sums[0] for name, sums in lake_sums.items()} == DEMO_LAKE_ROWS
    assert lake_sums == lake_checksums(local)
    warehouse_sums = warehouse_checksums(on_cluster)
    assert {name: warehouse_sums[f"lake_{name}"][0] for name in DEMO_LAKE_ROWS} == DEMO_LAKE_ROWS
    assert warehouse_sums["fct_cases"][0] == 816  # DemoSummary.n_cases
    assert same(warehouse_sums, warehouse_checksums(local)) == []


@pytest.fixture(scope="module")
def big_trace_file(tmp_path_factory) -> Path:
    """One OTLP/JSON file of a busy demo day (≈ 80k spans, ≈ 65 MB): a worker parses it
    for seconds, long enough to be killed in the middle."""
    root = tmp_path_factory.mktemp("big")
    generate_demo(root / "data", root / "config", days=1, calls_per_day=40_000, seed=5,
                  end=date(2026, 10, 30))  # fmt: skip
    (path,) = (root / "data" / "raw" / "traces").glob("*.jsonl")
    return path.rename(path.with_name("busy-day.jsonl"))


class WorkerKiller:
    """Watches this process's children (the `dask_cluster` fixture's workers are: its
    nannies live here); SIGKILLs the first seen reading `path` (its nanny starts a new
    one), and keeps every pid seen reading it."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.killed: int | None = None
        self.readers: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> WorkerKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        import psutil

        while not self._stop.is_set():
            for child in psutil.Process().children(recursive=True):
                try:
                    opened = {f.path for f in child.open_files()}
                except psutil.Error:  # just ended
                    continue
                if self.path in opened:
                    self.readers.add(child.pid)
                    if self.killed is None:
                        time.sleep(0.5)  # well inside the parse, not at its first line
                        os.kill(child.pid, signal.SIGKILL)
                        self.killed = child.pid
            time.sleep(0.05)


def sequential_lake(source: Settings, root: Path, *extra: Path) -> Settings:
    """The one-process run: each raw file ingested in name order, in this process, and
    the run's sample audited at its end (`ingest_paths` with one worker)."""
    settings = raw_copy(source, root, *extra)
    ingest_paths([settings.raw_dir], settings, workers=1)
    return settings


@pytest.mark.flow
def test_a_worker_killed_mid_ingest_changes_nothing(
    prefect_harness, dask_cluster, demo, big_trace_file, tmp_path
):
    expected = sequential_lake(demo, tmp_path / "sequential", big_trace_file)
    on_cluster = raw_copy(demo, tmp_path / "cluster", big_trace_file)
    big = on_cluster.raw_dir / "big" / big_trace_file.name
    with WorkerKiller(big) as killer:
        state = nightly(*locations(on_cluster), cluster=dask_cluster, return_state=True)
    assert state.is_completed()
    assert killer.killed is not None  # the kill happened mid-parse ...
    assert killer.killed in killer.readers and len(killer.readers) >= 2  # ... and it ran again

    log = lake.read_log(on_cluster.lake_dir).to_pylist()
    assert len(log) == 11  # the demo's 10 files and the big one, each once
    con = duckdb.connect()
    for entry in log:
        assert entry["rows_read"] == entry["rows_accepted"] + entry["rows_quarantined"]
        accepted = sum(_rows(con, lake.version_files(on_cluster.lake_dir, entry, (table,)))
                       for table in LAKE_TABLES)  # fmt: skip
        quarantined = _rows(con, lake.version_files(on_cluster.lake_dir, entry, (QUARANTINE,)))
        assert (accepted, quarantined) == (entry["rows_accepted"], entry["rows_quarantined"])
    spans = lake.live_files(on_cluster.lake_dir, SPANS)
    listed = "[" + ", ".join(sql_string(str(f)) for f in spans) + "]"
    assert con.execute(
        f"select count(*) - count(distinct (trace_id, span_id)) from read_parquet({listed})"
    ).fetchall() == [(0,)]
    con.close()
    assert lake_checksums(on_cluster) == lake_checksums(expected)

    # What the killed attempt staged (if it got that far) is no part of the lake: under its
    # own commit id, never logged; the next run's start removes it.
    staging = on_cluster.lake_dir / lake.STAGING
    left = [p.name for p in staging.iterdir()] if staging.exists() else []
    committed = {entry["commit_id"] for entry in log}
    assert len(left) <= 1
    assert all(name.split("-") == [lake.source_key(big), name.split("-")[1]] for name in left)
    assert not {name.split("-")[1] for name in left} & committed
    lake.collect_garbage(on_cluster.lake_dir)  # what the next run does first
    assert not staging.exists()
    assert lake_checksums(on_cluster) == lake_checksums(expected)


def _rows(con, files: list[Path]) -> int:
    if not files:
        return 0
    listed = "[" + ", ".join(sql_string(str(f)) for f in files) + "]"
    return con.execute(f"select count(*) from read_parquet({listed})").fetchall()[0][0]


def test_nightly_and_backfill_take_a_cluster_address():
    for command in ("nightly", "backfill"):
        done = subprocess.run(
            [Path(sys.executable).with_name("fleetledger"), command, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert done.returncode == 0
        assert "--cluster ADDRESS" in done.stdout
        assert f"fleetledger {command} --cluster tcp://10.0.0.5:8786" in done.stdout
        assert DASK_ADDRESS_ENV in done.stdout


def test_the_cluster_address_comes_from_the_environment_unless_given():
    env = {DASK_ADDRESS_ENV: "tcp://10.0.0.5:8786"}
    assert Settings.from_env(env).dask_address == "tcp://10.0.0.5:8786"
    given = Settings.from_env(env, dask_address="tcp://127.0.0.1:8786")
    assert given.dask_address == "tcp://127.0.0.1:8786"
    assert Settings.from_env({}).dask_address is None


def test_an_unreachable_cluster_is_a_user_error():
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(
            ClusterUnreachable,
            match=r"Dask scheduler tcp://127\.0\.0\.1:9: cannot "
            r"connect .*; check --cluster or FLEETLEDGER_DASK_ADDRESS",
        ),
        cluster.running("tcp://127.0.0.1:9"),  # the discard port: nothing listens
    ):
        pass


def test_no_address_is_no_cluster():
    assert cluster.task_runner(None) is None
    assert cluster.batch_mapper(None) is None
    with cluster.running(None) as runner:
        assert runner is None


def test_the_clusters_dask_settings_are_read_from_DASK_CONFIG():
    """README's recipe exports DASK_CONFIG=dask.yaml on every machine: a Dask process
    started so reads the profiler off and the tick at 1 s (a misspelt key would leave
    Dask's defaults, True and 20ms)."""
    shown = (
        "import dask.config, distributed; print(dask.config.get("
        "'distributed.worker.profile.enabled'), dask.config.get('distributed.admin.tick.interval'))"
    )
    env = {**os.environ, "DASK_CONFIG": str(Path(__file__).parents[1] / "dask.yaml")}
    done = subprocess.run(
        [sys.executable, "-c", shown], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "1s"]
