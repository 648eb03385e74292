"""A data dir on object storage (`s3://bucket/prefix`): the primitives that stand in for
what a local disk gives for free.

The endpoint and credentials come from the standard AWS environment (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, ...): botocore reads them itself.

S3 has no rename and no flock. What it has is the conditional write: a PUT with
`If-None-Match: *` creates an object only if the key is free, a PUT or DELETE with
`If-Match: <etag>` goes through only if the object is still the one that was read. Exactly
one of several racing writers wins; the others get 412 Precondition Failed (or 409
ConditionalRequestConflict while a racing write is in flight), which the functions below
answer with None or False: losing a race is an answer, not an error.

Commit (the lake's `os.replace` of its manifest): S3 has no rename: numbered manifest
objects created with If-None-Match plus a `_latest` pointer advanced with If-Match.
`root/_manifests/<n:010d>` is created once and never changed, so exactly one writer owns
each n, and creating it is the commit point. The pointer `root/_manifests/_latest` only
saves readers a listing: it moves forward (never back) after each commit, and a reader
checks for a newer version past it, so a writer killed between the two writes leaves a
committed version, not a lost one. Objects appear whole, so a reader never sees a partial
manifest. Old versions may be deleted later, never the pointer's or a newer one.

Lock (the data dir's flock): the object `<url>/.fleetledger.lock` names its holder and the
time its lease expires. Acquiring creates it; a lock whose lease has expired is taken over
by replacing it If-Match its etag (one taker wins); the holder renews the lease from a
thread and deletes the lock If-Match its own etag, so nobody ever deletes another's lock.
A holder killed with kill -9 leaves a lock that expires after the lease: there is no
flock to drop, so that is the price of crash safety. Leases compare the holder's clock
with the waiter's: they assume clocks agree to well within a lease.

DuckDB: its httpfs extension cannot be downloaded here, so every connection that touches
s3:// gets our fsspec filesystem (`register`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import fsspec
import s3fs
from botocore.exceptions import ClientError
from fsspec.asyn import sync, sync_wrapper

from pipelines.db import is_url as is_url  # one definition, light (re-exported here)
from pipelines.errors import UserError
from pipelines.lock import LOCK_FILE, holder_line, wait_to_acquire

MANIFESTS = "_manifests"
LATEST = "_latest"
LEASE_SECONDS = 60.0
# the answers S3 gives a conditional write whose condition did not hold
LOST_RACE_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
S3_SCHEMES = ("s3", "s3a")
# the parts of a path that name an object written once, under a unique name, and never
# changed: a day partition's file (lake, facts), a stage's key files (`seen.PassedKeys`)
WRITTEN_ONCE = ("/day=", "/lake/_staging/")


class LockLost(UserError):
    """The lock was taken from its holder while the block ran (its lease ran out)."""


def join(root: str, *parts: str) -> str:
    """`root/part/...`: object keys are joined with '/', whatever the OS."""
    return "/".join([root.rstrip("/"), *parts])


class DuckS3FileSystem(s3fs.S3FileSystem):
    """s3fs as DuckDB's fsspec bridge needs it. The bridge calls `ls(path)` without
    `detail` and reads each entry as a dict, and it expects an empty listing, not
    FileNotFoundError, for a prefix it is about to write into (COPY ... PARTITION_BY to a
    new prefix). The async `_ls` is overridden because fsspec derives the sync `ls` from
    it; overriding `ls` itself breaks that.

    No listings cache by default: another process's writes must show in the next glob.
    fsspec caches instances per arguments (and per process: a forked child makes its
    own), so `DuckS3FileSystem()` is one instance, whoever asks: `filesystem`, or a
    UPath (see below)."""

    def __init__(self, *args, use_listings_cache: bool = False, **kwargs):
        super().__init__(*args, use_listings_cache=use_listings_cache, **kwargs)
        self._partition_infos: dict[str, dict] = {}
        self._buckets_seen: set[str] = set()

    async def _info(self, path, bucket=None, key=None, refresh=False, version_id=None):
        """Lake and fact files (in `day=` partitions) and a stage's key files (its
        folder is named after its commit id) are written once under unique names and
        never changed: their info is asked of S3 once per process. DuckDB's bridge asks ~3.5
        times per file it opens (measured: 1,522 HEADs for 440 opens in one build, 27 s →
        11.7 s with this). `refresh` still asks; a delete forgets them all."""
        if refresh or version_id or not any(part in path for part in WRITTEN_ONCE):
            return await super()._info(path, bucket, key, refresh=refresh, version_id=version_id)
        name = self._strip_protocol(path)
        if name not in self._partition_infos:
            self._partition_infos[name] = await super()._info(path, bucket, key)
        return self._partition_infos[name]

    async def _rm(self, path, recursive=False, **kwargs):
        self._partition_infos.clear()  # rare (garbage collection): S3 is asked again
        return await super()._rm(path, recursive=recursive, **kwargs)

    async def _rm_file(self, path, **kwargs):
        self._partition_infos.clear()
        return await super()._rm_file(path, **kwargs)

    async def _mkdir(self, path, acl=False, create_parents=True, **kwargs):
        """S3 has no folders: s3fs's mkdir of a folder only checks that its bucket exists
        (one HEAD each time; pyarrow asks before every file it writes). Asked once per
        bucket and process: 43 of 585 requests in one ingest."""
        bucket, key, _ = self.split_path(self._strip_protocol(path).rstrip("/"))
        if key and bucket in self._buckets_seen:
            return
        await super()._mkdir(path, acl=acl, create_parents=create_parents, **kwargs)
        if key:
            self._buckets_seen.add(bucket)

    mkdir = sync_wrapper(_mkdir)  # s3fs binds its sync mkdir to its own _mkdir

    async def _ls(self, path, detail=True, refresh=False, versions=False):
        try:
            return await super()._ls(path, detail=detail, refresh=refresh, versions=versions)
        except FileNotFoundError:
            return []


# UPath("s3://...") builds its filesystem from fsspec's registry when first used: with
# ours registered, a data dir's UPath, `filesystem()` and every DuckDB connection
# (`pipelines.db.connect`) share one instance, which DuckDB's bridge can use.
for _scheme in S3_SCHEMES:
    fsspec.register_implementation(_scheme, DuckS3FileSystem, clobber=True)


def filesystem(url: str = "s3://") -> DuckS3FileSystem:
    """The filesystem of an object-store URL (the process's one DuckS3FileSystem)."""
    scheme = url.split("://", 1)[0]
    if scheme not in S3_SCHEMES:
        raise UserError(f"{url}: only s3:// object storage is supported")
    return DuckS3FileSystem()


def register(con, fs) -> None:
    """Let DuckDB connection `con` read and write `fs`'s URLs (s3://...). Idempotent:
    DuckDB refuses to register a protocol twice on one connection."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if not con.filesystem_is_registered(protocol):
        con.register_filesystem(fs)


# --- conditional writes -------------------------------------------------------------


def _lost_race(error: OSError) -> bool:
    """Whether s3fs's error is a condition that did not hold. s3fs translates the 412
    into FileExistsError for If-None-Match but OSError(EINVAL) for If-Match, and EINVAL
    means many other things: the ClientError it keeps as the cause says which."""
    cause = error.__cause__
    return isinstance(cause, ClientError) and cause.response["Error"]["Code"] in LOST_RACE_CODES


def _put(fs, path: str, data: bytes, **condition: str) -> str | None:
    """PUT `data` if `condition` holds: the new etag, or None if it did not hold."""
    bucket, key, _ = fs.split_path(path)
    try:
        return fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, **condition)["ETag"]
    except OSError as error:
        if _lost_race(error):
            return None
        raise


def create_if_absent(fs, path: str, data: bytes) -> str | None:
    """Create the object `path` holding `data` unless it exists: its etag, or None if
    the key was taken (the existing object is left as it is)."""
    return _put(fs, path, data, IfNoneMatch="*")


def replace_if_match(fs, path: str, data: bytes, etag: str) -> str | None:
    """Overwrite `path` with `data` if it is still the object whose etag was `etag`: the
    new etag, or None if someone changed or deleted it since."""
    try:
        return _put(fs, path, data, IfMatch=etag)
    except FileNotFoundError:  # If-Match on a deleted object: changed since, too
        return None


def read_with_etag(fs, path: str) -> tuple[bytes, str] | None:
    """The body of `path` and the etag of that very body (one GET, so they cannot
    disagree), or None if it does not exist."""
    bucket, key, _ = fs.split_path(path)

    async def get() -> tuple[bytes, str]:
        response = await fs._call_s3("get_object", Bucket=bucket, Key=key)
        async with response["Body"] as body:
            return await body.read(), response["ETag"]

    try:
        return sync(fs.loop, get)
    except FileNotFoundError:
        return None


def delete_if_match(fs, path: str, etag: str) -> bool:
    """Delete `path` if it is still the object whose etag was `etag`: False if someone
    changed or deleted it since."""
    bucket, key, _ = fs.split_path(path)
    try:
        fs.call_s3("delete_object", Bucket=bucket, Key=key, IfMatch=etag)
    except FileNotFoundError:
        return False
    except OSError as error:
        if _lost_race(error):
            return False
        raise
    return True


# --- the lock -----------------------------------------------------------------------


def lock_record(holder: str, token: str, expires: float) -> bytes:
    """The lock object's body: who holds it, the holder's secret, when its lease ends."""
    return json.dumps({"holder": holder, "token": token, "expires": expires}).encode()


@dataclass
class Lease:
    """One process's claim on a lock object. `token` tells its own lock from another's:
    a PUT whose response was lost may be retried by botocore and then "fail" against the
    object it created itself."""

    fs: s3fs.S3FileSystem
    path: str
    holder: str
    seconds: float
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    etag: str | None = None
    lost: str | None = None  # why the lock stopped being ours, if it did
    stopped: threading.Event = field(default_factory=threading.Event)
    renewed: float = field(default_factory=time.monotonic)  # when the lease last began

    def _record(self) -> bytes:
        return lock_record(self.holder, self.token, time.time() + self.seconds)

    def try_acquire(self) -> str | None:
        """Take the lock if it is free or its lease expired: None, or who holds it."""
        while True:
            self.renewed = time.monotonic()  # the lease written below begins no earlier
            self.etag = create_if_absent(self.fs, self.path, self._record())
            if self.etag:
                return None
            current = read_with_etag(self.fs, self.path)
            if current is None:  # released between our create and our read: try again
                continue
            data, etag = current
            record = json.loads(data)
            if record["token"] == self.token:  # our own create, retried
                self.etag = etag
                return None
            if record["expires"] <= time.time():  # its holder died or hung: take it over
                self.etag = replace_if_match(self.fs, self.path, self._record(), etag)
                if self.etag:
                    return None
                continue  # another taker won: name it, not the dead holder
            return record["holder"]

    def renew(self) -> None:
        """Push the lease's end forward, or record in `lost` that the lock is not ours."""
        started = time.monotonic()
        etag = replace_if_match(self.fs, self.path, self._record(), self.etag)
        if etag is None:
            current = read_with_etag(self.fs, self.path)
            record = json.loads(current[0]) if current else None
            if record is None or record["token"] != self.token:
                self.lost = f"it is now held by {record['holder']}" if record else "it was deleted"
                return
            etag = current[1]  # our renewal went through, but its answer was lost
        self.etag, self.renewed = etag, started

    def keep(self) -> None:
        """Renew every third of the lease until `stopped`. A renewal that fails (a network
        blip) is retried at the next round, until the lease it would extend runs out."""
        runs_out = time.monotonic() + self.seconds
        while not self.lost and not self.stopped.wait(self.seconds / 3):
            started = time.monotonic()
            try:
                self.renew()
                runs_out = started + self.seconds
            except Exception as error:
                if time.monotonic() >= runs_out:
                    self.lost = f"its lease could not be renewed: {error}"

    def check(self, url: str) -> None:
        """Raise LockLost if the lock stopped being ours, or may have: its lease has run
        out but for a margin since it was last renewed (this process was paused, or
        cannot reach the store, so another may take it over). Call before a commit."""
        if not self.lost and time.monotonic() > self.renewed + self.seconds * 5 / 6:
            self.lost = "its lease ran out before it could be renewed"
        if self.lost:
            raise LockLost(
                f"{url}: lost its write lock while writing ({self.lost}), so another "
                "writer may have run at the same time; run the command again"
            )


@contextmanager
def object_store_lock(
    url: str,
    command: str,
    *,
    wait_seconds: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
    lease_seconds: float = LEASE_SECONDS,
) -> Iterator[Lease]:
    """Hold the write lock of the data dir at `url` for the block, like
    `pipelines.lock.data_dir_lock`: when another process holds it, wait up to
    `wait_seconds` (telling `on_wait` who holds it, once), then raise DataDirBusy.
    Yields the Lease: `lease.check(url)` before a commit raises LockLost if the lock
    was lost meanwhile; the block's end raises it in any case."""
    lease = Lease(filesystem(url), join(url, LOCK_FILE), holder_line(command), lease_seconds)
    wait_to_acquire(lease.try_acquire, url, wait_seconds, on_wait)
    keeper = threading.Thread(target=lease.keep, name=f"lease {lease.path}", daemon=True)
    keeper.start()
    HELD[url] = lease
    failed = False
    try:
        yield lease
    except BaseException:
        failed = True  # its error is the one to see, not a LockLost on top of it
        raise
    finally:
        HELD.pop(url, None)
        lease.stopped.set()
        keeper.join()
        if not lease.lost and not delete_if_match(lease.fs, lease.path, lease.etag):
            lease.lost = "it was taken over after its last renewal"
        if not failed:
            lease.check(url)


# The leases this process holds, by data dir URL: every write that commits (the lake's
# log, the warehouse upload, deletes of replaced files) first checks its data dir's lease
# (`check_held`), so a holder that lost its lock stops before it overwrites another's work.
HELD: dict[str, Lease] = {}


def check_held(path) -> None:
    """Raise LockLost if this process holds the lock of the data dir `path` lies in and
    has lost it (a process holding none, such as a Dask worker, commits nothing)."""
    where = str(path)
    for url, lease in list(HELD.items()):
        if where == url or where.startswith(url.rstrip("/") + "/"):
            lease.check(url)


# --- the manifest commit ------------------------------------------------------------


def version_path(root: str, n: int) -> str:
    return join(root, MANIFESTS, f"{n:010d}")


def pointer_path(root: str) -> str:
    return join(root, MANIFESTS, LATEST)


def read_latest(fs, root: str) -> tuple[int, bytes] | None:
    """The latest committed version under `root` and its body, or None before the first
    commit: from the pointer, then past it while a newer version exists (a writer may be
    between its commit and the pointer, or have died there)."""
    pointer = read_with_etag(fs, pointer_path(root))
    n = json.loads(pointer[0])["n"] if pointer else 0
    latest = None
    while (found := read_with_etag(fs, version_path(root, n + 1))) is not None:
        n, latest = n + 1, found[0]
    if latest is None and n:
        found = read_with_etag(fs, version_path(root, n))
        if found is None:  # pruned since the pointer was read: a newer one is committed
            return read_latest(fs, root)
        latest = found[0]
    return (n, latest) if n else None


def commit_version(fs, root: str, body: bytes | Callable[[bytes | None], bytes]) -> int:
    """Commit `body` as the next version under `root`; its number. `body` may instead be
    a function of the latest body (None before the first commit), called again whenever
    another writer commits first, so that no writer overwrites a change it has not seen.
    Bytes are committed as they are on top of whatever is latest."""
    while True:
        latest = read_latest(fs, root)
        n, previous = latest if latest else (0, None)
        data = body(previous) if callable(body) else body
        if create_if_absent(fs, version_path(root, n + 1), data):
            advance_pointer(fs, root, n + 1)
            return n + 1
        # another writer committed n + 1 first: start again from the version it made


def advance_pointer(fs, root: str, n: int) -> None:
    """Move `_latest` forward to `n`, never back (a later commit may have passed it)."""
    path = pointer_path(root)
    data = json.dumps({"n": n}).encode()
    while True:
        current = read_with_etag(fs, path)
        if current is None:
            if create_if_absent(fs, path, data):
                return
        elif json.loads(current[0])["n"] >= n or replace_if_match(fs, path, data, current[1]):
            return


def prune_versions(fs, root: str, keep: int = 2) -> int:
    """Delete the versions under `root` older than the pointer's last `keep` (each
    version is a whole document: kept, they would grow with the square of the commits);
    how many were deleted. Never the pointer's or a newer one: a reader that read the
    pointer reads that version or a newer one. `keep` 2 leaves the one before too, for a
    reader that read the pointer just before it moved."""
    pointer = read_with_etag(fs, pointer_path(root))
    if pointer is None:
        return 0
    oldest_kept = json.loads(pointer[0])["n"] - keep + 1
    old = [
        path
        for path in fs.ls(join(root, MANIFESTS), detail=False)
        if path.rsplit("/", 1)[1].isdigit() and int(path.rsplit("/", 1)[1]) < oldest_kept
    ]
    if old:
        fs.rm(old)
    return len(old)
