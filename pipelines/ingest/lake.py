"""Write parsed rows into the lake: day partitions, quarantine, and the ingest log.

A file's rows are staged under `lake/_staging/` and moved into place only when the
whole file parsed; then the log row is written. Output files are named after the
source file (`<source_key>-<batch>-<n>.parquet`), so re-ingesting a changed file
replaces exactly its own rows, and a run killed before its log row is written is
simply redone by the next run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.schemas import INGEST_LOG, Table

LOG_FILE = "_ingest_log.parquet"


def source_key(path: Path) -> str:
    """Stable short id of a source file, used to name everything it writes."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def with_day(rows: pa.Table, table: Table) -> pa.Table:
    """Add the `day` partition column (UTC date of `table.day_from`, as text)."""
    day = pc.strftime(rows[table.day_from], format="%Y-%m-%d")
    return rows.append_column("day", day)


@dataclass
class StagedFile:
    """Everything one source file writes, staged until `commit`."""

    lake_dir: Path
    source: Path
    key: str = field(init=False)
    stage_dir: Path = field(init=False)
    batches: int = 0
    days: set[str] = field(default_factory=set)
    accepted: int = 0
    quarantined: int = 0

    def __post_init__(self) -> None:
        self.key = source_key(self.source)
        self.stage_dir = self.lake_dir / "_staging" / f"{self.key}-{uuid.uuid4().hex[:8]}"

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
            basename_template=f"{self.key}-{self.batches:05d}-{{i}}.parquet",
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
            target = self.stage_dir / "quarantine" / name
            target.mkdir(parents=True, exist_ok=True)
            pq.write_table(part, target / f"{self.key}-{self.batches:05d}-0.parquet")
            self.quarantined += part.num_rows
        self.batches += 1

    def commit(self) -> None:
        """Replace this source's previous files with the staged ones."""
        remove_source_files(self.lake_dir, self.key)
        if self.stage_dir.exists():
            for staged in sorted(self.stage_dir.rglob("*.parquet")):
                target = self.lake_dir / staged.relative_to(self.stage_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
            shutil.rmtree(self.stage_dir)

    def discard(self) -> None:
        shutil.rmtree(self.stage_dir, ignore_errors=True)


def remove_source_files(lake_dir: Path, key: str) -> None:
    for old in lake_dir.glob(f"*/**/{key}-*.parquet"):
        if "_staging" not in old.parts:
            old.unlink()


def read_log(lake_dir: Path) -> pa.Table:
    path = lake_dir / LOG_FILE
    return pq.read_table(path) if path.exists() else INGEST_LOG.empty()


def already_ingested(log: pa.Table, source: Path, sha256: str) -> bool:
    """True when this exact content of this file is in the log."""
    same_file = pc.equal(log["source_file"], str(source.resolve()))
    same_content = pc.equal(log["content_sha256"], sha256)
    return bool(pc.any(pc.and_(same_file, same_content)).as_py())


def append_log(lake_dir: Path, entry: dict) -> None:
    """Append one row to the ingest log (rewritten atomically)."""
    log = read_log(lake_dir)
    # A new version of a file supersedes the old one's entry.
    log = log.filter(pc.not_equal(log["source_file"], entry["source_file"]))
    row = pa.Table.from_pylist([entry], schema=INGEST_LOG.arrow_schema)
    lake_dir.mkdir(parents=True, exist_ok=True)
    tmp = lake_dir / f".{LOG_FILE}.{uuid.uuid4().hex[:8]}"
    pq.write_table(pa.concat_tables([log, row]), tmp)
    os.replace(tmp, lake_dir / LOG_FILE)


def log_entry(staged: StagedFile, sha256: str, source_format: str, rows_read: int, at: datetime):
    return {
        "source_file": str(staged.source.resolve()),
        "content_sha256": sha256,
        "source_format": source_format,
        "rows_read": rows_read,
        "rows_accepted": staged.accepted,
        "rows_quarantined": staged.quarantined,
        "days": sorted(staged.days),
        "ingested_at": at,
    }
