"""The flows' work fanned out over a Dask cluster (`--cluster ADDRESS`, the flows' `cluster`
parameter, or FLEETLEDGER_DASK_ADDRESS); with no address, everything runs in the flow's
process, as it always did.

With an address, the flow itself still runs here, holds the data dir's lock, and sends
the heavy independent pieces to the cluster's workers as Prefect task runs, through
prefect-dask's DaskTaskRunner:
- ingest: each raw file parsed and staged on a worker (`prepare_on_worker`); the commits
  stay in the flow's process, one at a time and in name order (`parallel.commit_in_turn`
  re-parses a file whose dedupe a file committed meanwhile changes), so the lake is the
  one a run of one file after the other makes;
- build: the batches `warehouse.build` hands its `map_batches` (`batch_mapper`).
Workers read and write the data dir at the same path as the flow (a shared folder), and
need the fleetledger package installed.

A task that raises is retried by Prefect, on a worker, as the task says. A worker that
dies (killed, out of memory) is not a task error: Dask itself runs its tasks again on
another worker, up to `distributed.scheduler.allowed-failures` (3) deaths per task; then
the task fails with KilledWorker, the file fails (the run goes on with the others and
fails at its end), and Prefect shows that task run as Running forever. A killed attempt
may leave its files behind (a stage; on S3, files in the partitions), under its own
commit id (no rerun writes into it), never logged, so never part of the lake (`lake`);
removed at the next run's start (`lake.collect_garbage`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pipelines.errors import UserError
from pipelines.settings import DASK_ADDRESS_ENV, Settings

if TYPE_CHECKING:
    from prefect_dask import DaskTaskRunner

    from pipelines.ingest import FileResult, Prepared

# DuckDB's threads in a task on a worker: the workers are meant to run one task per
# thread (threads_per_worker=1, one worker per core); DuckDB would take every core.
WORKER_DUCKDB_THREADS = 1


class ClusterUnreachable(UserError):
    """No Dask scheduler answers at the address given."""


def task_runner(address: str | None) -> DaskTaskRunner | None:
    """The task runner of the cluster at `address` (a Dask scheduler, e.g.
    tcp://10.0.0.5:8786), or None: no cluster, the flow's own runner."""
    if not address:
        return None
    from prefect_dask import DaskTaskRunner  # distributed takes a second to import

    return DaskTaskRunner(address=address)


@contextmanager
def running(address: str | None) -> Iterator[DaskTaskRunner | None]:
    """The cluster's task runner, started and connected, for the `with` block; None
    when there is no address. A scheduler that does not answer is a user error."""
    runner = task_runner(address)
    if runner is None:
        yield None
        return
    with runner:
        try:
            runner.client  # noqa: B018 (connects now, not at the first task)
        except OSError as error:  # distributed's connect timeout is an OSError too
            raise ClusterUnreachable(
                f"Dask scheduler {address}: cannot connect ({error}); check --cluster or "
                f"{DASK_ADDRESS_ENV}"
            ) from None
        yield runner


def prepare_on_worker(path: Path, settings: Settings) -> Prepared | FileResult:
    """What a worker does with a raw file: parse and stage it, no commit, keeping the
    keys the commit's staleness check needs (`parallel.stale`)."""
    from pipelines.ingest import prepare_file

    return prepare_file(path, settings, threads=WORKER_DUCKDB_THREADS, keep_keys=True)


@task(cache_policy=NO_CACHE, task_run_name="build batch {index}")  # no timeout: see flows
def run_batch(fn: Callable[[Any], Any], item: Any, index: int) -> Any:
    """One batch of a warehouse build, on a worker."""
    return fn(item)


def batch_mapper(runner: DaskTaskRunner | None) -> Callable[[Callable, list], list] | None:
    """`warehouse.build`'s map_batches on the cluster: each item a task run on a worker,
    the results in the items' order; None (the build's own, sequential) without one."""
    if runner is None:
        return None

    def map_batches(fn: Callable[[Any], Any], items: list) -> list:
        futures = [
            runner.submit(run_batch, {"fn": fn, "item": item, "index": index})
            for index, item in enumerate(items)
        ]
        return [future.result() for future in futures]

    return map_batches
