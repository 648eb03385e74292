"""Many files ingested at once, with the results of one after the other.

Worker processes parse and stage files (`prepare_file`), up to one per core; this process
commits them, one at a time and in name order, as a sequential run would (the commit
stays the single commit of the log, `lake.commit`, under the caller's lock). A file's dedupe
depends on what was stored when it was parsed; a file committed in between (an earlier
file of the run) can change it only when it stores, or stored, a key this file's rows
hold. So before committing, the keys of the rows that broke no rule (written by the
worker) are compared with those of every version logged or replaced since the file's
log was read, on the days its dedupe read (`seen.PassedKeys`): any in common, and the
file is parsed again, here, against the lake as it is now — exactly what a sequential
run would have done.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.db import connect
from pipelines.ingest import lake
from pipelines.ingest.seen import overlaps
from pipelines.schemas import TABLES
from pipelines.settings import Settings

if TYPE_CHECKING:
    from pipelines.ingest import FileResult, Prepared
    from pipelines.validate import DataQuality


def core_count() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(files: int, wanted: int | None = None) -> int:
    """Workers for `files` files: one per core (or `wanted`), never more than files."""
    return max(1, min(files, wanted or core_count()))


def start_method() -> str:
    """fork where there is one: a worker starts at once, with this process's modules and
    their state as they are now (formats, settings), and uses only what it makes itself
    (its DuckDB connection; GX starts loading, in a thread, only once the workers are
    forked: `ingest_in_parallel`). Elsewhere spawn.

    A data dir on S3 forks too: fsspec keeps its filesystem instances per process (a
    child asking for one gets a new one, with its own event loop: fsspec resets its loop
    after a fork), and the settings reach a worker pickled, so its UPath builds its
    filesystem anew (tests/test_s3_ingest.py runs workers against S3)."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def ingest_in_parallel(
    files: list[Path],
    settings: Settings,
    quality: DataQuality,
    *,
    workers: int,
    source_format: str | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Parse `files` in `workers` processes, commit each here in order (see the module
    doc); the FileResults, in order. An error of the machine in a worker is raised here,
    as a sequential run raises it; files parsed but not committed are discarded."""
    from pipelines.ingest import prepare_file
    from pipelines.validate import import_gx_in_background, wait_for_gx_import

    threads = max(1, core_count() // workers)  # DuckDB's threads per worker
    context = multiprocessing.get_context(start_method())
    results: list[FileResult] = []
    wait_for_gx_import()  # never fork half-way through an import (started by an earlier run)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [
            pool.submit(
                prepare_file,
                path,
                settings,
                source_format=source_format,
                threads=threads,
                keep_keys=True,
            )
            for path in files
        ]
        import_gx_in_background()  # the workers are forked (at the first submit, with fork)
        try:
            for future in futures:
                result = commit_in_turn(future.result(), settings, quality, source_format)
                results.append(result)
                if on_file:
                    on_file(result)
        except BaseException:
            _abandon(pool, futures)
            raise
    return results


def commit_in_turn(
    prepared: Prepared | FileResult,
    settings: Settings,
    quality: DataQuality,
    source_format: str | None,
) -> FileResult:
    """Commit a file a worker prepared, or parse it again here if the files committed
    since its log was read change its dedupe (see the module doc)."""
    from pipelines.ingest import FileResult, commit_prepared, ingest_file

    if isinstance(prepared, FileResult):
        return prepared
    log = lake.read_log(settings.lake_dir)
    if lake.already_ingested(log, prepared.path, prepared.sha256):  # restored meanwhile
        if prepared.staged.commit_id not in lake.live_commits(log):  # never this version's
            prepared.staged.discard()  # (a copy of a committed Prepared knows no publish)
        return FileResult(prepared.path, prepared.source_format, "unchanged")
    if stale(prepared, settings.lake_dir, log):
        prepared.staged.discard()
        return ingest_file(
            prepared.path, settings, source_format=source_format, quality=quality, again=True
        )
    return commit_prepared(prepared, settings, quality)


def stale(prepared: Prepared, lake_dir: Path, log) -> bool:
    """Whether a version logged or replaced since `prepared` read the log holds a key
    among its rows that broke no rule (a replaced version no longer on the retired list
    counts: its keys cannot be compared).
    Only the days its dedupe looked at are read (`seen.PassedKeys`): files of a day each,
    the daily exports' usual case, are committed without reading any."""
    changed = lake.live_commits(log) ^ prepared.snapshot
    if not changed or not prepared.passed_keys:
        return False
    entries = [e for e in log.to_pylist() if e["commit_id"] in changed]
    if len(entries) < len(changed):  # versions replaced since: kept on the retired list
        entries += [e for e in lake.retired(lake_dir) if e["commit_id"] in changed]
    if len({e["commit_id"] for e in entries}) < len(changed):
        return True  # a replaced version already gone: its keys cannot be compared
    to_compare = {
        name: [
            path
            for entry in entries
            for path in lake.version_files(lake_dir, entry, (TABLES[name],), among_days=passed.days)
        ]
        for name, passed in prepared.passed_keys.items()
    }
    if not any(to_compare.values()):
        return False
    con = connect(memory_limit="1GB")
    try:
        return any(
            overlaps(con, TABLES[name], prepared.passed_keys[name].folder, files)
            for name, files in to_compare.items()
        )
    finally:
        con.close()


def _abandon(pool: ProcessPoolExecutor, futures: list[Future]) -> None:
    """Stop the workers' queue and discard what finished workers staged."""
    pool.shutdown(wait=True, cancel_futures=True)
    for future in futures:
        if future.done() and not future.cancelled() and future.exception() is None:
            staged = getattr(future.result(), "staged", None)
            if staged is not None:
                staged.discard()
