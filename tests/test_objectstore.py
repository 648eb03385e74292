"""Object storage as a data dir, against a local S3 server (moto): DuckDB through our
filesystem, conditional writes, the lock object and the manifest commit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import duckdb
import pytest
import s3fs

from pipelines.lock import LOCK_FILE, DataDirBusy
from pipelines.objectstore import (
    LockLost,
    commit_version,
    create_if_absent,
    delete_if_match,
    filesystem,
    is_url,
    lock_record,
    object_store_lock,
    pointer_path,
    read_latest,
    read_with_etag,
    register,
    replace_if_match,
    version_path,
)

HOLD = (
    "import sys, time; from pipelines.objectstore import object_store_lock\n"
    "with object_store_lock(sys.argv[1], 'nightly flow', lease_seconds=float(sys.argv[3])):\n"
    "    print('held', flush=True); time.sleep(float(sys.argv[2]))\n"
)
DAYS = "SELECT range AS i, 'd' || (range % 2) AS day FROM range({rows})"  # i: 0, 1, ...


def _holder(url: str, seconds: float, lease_seconds: float = 60) -> subprocess.Popen:
    """Another process holding the lock of `url` for `seconds` (it inherits the S3 env)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, str(seconds), str(lease_seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


def _holder_says(pid: int, error: str) -> str:
    """How process `pid` describes itself holding the lock, with the `since` the error
    gives (the one part not known in advance)."""
    since = error.split("since ")[1].split(")")[0]
    return f"nightly flow (pid {pid} on {os.uname().nodename}, since {since})"


def _connection(fs) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    register(con, fs)
    return con


def test_urls_are_told_from_paths():
    locations = ["s3://b/p", "gs://b", "file:///tmp/d", "/tmp/d", "data", "C:\\data"]
    assert [location for location in locations if is_url(location)] == ["s3://b/p", "gs://b"]


def test_duckdb_writes_and_reads_parquet_and_json(s3_url):
    fs = filesystem(s3_url)
    con = _connection(fs)
    register(con, fs)  # a second registration is harmless
    con.sql(f"COPY (SELECT * FROM (VALUES (1, 'a'), (2, 'b')) t(i, s)) TO '{s3_url}/t/x.parquet'")
    assert con.sql(f"SELECT * FROM '{s3_url}/t/x.parquet' ORDER BY i").fetchall() == [
        (1, "a"),
        (2, "b"),
    ]
    fs.pipe(f"{s3_url}/raw/a.jsonl", b'{"k": 1, "v": "x"}\n{"k": 2, "v": "y"}\n')
    assert con.sql(f"SELECT k, v FROM read_json('{s3_url}/raw/*.jsonl') ORDER BY k").fetchall() == [
        (1, "x"),
        (2, "y"),
    ]


def test_a_partitioned_copy_needs_our_listing(s3_url):
    """DuckDB lists the target prefix of a partitioned COPY: plain s3fs raises for a new
    prefix and answers names, not dicts, for an existing one; ours does both right."""
    ours = _connection(filesystem(s3_url))
    plain = _connection(s3fs.S3FileSystem(use_listings_cache=False))
    copy = f"COPY ({DAYS}) TO '{s3_url}/{{prefix}}' (FORMAT parquet, PARTITION_BY (day){{option}})"
    with pytest.raises(duckdb.Error, match=r"FileNotFoundError: .*/fleet/new"):
        plain.sql(copy.format(rows=4, prefix="new", option=""))
    ours.sql(copy.format(rows=4, prefix="new", option=""))
    hive = f"read_parquet('{s3_url}/new/*/*.parquet', hive_partitioning=true)"
    assert ours.sql(f"SELECT day, i FROM {hive} ORDER BY i").fetchall() == [
        ("d0", 0),
        ("d1", 1),
        ("d0", 2),
        ("d1", 3),
    ]
    with pytest.raises(duckdb.Error, match="TypeError: string indices must be integers"):
        plain.sql(copy.format(rows=2, prefix="new", option=", OVERWRITE"))
    ours.sql(copy.format(rows=2, prefix="new", option=", OVERWRITE"))
    assert ours.sql(f"SELECT day, i FROM {hive} ORDER BY i").fetchall() == [("d0", 0), ("d1", 1)]


def test_conditional_writes(s3_url):
    fs = filesystem(s3_url)
    path = f"{s3_url}/object"
    first = create_if_absent(fs, path, b"first")
    assert first is not None
    assert create_if_absent(fs, path, b"second") is None
    assert read_with_etag(fs, path) == (b"first", first)
    replaced = replace_if_match(fs, path, b"replaced", first)
    assert replaced not in (None, first)
    assert replace_if_match(fs, path, b"stale", first) is None  # someone changed it since
    assert read_with_etag(fs, path) == (b"replaced", replaced)
    assert replace_if_match(fs, f"{s3_url}/missing", b"x", first) is None
    assert delete_if_match(fs, path, first) is False
    assert delete_if_match(fs, path, replaced) is True
    assert read_with_etag(fs, path) is None
    assert delete_if_match(fs, path, replaced) is False  # gone already


def test_a_second_holder_is_refused_naming_the_first(s3_url):
    holder = _holder(s3_url, 60)
    try:
        with pytest.raises(DataDirBusy) as busy, object_store_lock(s3_url, "ingest"):
            pass
    finally:
        holder.kill()
        holder.wait()
    error = str(busy.value)
    assert error == (
        f"{s3_url} is being written by {_holder_says(holder.pid, error)}; "
        "let it finish, or wait for it with FLEETLEDGER_LOCK_WAIT=SECONDS"
    )


def test_a_waiting_holder_acquires_once_the_first_releases(s3_url):
    fs = filesystem(s3_url)
    holder = _holder(s3_url, 1.5)
    told = []
    with object_store_lock(s3_url, "ingest", wait_seconds=30, on_wait=told.append):
        assert holder.wait(timeout=30) == 0  # the first released it, and exits cleanly
        record = json.loads(read_with_etag(fs, f"{s3_url}/{LOCK_FILE}")[0])
        assert record["holder"].startswith(f"ingest (pid {os.getpid()} on ")
    assert told == [f"waiting up to 30s for {_holder_says(holder.pid, told[0])} to finish"]
    assert read_with_etag(fs, f"{s3_url}/{LOCK_FILE}") is None  # released: no lock object


def test_a_killed_holders_lock_is_taken_over_after_its_lease(s3_url):
    holder = _holder(s3_url, 600, lease_seconds=2)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    killed = time.monotonic()
    with pytest.raises(DataDirBusy, match=f"pid {holder.pid} "), object_store_lock(s3_url, "a"):
        pass  # its lease still runs
    with object_store_lock(s3_url, "ingest", wait_seconds=30):
        waited = time.monotonic() - killed
    # the lease ends 2 s after its last renewal, which came at most 2/3 s before the kill
    assert 1.0 < waited < 10


@pytest.mark.parametrize("lock", ["free", "expired"])
def test_racing_writers_one_acquires(s3_url, lock):
    fs = filesystem(s3_url)
    if lock == "expired":  # every racer sees a dead holder's lock and takes it over
        dead = lock_record("nightly flow (pid 1 on elsewhere)", "t0ken", time.time() - 1)
        assert create_if_absent(fs, f"{s3_url}/{LOCK_FILE}", dead)
    racers = 6
    start, attempted = threading.Barrier(racers), threading.Barrier(racers)
    acquired, named = [], []  # who acquired; whom the refused ones name as the holder

    def race(i: int) -> None:
        start.wait()
        try:
            with object_store_lock(s3_url, f"racer {i}"):
                acquired.append(f"racer {i}")
                attempted.wait()  # hold until every racer has tried
        except DataDirBusy as busy:
            named.append(str(busy).split(" is being written by ")[1].split(" (pid")[0])
            attempted.wait()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(acquired) == 1
    assert named == acquired * 5
    assert read_with_etag(fs, f"{s3_url}/{LOCK_FILE}") is None


def test_in_process_the_lock_is_exclusive_and_released(s3_url):
    busy = pytest.raises(DataDirBusy, match=r"is being written by first \(pid")
    with object_store_lock(s3_url, "first"), busy, object_store_lock(s3_url, "second"):
        pass  # not reached: "second" is refused while "first" holds the lock
    with object_store_lock(s3_url, "third"):
        pass


THIEF = lock_record("thief (pid 1 on elsewhere)", "t0ken", time.time() + 600)


def test_a_lock_taken_from_its_holder_fails_the_block(s3_url):
    fs = filesystem(s3_url)
    path = f"{s3_url}/{LOCK_FILE}"
    locked = object_store_lock(s3_url, "ingest", lease_seconds=0.6)
    with pytest.raises(LockLost) as at_the_end, locked as lease:
        fs.pipe(path, THIEF)  # what a takeover after an expired lease does
        deadline = time.monotonic() + 10
        while not lease.lost and time.monotonic() < deadline:
            time.sleep(0.05)  # a renewal (every 0.2 s) finds the lock not ours
        with pytest.raises(LockLost) as before_a_commit:
            lease.check(s3_url)
    assert (
        str(at_the_end.value)
        == str(before_a_commit.value)
        == (
            f"{s3_url}: lost its write lock while writing (it is now held by thief (pid 1 on "
            "elsewhere)), so another writer may have run at the same time; run the command again"
        )
    )
    assert read_with_etag(fs, path)[0] == THIEF  # not ours to delete


def test_a_lock_taken_after_its_last_renewal_fails_the_block(s3_url):
    with pytest.raises(LockLost, match=r"\(it was taken over after its last renewal\)"):  # noqa: SIM117
        with object_store_lock(s3_url, "ingest"):
            filesystem(s3_url).pipe(f"{s3_url}/{LOCK_FILE}", THIEF)


def test_racing_commits_take_each_version_once(s3_url):
    fs = filesystem(s3_url)
    root = f"{s3_url}/lake"
    assert read_latest(fs, root) is None
    committed = []

    def commit(thread: int) -> None:
        for j in range(5):
            body = f"thread {thread} commit {j}".encode()
            committed.append((commit_version(fs, root, body), body))

    threads = [threading.Thread(target=commit, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(n for n, _ in committed) == list(range(1, 21))
    assert {n: read_with_etag(fs, version_path(root, n))[0] for n in range(1, 21)} == dict(
        committed
    )
    assert json.loads(read_with_etag(fs, pointer_path(root))[0]) == {"n": 20}
    assert read_latest(fs, root) == (20, dict(committed)[20])


def test_commits_built_on_the_latest_lose_no_update(s3_url):
    fs = filesystem(s3_url)
    root = f"{s3_url}/lake"

    def commit(thread: int) -> None:
        for j in range(3):
            line = f"thread {thread} commit {j}\n".encode()
            commit_version(fs, root, lambda previous, line=line: (previous or b"") + line)

    threads = [threading.Thread(target=commit, args=(t,)) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    n, body = read_latest(fs, root)
    assert n == 9
    assert sorted(body.decode().splitlines()) == [
        f"thread {t} commit {j}" for t in range(3) for j in range(3)
    ]


def test_a_version_whose_writer_died_before_the_pointer_is_committed(s3_url):
    fs = filesystem(s3_url)
    root = f"{s3_url}/lake"
    assert commit_version(fs, root, b"one") == 1
    assert create_if_absent(fs, version_path(root, 2), b"two")  # then killed
    assert read_latest(fs, root) == (2, b"two")
    assert commit_version(fs, root, b"three") == 3
    assert json.loads(read_with_etag(fs, pointer_path(root))[0]) == {"n": 3}
    assert read_latest(fs, root) == (3, b"three")
