"""Ingest fanned out over a Dask cluster (issue 22 target: 2 workers ≥ 1.7× the spans/s of
1 worker, on 2 cores), and the per-worker throughput a projection can use.

1. `files` raw OTLP/JSON files, one demo day each (its own seed and day: distinct ids),
   ≈ 1.5 spans per call of `calls_per_file` calls: enough that 1 worker takes ≥ 20 s.
   First, the box's ceiling: the same files prepared as a worker prepares them by 1,
   then 2, plain processes (`prepared_alone`: no Prefect, no Dask, no commit).
2. Two clusters started as a user would (`dask scheduler`, `dask worker --nthreads 1`,
   with the README's DASK_CONFIG), each worker in its own session (`dask_cluster`): 1
   worker and 2 workers, both up for the whole bench (idle, with `dask.yaml`, both
   clusters together use 0.06 of a core).
3. The flows' cluster ingest (`flows.ingest_on_cluster`: each file prepared on a worker
   as a Prefect task run, committed in the flow's process in name order), into a fresh
   data dir each time, interleaved 1 worker / 2 workers, `repeats` times; medians. Timed:
   the fan-out (first submit to last commit), then the run's audit and Data Docs (in
   the flow's process, whatever the cluster: reported apart).
A Prefect test server runs in this process (≈ 20 s to start, untimed), and each cluster
ingests 4 small files first (untimed: every worker's imports).

Run: python -m tests.bench_cluster [--files 10] [--calls-per-file 45000] [--repeats 3]
Hook into `python -m tests.bench`: PART_RUNNERS["cluster"] = lambda root, args:
bench_cluster(root) (and "cluster" in PARTS).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from tests.benchkit import record, target_line

TARGET_SPEEDUP = 1.7
DASK_CONFIG = Path(__file__).parents[1] / "dask.yaml"  # the cluster's Dask settings
LAST_DAY = date(2026, 10, 31)


def make_raw_files(root: Path, files: int, calls_per_file: int) -> tuple[Path, Path, int]:
    """`files` OTLP/JSON files of one demo day each under root/raw/traces; the config
    folder of their fleet; their spans."""
    from pipelines.synth import generate_demo

    raw = root / "raw" / "traces"
    raw.mkdir(parents=True)
    spans = 0
    for n in range(files):
        gen = root / f"gen-{n}"
        summary = generate_demo(gen, root / "config", days=1, calls_per_day=calls_per_file,
                                seed=200 + n, end=LAST_DAY - timedelta(days=n))  # fmt: skip
        (traces,) = (gen / "raw" / "traces").glob("*.jsonl")
        traces.rename(raw / traces.name)
        shutil.rmtree(gen)
        spans += summary.n_spans
    return root / "raw", root / "config", spans


def fresh_data_dir(raw: Path, target: Path, limit: int | None = None) -> Path:
    """A new data dir whose raw/ holds hard links to `raw`'s files (no copy, same bytes),
    or to its first `limit` files."""
    for path in sorted(raw.rglob("*.jsonl"))[:limit]:
        linked = target / "raw" / path.relative_to(raw)
        linked.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, linked)
    return target


@contextmanager
def dask_cluster(root: Path, workers: int) -> Iterator[str]:
    """A Dask scheduler and `workers` workers of 1 thread, started as a user would for
    `--cluster` (`dask scheduler`, `dask worker`), each in its own session: Linux's
    autogroup shares the CPU between sessions, so each worker gets the share a machine of
    its own would, as on a real cluster (in one session, the workers of a LocalCluster
    share one session's share, and a busy neighbour hides any speedup). The address."""
    from distributed import Client

    dask = Path(sys.executable).with_name("dask")
    env = {**os.environ, "DASK_CONFIG": str(DASK_CONFIG)}  # as the README's recipe
    root.mkdir(parents=True)
    address_file = root / "scheduler.json"
    started = [subprocess.Popen(
        [dask, "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file", address_file],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=env)]  # fmt: skip
    try:
        while not address_file.exists():
            time.sleep(0.1)
        started += [subprocess.Popen(
            [dask, "worker", "--scheduler-file", address_file, "--nthreads", "1",
             "--no-dashboard", "--local-directory", root / f"worker-{n}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env=env) for n in range(workers)]  # fmt: skip
        with Client(scheduler_file=str(address_file), set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=120)
            address = client.scheduler.address
        yield address
    finally:
        for process in reversed(started):  # the workers first, by their own pids
            process.terminate()
            process.wait(30)


def _warm_up(_: int) -> None:
    """A pool process's imports, untimed (each takes one: the sleep holds it)."""
    import pipelines.cluster
    import pipelines.ingest  # noqa: F401

    time.sleep(1)


def _prepare_alone(path: str, data_dir: str, config_dir: str) -> None:
    """One file prepared as a worker prepares it (`cluster.prepare_on_worker`), then
    discarded: the work alone, with no Prefect, no Dask and no commit."""
    from pipelines import cluster
    from pipelines.settings import Settings

    settings = Settings(data_dir=Path(data_dir), config_dir=Path(config_dir),
                        reports_dir=Path(data_dir) / "reports").resolved()  # fmt: skip
    prepared = cluster.prepare_on_worker(Path(path), settings)
    assert prepared.rows_read, prepared  # prepared, not set aside or unchanged
    prepared.staged.discard()


def prepared_alone(data: Path, config: Path, processes: int) -> float:
    """Seconds for `processes` plain processes to prepare data's raw files, each taking
    the next file in name order as it frees up (as Dask hands them out): what the box
    gives the work itself, the ceiling of any cluster's speedup on it."""
    files = [str(path) for path in sorted((data / "raw").rglob("*.jsonl"))]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        list(pool.map(_warm_up, range(processes)))
        started = time.perf_counter()
        list(pool.map(_prepare_alone, files, [str(data)] * len(files),
                      [str(config)] * len(files)))  # fmt: skip
        return time.perf_counter() - started


def _ingest_flow():
    """The cluster ingest as the flows run it, timed in parts (a flow made at first use:
    Prefect is imported by the bench's process only)."""
    from prefect import flow

    from pipelines import cluster, flows
    from pipelines.settings import Settings

    @flow(name="bench-cluster-ingest")
    def cluster_ingest(data_dir: str, config_dir: str, address: str) -> tuple:
        settings = Settings(data_dir=Path(data_dir), config_dir=Path(config_dir),
                            reports_dir=Path(data_dir) / "reports",
                            dask_address=address).resolved()  # fmt: skip
        files, quality = flows.find_raw_files(settings)
        started = time.perf_counter()
        with cluster.running(address) as runner:
            states = flows.ingest_on_cluster(files, settings, quality, runner)
        fanned_out = time.perf_counter() - started
        flows.build_data_docs(quality)
        audited = time.perf_counter() - started - fanned_out
        results = [state.result() for state in states]
        assert all(r.status == "ingested" for r in results), results
        assert all(r.rows_read == r.rows_accepted + r.rows_quarantined for r in results)
        return fanned_out, audited, sum(r.rows_read for r in results)

    return cluster_ingest


def bench_cluster(root: Path, files: int = 10, calls_per_file: int = 45_000,
                  repeats: int = 3) -> None:  # fmt: skip
    from prefect.testing.utilities import prefect_test_harness

    print(f"\n== cluster ingest of {files} files × {calls_per_file:,} calls: 1 vs 2 workers "
          f"(1 thread each), interleaved, medians of {repeats} ==")  # fmt: skip
    started = time.perf_counter()
    raw, config, spans = make_raw_files(root / "source", files, calls_per_file)
    size_mb = sum(p.stat().st_size for p in raw.rglob("*.jsonl")) / 1e6
    print(f"{'generate raw files':<38} {time.perf_counter() - started:8.2f} s   "
          f"{spans:,} spans, {size_mb:,.0f} MB")  # fmt: skip
    warm_up, _, _ = make_raw_files(root / "warm-up", 4, 200)  # 4 small files: 2 a worker
    alone: dict[int, list[float]] = {1: [], 2: []}
    for n in range(repeats):
        for processes in alone:
            data = fresh_data_dir(raw, root / f"alone-{n}-{processes}")
            alone[processes].append(prepared_alone(data, config, processes))
            label = f"prepare alone, {processes} process(es)"
            print(f"{label:<38} {alone[processes][-1]:8.2f} s   "
                  f"{spans / alone[processes][-1]:>9,.0f} spans/s")  # fmt: skip
            shutil.rmtree(data)
    ceiling = statistics.median(alone[1]) / statistics.median(alone[2])
    print(f"  the box's ceiling: 2 processes ÷ 1 = {ceiling:.2f}× (the work alone: no "
          f"Prefect, no Dask, no commit)")  # fmt: skip
    cluster_ingest = _ingest_flow()
    timings: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}
    with (
        prefect_test_harness(server_startup_timeout=120),
        dask_cluster(root / "cluster-1", 1) as one,
        dask_cluster(root / "cluster-2", 2) as two,
    ):
        clusters = {1: one, 2: two}
        for workers, address in clusters.items():  # every worker's imports, untimed
            data = fresh_data_dir(warm_up, root / f"warm-up-{workers}")
            cluster_ingest(str(data), str(config), address)
        for n in range(repeats):
            for workers, address in clusters.items():
                data = fresh_data_dir(raw, root / f"run-{n}-{workers}")
                cpu = time.process_time()
                fanned_out, audited, _ = cluster_ingest(str(data), str(config), address)
                cpu = time.process_time() - cpu  # this process: the flow, its commits
                timings[workers].append((fanned_out, audited, cpu))
                label = f"cluster ingest, {workers} worker(s)"
                print(f"{label:<38} {fanned_out:8.2f} s   + audit {audited:5.2f} s   "
                      f"{spans / fanned_out:>9,.0f} spans/s   flow CPU {cpu:5.2f} s")  # fmt: skip
                shutil.rmtree(data)
    fan = {w: statistics.median(t[0] for t in timings[w]) for w in timings}
    audit = {w: statistics.median(t[1] for t in timings[w]) for w in timings}
    flow_cpu = statistics.median(t[2] for w in timings for t in timings[w])
    rate = {w: spans / fan[w] for w in fan}
    speedup = rate[2] / rate[1]
    print(f"  medians: 1 worker {fan[1]:.2f} s ({rate[1]:,.0f} spans/s), 2 workers "
          f"{fan[2]:.2f} s ({rate[2]:,.0f} spans/s); audit + Data Docs "
          f"{audit[1]:.2f} s / {audit[2]:.2f} s")  # fmt: skip
    print(f"  per worker: {rate[1]:,.0f} spans/s alone, {rate[2] / 2:,.0f} spans/s each of 2")
    print(f"  the flow's own process (Prefect, the commits in order, the audit): "
          f"{flow_cpu:.2f} CPU s a run, {spans / flow_cpu:,.0f} spans per CPU s: the most "
          f"any number of workers can be fed")  # fmt: skip
    record("cluster", files=files, spans=spans, file_mb=size_mb, one_worker_s=fan[1],
           two_workers_s=fan[2], audit_s=audit[1], one_worker_spans_per_s=rate[1],
           two_workers_spans_per_s=rate[2], per_worker_spans_per_s=rate[2] / 2,
           flow_cpu_s=flow_cpu, flow_spans_per_cpu_s=spans / flow_cpu,
           alone_one_s=statistics.median(alone[1]), alone_two_s=statistics.median(alone[2]),
           ceiling_speedup=ceiling)  # fmt: skip
    print(f"  the cluster's speedup is {speedup / ceiling:.0%} of the box's ceiling "
          f"({ceiling:.2f}×)")  # fmt: skip
    target_line("cluster", "cluster_speedup", speedup, TARGET_SPEEDUP, "×", at_least=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10, help="raw files (default 10)")
    parser.add_argument("--calls-per-file", type=int, default=45_000,
                        help="demo calls per file, ≈ 1.5 spans each (default 45,000)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="runs per cluster (default 3)")
    args = parser.parse_args(argv)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # a line per task run otherwise
    with tempfile.TemporaryDirectory(prefix="fleetledger-bench-cluster-") as root:
        bench_cluster(Path(root), args.files, args.calls_per_file, args.repeats)


if __name__ == "__main__":
    main()
