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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.schemas import DATA_QUALITY, INGEST_LOG, LAKE_TABLES, QUARANTINE, Table

LOG_FILE = "_ingest_log.parquet"
RETIRED_FILE = "_retired.json"  # versions replaced since the last build (kept until it)
STAGING = "_staging"
QUARANTINE_DIR = "quarantine"
DATA_QUALITY_DIR = "_data_quality"


def source_key(path: Path) -> str:
    """Stable short id of a source file, used to name everything it writes."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]


def commit_of(parquet_file: Path) -> str | None:
    """The commit id in a lake file's name, or None for a file fleetledger did not write."""
    parts = parquet_file.name.split("-")
    return parts[1] if len(parts) >= 4 else None


def partition_day(parquet_file: Path) -> date:
    """The day of the `day=YYYY-MM-DD` folder a partitioned Parquet file sits in."""
    return date.fromisoformat(parquet_file.parent.name.removeprefix("day="))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
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
    """Everything one version of one source file writes, staged until published."""

    lake_dir: Path
    source: Path
    key: str = field(init=False)
    commit_id: str = field(init=False)
    stage_dir: Path = field(init=False)
    batches: int = 0
    days: set[str] = field(default_factory=set)
    accepted: int = 0
    quarantined: int = 0

    def __post_init__(self) -> None:
        self.key = source_key(self.source)
        self.commit_id = uuid.uuid4().hex[:12]
        self.stage_dir = self.lake_dir / STAGING / f"{self.key}-{self.commit_id}"

    def _name(self) -> str:
        return f"{self.key}-{self.commit_id}-{self.batches:05d}"

    def add(self, table: Table, rows: pa.Table) -> None:
        """Stage accepted rows of a canonical table, partitioned by day."""
        if rows.num_rows == 0:
            return
        rows = with_day(rows, table)
        self.days.update(pc.unique(rows["day"]).to_pylist())
        ds.write_dataset(
            rows,
            self.stage_dir / table.name,
            format="parquet",
            partitioning=ds.partitioning(pa.schema([("day", pa.string())]), flavor="hive"),
            basename_template=self._name() + "-{i}.parquet",
            existing_data_behavior="overwrite_or_ignore",
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
        target = self.stage_dir / folder
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows, target / f"{self._name()}-0.parquet")
        self.batches += 1

    def publish(self) -> None:
        """Move the staged files into the lake; invisible until the log names the commit."""
        if self.stage_dir.exists():
            for staged in sorted(self.stage_dir.rglob("*.parquet")):
                target = self.lake_dir / staged.relative_to(self.stage_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.stage_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # another stage still in progress: leave it
            self.stage_dir.parent.rmdir()


def read_log(lake_dir: Path) -> pa.Table:
    path = lake_dir / LOG_FILE
    return (
        pq.read_table(path, schema=INGEST_LOG.arrow_schema)
        if path.exists()
        else (INGEST_LOG.empty())
    )


def live_commits(log: pa.Table) -> set[str]:
    return set(log["commit_id"].to_pylist())


def _of_file(log: pa.Table, source: Path) -> pa.ChunkedArray:
    """Which log entries are versions of this file."""
    return pc.equal(log["source_file"], str(source.resolve()))


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
    log = read_log(lake_dir)
    same_file = pc.equal(log["source_file"], entry["source_file"])
    superseded = log.filter(same_file).to_pylist()
    log = log.filter(pc.invert(same_file))
    row = pa.Table.from_pylist([entry], schema=INGEST_LOG.arrow_schema)
    lake_dir.mkdir(parents=True, exist_ok=True)
    tmp = lake_dir / f".{LOG_FILE}.{uuid.uuid4().hex[:8]}"
    pq.write_table(pa.concat_tables([log, row]), tmp)
    os.replace(tmp, lake_dir / LOG_FILE)
    return superseded


def version_files(lake_dir: Path, entry: dict, tables: Iterable[Table] = LAKE_TABLES):
    """The files one file version wrote to `tables`, looking only where it wrote: its day
    partitions (the quarantine and audit folders too, when asked), never the whole lake."""
    prefix = f"{source_key(Path(entry['source_file']))}-{entry['commit_id']}-"
    days = entry["days"] or []
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
    path = lake_dir / RETIRED_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def retire(lake_dir: Path, entries: list[dict]) -> None:
    """Keep the files of replaced versions until the next build has swapped in."""
    if not entries:
        return
    kept = [{"source_file": e["source_file"], "commit_id": e["commit_id"],
             "days": list(e["days"] or [])} for e in entries]  # fmt: skip
    _write_json(lake_dir / RETIRED_FILE, retired(lake_dir) + kept)


def release_retired(lake_dir: Path) -> int:
    """Delete the files of every retired version (the warehouse no longer reads them)."""
    entries = retired(lake_dir)
    for entry in entries:
        remove_version(lake_dir, entry)
    (lake_dir / RETIRED_FILE).unlink(missing_ok=True)
    return len(entries)


def _write_json(path: Path, value: object) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    os.replace(tmp, path)


def _lake_parquet_files(lake_dir: Path) -> Iterable[Path]:
    for path in lake_dir.rglob("*.parquet"):
        if path.name != LOG_FILE and STAGING not in path.relative_to(lake_dir).parts:
            yield path


def collect_garbage(lake_dir: Path) -> int:
    """Delete staging leftovers and files of commits neither the log nor the retired
    list names."""
    shutil.rmtree(lake_dir / STAGING, ignore_errors=True)
    for tmp in [*lake_dir.glob(f".{LOG_FILE}.*"), *lake_dir.glob(f".{RETIRED_FILE}.*")]:
        tmp.unlink()
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
        "source_file": str(staged.source.resolve()),
        "content_sha256": sha256,
        "source_format": source_format,
        "commit_id": staged.commit_id,
        "rows_read": rows_read,
        "rows_accepted": staged.accepted,
        "rows_quarantined": staged.quarantined,
        "days": sorted(staged.days),
        "ingested_at": at,
    }
