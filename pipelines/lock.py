"""One writer at a time per data dir: every command that writes the lake or the warehouse
holds an exclusive lock on `DATA/.fleetledger.lock` while it runs.

On a local disk it is written by hand over `fcntl.flock` (POSIX): the `filelock` package
truncates the file each time it opens it, so the holder could not describe itself in the
lock file, and naming the holder is the point of the error. The OS drops a flock when
its process dies, even on kill -9, so a crash never leaves a stale lock: the description
left in the file is only read while somebody holds the lock.

A data dir on object storage (`s3://...`, a UPath) has no flock: its lock is a lease
object (`pipelines.objectstore.object_store_lock`, same contract). Both wait and refuse
through `wait_to_acquire`, so a second writer hears the same thing from either.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipelines.db import is_local
from pipelines.errors import UserError

LOCK_FILE = ".fleetledger.lock"
POLL_SECONDS = 0.5


class DataDirBusy(UserError):
    """Another process writes the data dir; the message names it."""


def holder_line(command: str, now: datetime | None = None) -> str:
    """How a holder describes itself: command, pid, host and since when."""
    since = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{command} (pid {os.getpid()} on {socket.gethostname()}, since {since})"


def busy_error(where: str, holder: str, wait_seconds: float) -> DataDirBusy:
    """The error a second writer gets, naming the holder."""
    waited = f" after waiting {wait_seconds:g}s" if wait_seconds else ""
    return DataDirBusy(
        f"{where} is being written by {holder}{waited}; let it finish, or "
        "wait for it with FLEETLEDGER_LOCK_WAIT=SECONDS"
    )


def wait_to_acquire(
    try_once: Callable[[], str | None],
    where: str,
    wait_seconds: float,
    on_wait: Callable[[str], None] | None = None,
) -> None:
    """Call `try_once` (None: acquired, else who holds the lock) until it acquires, for up
    to `wait_seconds` (telling `on_wait` who holds it, once), then raise `busy_error`."""
    deadline = time.monotonic() + wait_seconds
    told = False
    while (holder := try_once()) is not None:
        if time.monotonic() >= deadline:
            raise busy_error(where, holder, wait_seconds)
        if on_wait and not told:
            on_wait(f"waiting up to {wait_seconds:g}s for {holder} to finish")
            told = True
        time.sleep(POLL_SECONDS)


@contextmanager
def data_dir_lock(
    data_dir: Path,
    command: str,
    *,
    wait_seconds: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the data dir's write lock for the block. When another process holds it, wait
    up to `wait_seconds` (telling `on_wait` who holds it, once), then raise DataDirBusy.
    On object storage, the block's end raises `objectstore.LockLost` if the lease was
    taken over meanwhile (its holder hung longer than the lease)."""
    if not is_local(data_dir):
        from pipelines.objectstore import object_store_lock

        with object_store_lock(str(data_dir), command, wait_seconds=wait_seconds, on_wait=on_wait):
            yield
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    with open(path, "a+", encoding="utf-8") as handle:
        wait_to_acquire(lambda: _try_flock(handle, path), str(path.parent), wait_seconds, on_wait)
        try:
            handle.truncate(0)
            handle.write(holder_line(command) + "\n")
            handle.flush()
            yield
        finally:
            handle.truncate(0)
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _try_flock(handle, path: Path) -> str | None:
    """Take the flock without blocking: None, or who holds it."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return _holder(path)


def _holder(path: Path) -> str:
    text = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    return text or "another fleetledger process"
