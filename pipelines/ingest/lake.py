"""Write parsed rows into the lake, atomically per source file.

The ingest log (`_ingest_log.parquet`) is the lake's manifest. Every file a source
version writes is named `<source_key>-<commit_id>-<batch>-<n>.parquet`, and a file is
part of the lake only when its commit id is in the log. So an ingest:
1. stages its files under `lake/_staging/` while it parses,
2. moves them into their partitions (still invisible: their commit is not logged),
3. rewrites the log with its row in one `os.replace` — the single commit point,
4. retires the version it replaced (`retire`): its files stay, out of the lake, until the
   next warehouse build has swapped in (`release_retired`), so an analyst's open
   connection to the old warehouse still reads what its views point at.
A process killed at any moment leaves the lake as before (step 3 not reached) or as
after; `collect_garbage` removes the leftovers, and the rerun redoes an unlogged file.
One writer at a time (the data dir's lock, `pipelines.lock`); readers never see a
partial file.

On object storage (a data dir `s3://bucket/prefix`, a UPath): the same steps, through
fsspec (pyarrow writes through `filesystem=`). S3 has no rename, so:
- steps 1 and 2 are one: the files are written straight to their partitions (a file is
  invisible until the log names its commit), which saves a copy and a delete per file;
  until then `StagedFile.discard` deletes them, after it `collect_garbage` (a commit
  that raised may still have landed);
- step 3, the commit, is `objectstore.commit_version`: the log is a numbered, never
  changed object `lake/_ingest_log/_manifests/<n>` created with If-None-Match, the next
  version computed from the latest one (a concurrent commit is never lost: the change is
  applied again on top of it), and `read_log` reads the latest (`objectstore.read_latest`).
  `_retired.json` is committed the same way, under `lake/_retired/`; versions older
  than the latest two are deleted by `collect_garbage` (`objectstore.prune_versions`);
- other small files (a set-aside reason, an audit's Parquet) are written by one PUT,
  which appears whole, so they need no temporary name.
Local paths take the code they always took (one `os.replace`): which way a path goes is
decided by `db.is_local`, an isinstance, and s3fs is imported only for a path on S3.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.db import is_local, object_store_fs
from pipelines.ingest.lines import open_bytes
from pipelines.schemas import DATA_QUALITY, INGEST_LOG, LAKE_TABLES, QUARANTINE, Table
from pipelines.settings import location

LOG_FILE = "_ingest_log.parquet"
RETIRED_FILE = "_retired.json"  # versions replaced since the last build (kept until it)
STAGING = "_staging"
QUARANTINE_DIR = "quarantine"
DATA_QUALITY_DIR = "_data_quality"


# --- where files live: the local disk, or object storage through fsspec ---------------


def arrow_location(path) -> tuple[str, object]:
    """(path, filesystem) for pyarrow's readers and writers: the local path as it is
    (filesystem None: pyarrow's own, as before), or the fsspec path and filesystem."""
    if is_local(path):
        return str(path), None
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    return path.path, PyFileSystem(FSSpecHandler(object_store_fs(path)))


def write_parquet(rows: pa.Table, path: Path) -> None:
    """Write one Parquet file (on S3 one PUT: it appears whole)."""
    where, filesystem = arrow_location(path)
    pq.write_table(rows, where, filesystem=filesystem)


def write_parquet_atomically(rows: pa.Table, path: Path) -> None:
    """Write one Parquet file that readers see whole or not at all: locally under a
    temporary name, then renamed; on S3 a PUT is that already."""
    if not is_local(path):
        write_parquet(rows, path)
        return
    writing = path.with_name(f".{path.name}.tmp")
    pq.write_table(rows, writing)
    os.replace(writing, path)


def copy_file(source: Path, target: Path) -> None:
    """Copy a file, from and to either the local disk or object storage."""
    if is_local(source) and is_local(target):
        shutil.copyfile(source, target)
        return
    with open_bytes(source) as reading, _open_to_write(target) as writing:
        shutil.copyfileobj(reading, writing, 1 << 20)


def _open_to_write(path: Path):
    """Open a file for writing bytes, on the local disk or object storage."""
    return open(path, "wb") if is_local(path) else object_store_fs(path).open(path.path, "wb")


def remove_tree(folder: Path) -> None:
    """Delete a folder and everything under it, if it exists."""
    if is_local(folder):
        shutil.rmtree(folder, ignore_errors=True)
        return
    with contextlib.suppress(FileNotFoundError):
        object_store_fs(folder).rm(folder.path, recursive=True)


# --- source files ------------------------------------------------------------------------


def source_name(path: Path) -> str:
    """How a source file is named in the log and the lake: its absolute path, or its URL
    on object storage (a UPath's `resolve` is the URL itself)."""
    return str(path.resolve())


def source_path(name: str) -> Path:
    """The source file a logged name (`source_name`) names: a UPath for a URL."""
    return location(name)


def key_of(name: str) -> str:
    """Stable short id of a source file, from its logged name (`source_name`)."""
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def source_key(path: Path) -> str:
    """Stable short id of a source file, used to name everything it writes."""
    return key_of(source_name(path))


def commit_of(parquet_file: Path) -> str | None:
    """The commit id in a lake file's name, or None for a file fleetledger did not write."""
    parts = parquet_file.name.split("-")
    return parts[1] if len(parts) >= 4 else None


def partition_day(parquet_file: Path) -> date:
    """The day of the `day=YYYY-MM-DD` folder a partitioned Parquet file sits in."""
    return date.fromisoformat(parquet_file.parent.name.removeprefix("day="))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open_bytes(path) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def with_day(rows: pa.Table, table: Table) -> pa.Table:
    """Add the `day` partition column (UTC date of `table.day_from`, as text). Timestamps
    are UTC (`schemas.TIMESTAMP`), so a cast to date is their UTC date, and a date's text
    is YYYY-MM-DD: 3× cheaper than `strftime`."""
    day = pc.cast(pc.cast(rows[table.day_from], pa.date32()), pa.string())
    return rows.append_column("day", day)


def table_dir(lake_dir: Path, table: Table) -> Path:
    if table is QUARANTINE:
        return lake_dir / QUARANTINE_DIR
    if table is DATA_QUALITY:
        return lake_dir / DATA_QUALITY_DIR
    return lake_dir / table.name


@dataclass
class StagedFile:
    """Everything one version of one source file writes, kept out of the lake until
    published and logged (staged locally; on S3 at their names, see the module doc)."""

    lake_dir: Path
    source: Path
    key: str = field(init=False)
    commit_id: str = field(init=False)
    stage_dir: Path = field(init=False)
    batches: int = 0
    days: set[str] = field(default_factory=set)
    accepted: int = 0
    quarantined: int = 0
    written: list[str] = field(default_factory=list)  # on S3: files at their lake names
    published: bool = False

    def __post_init__(self) -> None:
        self.key = source_key(self.source)
        self.commit_id = uuid.uuid4().hex[:12]
        self.stage_dir = self.lake_dir / STAGING / f"{self.key}-{self.commit_id}"

    def _name(self) -> str:
        return f"{self.key}-{self.commit_id}-{self.batches:05d}"

    def _files_dir(self) -> Path:
        """Where the files go as they are written: the stage (moved into the lake by
        `publish`), or on S3, which has no rename, the lake itself (see the module doc)."""
        return self.stage_dir if is_local(self.lake_dir) else self.lake_dir

    def _wrote(self, path: str) -> None:
        """Note a file written at its lake name (on S3), for `discard`."""
        if not is_local(self.lake_dir):
            self.written.append(path)

    def add(self, table: Table, rows: pa.Table) -> None:
        """Stage accepted rows of a canonical table, partitioned by day."""
        if rows.num_rows == 0:
            return
        rows = with_day(rows, table)
        self.days.update(pc.unique(rows["day"]).to_pylist())
        base_dir, filesystem = arrow_location(self._files_dir() / table.name)
        ds.write_dataset(
            rows,
            base_dir,
            filesystem=filesystem,
            format="parquet",
            partitioning=ds.partitioning(pa.schema([("day", pa.string())]), flavor="hive"),
            basename_template=self._name() + "-{i}.parquet",
            existing_data_behavior="overwrite_or_ignore",
            file_visitor=lambda written: self._wrote(written.path),
        )
        self.accepted += rows.num_rows
        self.batches += 1

    def add_quarantine(self, rows: pa.Table) -> None:
        """Stage rejected records, one folder per intended table."""
        if rows.num_rows == 0:
            return
        for name in pc.unique(rows["table_name"]).to_pylist():
            part = rows.filter(pc.equal(rows["table_name"], name))
            self._write(Path(QUARANTINE_DIR) / name, part)
            self.quarantined += part.num_rows

    def add_data_quality(self, rows: pa.Table) -> None:
        if rows.num_rows:
            self._write(Path(DATA_QUALITY_DIR), rows)

    def _write(self, folder: Path, rows: pa.Table) -> None:
        target = self._files_dir() / folder
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{self._name()}-0.parquet"
        write_parquet(rows, path)
        self._wrote(arrow_location(path)[0])
        self.batches += 1

    def publish(self) -> None:
        """Move the staged files into the lake (on S3 they are there already); invisible
        until the log names the commit."""
        if is_local(self.stage_dir) and self.stage_dir.exists():
            for staged in sorted(self.stage_dir.rglob("*.parquet")):
                target = self.lake_dir / staged.relative_to(self.stage_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
        self.published = True
        self.discard()

    def discard(self) -> None:
        """Remove the stage and, until published, the files written for it. Once
        published they are the lake's: a commit that raised may have landed, so files of
        a commit the log does not name are left to `collect_garbage`."""
        if self.written and not self.published:
            object_store_fs(self.lake_dir).rm(self.written)
            self.written = []
        remove_tree(self.stage_dir)
        if is_local(self.stage_dir):  # object storage has no empty folders to remove
            with contextlib.suppress(OSError):  # another stage still in progress: leave it
                self.stage_dir.parent.rmdir()


# --- the log and the retired list: small documents committed whole ----------------------


def _versions_root(lake_dir: Path, name: str) -> str:
    """Where a document's versions live on object storage: `lake/_ingest_log` for
    `_ingest_log.parquet` (no suffix: it is no Parquet file for a glob to find)."""
    return str(lake_dir / name.split(".")[0])


def read_document(lake_dir: Path, name: str) -> bytes | None:
    """The committed body of the lake's document `name` (the log, the retired list), or
    None before its first commit."""
    if is_local(lake_dir):
        try:
            return (lake_dir / name).read_bytes()
        except FileNotFoundError:
            return None
    from pipelines.objectstore import read_latest

    latest = read_latest(object_store_fs(lake_dir), _versions_root(lake_dir, name))
    return latest[1] if latest else None


def commit_document(lake_dir: Path, name: str, change: Callable[[bytes | None], bytes]) -> None:
    """Replace the document `name` with `change(its current body)`, atomically: locally
    a temporary file and one `os.replace` (the writer holds the data dir's lock); on S3 a
    new version (`objectstore.commit_version`, which calls `change` again on top of a
    version another writer committed first)."""
    if not is_local(lake_dir):
        from pipelines.objectstore import check_held, commit_version

        def checked_change(body: bytes | None) -> bytes:
            check_held(lake_dir)  # right before each attempt's PUT: still the lock's holder
            return change(body)

        commit_version(object_store_fs(lake_dir), _versions_root(lake_dir, name), checked_change)
        return
    lake_dir.mkdir(parents=True, exist_ok=True)
    data = change(read_document(lake_dir, name))
    tmp = lake_dir / f".{name}.{uuid.uuid4().hex[:8]}"
    tmp.write_bytes(data)
    os.replace(tmp, lake_dir / name)


def _log_table(body: bytes | None) -> pa.Table:
    if body is None:
        return INGEST_LOG.empty()
    return pq.read_table(pa.BufferReader(body), schema=INGEST_LOG.arrow_schema)


def _parquet_bytes(rows: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(rows, sink)
    return sink.getvalue().to_pybytes()


def read_log(lake_dir: Path) -> pa.Table:
    return _log_table(read_document(lake_dir, LOG_FILE))


def live_commits(log: pa.Table) -> set[str]:
    return set(log["commit_id"].to_pylist())


def _of_file(log: pa.Table, source: Path) -> pa.ChunkedArray:
    """Which log entries are versions of this file."""
    return pc.equal(log["source_file"], source_name(source))


def logged(log: pa.Table, source: Path) -> bool:
    """True when a version of this file (any content) is in the log."""
    return bool(pc.any(_of_file(log, source)).as_py())


def already_ingested(log: pa.Table, source: Path, sha256: str) -> bool:
    """True when this exact content of this file is in the log."""
    same_content = pc.equal(log["content_sha256"], sha256)
    return bool(pc.any(pc.and_(_of_file(log, source), same_content)).as_py())


def commit(lake_dir: Path, entry: dict) -> list[dict]:
    """Log one file version, superseding the file's previous entry: the commit point.
    Returns the superseded entries, whose files are no longer part of the lake."""
    superseded: list[dict] = []
    row = pa.Table.from_pylist([entry], schema=INGEST_LOG.arrow_schema)

    def with_entry(body: bytes | None) -> bytes:
        log = _log_table(body)
        same_file = pc.equal(log["source_file"], entry["source_file"])
        superseded[:] = log.filter(same_file).to_pylist()  # of the version committed on
        return _parquet_bytes(pa.concat_tables([log.filter(pc.invert(same_file)), row]))

    commit_document(lake_dir, LOG_FILE, with_entry)
    return superseded


def version_files(
    lake_dir: Path,
    entry: dict,
    tables: Iterable[Table] = LAKE_TABLES,
    *,
    among_days: frozenset[str] | None = None,
):
    """The files one file version wrote to `tables`, looking only where it wrote: its day
    partitions, or those `among_days` (the quarantine and audit folders too, when
    asked), never the whole lake."""
    prefix = f"{key_of(entry['source_file'])}-{entry['commit_id']}-"
    days = [d for d in entry["days"] or [] if among_days is None or d in among_days]
    folders = []
    for table in tables:
        if table is QUARANTINE:
            folders += [p for p in (lake_dir / QUARANTINE_DIR).glob("*") if p.is_dir()]
        elif table is DATA_QUALITY:
            folders.append(lake_dir / DATA_QUALITY_DIR)
        else:
            folders += [lake_dir / table.name / f"day={day}" for day in days]
    return [path for folder in folders for path in sorted(folder.glob(f"{prefix}*.parquet"))]


def remove_version(lake_dir: Path, entry: dict) -> None:
    """Delete every file of a superseded file version."""
    for path in version_files(lake_dir, entry, (*LAKE_TABLES, QUARANTINE, DATA_QUALITY)):
        path.unlink(missing_ok=True)


def retired(lake_dir: Path) -> list[dict]:
    """Replaced versions whose files are kept until the next build (see the module doc)."""
    return _retired_list(read_document(lake_dir, RETIRED_FILE))


def _retired_list(body: bytes | None) -> list[dict]:
    """The retired list in a committed body (none before its first commit)."""
    return json.loads(body) if body else []


def _json_bytes(value: object) -> bytes:
    return json.dumps(value).encode()


def retire(lake_dir: Path, entries: list[dict]) -> None:
    """Keep the files of replaced versions until the next build has swapped in."""
    if not entries:
        return
    kept = [{"source_file": e["source_file"], "commit_id": e["commit_id"],
             "days": list(e["days"] or [])} for e in entries]  # fmt: skip
    commit_document(lake_dir, RETIRED_FILE, lambda body: _json_bytes(_retired_list(body) + kept))


def release_retired(lake_dir: Path) -> int:
    """Delete the files of every retired version (the warehouse no longer reads them)."""
    entries = retired(lake_dir)
    for entry in entries:
        remove_version(lake_dir, entry)
    if is_local(lake_dir):
        (lake_dir / RETIRED_FILE).unlink(missing_ok=True)
    elif entries:  # only those released: a version retired meanwhile stays listed
        released = {e["commit_id"] for e in entries}
        commit_document(
            lake_dir,
            RETIRED_FILE,
            lambda body: _json_bytes(
                [e for e in _retired_list(body) if e["commit_id"] not in released]
            ),
        )
    return len(entries)


def _lake_parquet_files(lake_dir: Path) -> Iterable[Path]:
    for path in lake_dir.rglob("*.parquet"):
        if path.name != LOG_FILE and STAGING not in path.relative_to(lake_dir).parts:
            yield path


def collect_garbage(lake_dir: Path) -> int:
    """Delete staging leftovers and files of commits neither the log nor the retired
    list names."""
    remove_tree(lake_dir / STAGING)
    if is_local(lake_dir):  # temporary names exist only where a rename commits
        for tmp in [*lake_dir.glob(f".{LOG_FILE}.*"), *lake_dir.glob(f".{RETIRED_FILE}.*")]:
            tmp.unlink()
    else:  # versions of the log and the retired list that no reader can still want
        from pipelines.objectstore import prune_versions

        for name in (LOG_FILE, RETIRED_FILE):
            prune_versions(object_store_fs(lake_dir), _versions_root(lake_dir, name))
    live = live_commits(read_log(lake_dir)) | {e["commit_id"] for e in retired(lake_dir)}
    removed = 0
    for path in _lake_parquet_files(lake_dir):
        if commit_of(path) not in live:
            path.unlink()
            removed += 1
    return removed


def live_files(lake_dir: Path, table: Table, *, log: pa.Table | None = None) -> list[Path]:
    """The Parquet files that make up a lake table now (only logged commits)."""
    live = live_commits(read_log(lake_dir) if log is None else log)
    folder = table_dir(lake_dir, table)
    return sorted(p for p in folder.rglob("*.parquet") if commit_of(p) in live)


def log_entry(staged: StagedFile, sha256: str, source_format: str, rows_read: int, at: datetime):
    return {
        "source_file": source_name(staged.source),
        "content_sha256": sha256,
        "source_format": source_format,
        "commit_id": staged.commit_id,
        "rows_read": rows_read,
        "rows_accepted": staged.accepted,
        "rows_quarantined": staged.quarantined,
        "days": sorted(staged.days),
        "ingested_at": at,
    }
