"""Ingest raw exports into the lake: detect, parse in bounded batches, stage, commit, log."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipelines.db import connect
from pipelines.ingest import lake, otlp
from pipelines.ingest.detect import detect_format
from pipelines.ingest.lines import line_batches
from pipelines.schemas import EVALUATIONS, SPANS
from pipelines.settings import Settings

PARSERS = {otlp.FORMAT: otlp.parse_batch}
RAW_SUFFIXES = {".json", ".jsonl", ".gz", ".csv", ".parquet", ".ndjson"}


class IngestError(Exception):
    """A file could not be ingested; the message says which and why."""


@dataclass(frozen=True)
class FileResult:
    path: Path
    source_format: str | None
    status: str  # ingested | unchanged | skipped
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    days: tuple[str, ...] = ()
    note: str = ""


def raw_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named directly, and the raw-looking files under named folders, sorted."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix in RAW_SUFFIXES
            )
        elif path.is_file():
            yield path
        else:
            raise IngestError(f"{path}: no such file or folder")


def ingest_file(
    path: Path, settings: Settings, *, source_format: str | None = None, now: datetime | None = None
) -> FileResult:
    """Ingest one file into the lake; a no-op when this exact content was ingested before."""
    fmt = source_format or detect_format(path)
    if fmt not in PARSERS:
        why = "unrecognised content" if fmt is None else f"no parser for {fmt} yet"
        return FileResult(path, fmt, "skipped", note=why)
    sha = lake.file_sha256(path)
    if lake.already_ingested(lake.read_log(settings.lake_dir), path, sha):
        return FileResult(path, fmt, "unchanged")
    now = now or datetime.now(UTC)
    staged = lake.StagedFile(settings.lake_dir, path)
    rows_read = 0
    con = connect(memory_limit=settings.duckdb_memory_limit)
    try:
        for batch in line_batches(path):
            parsed = PARSERS[fmt](
                con,
                batch,
                source_file=str(path.resolve()),
                ingested_at=now,
                keep_content=settings.keep_content,
            )
            staged.add(SPANS, parsed.spans)
            staged.add(EVALUATIONS, parsed.evaluations)
            staged.add_quarantine(parsed.quarantine)
            rows_read += parsed.records_read
        _check_conserved(path, rows_read, staged)
        staged.commit()
    except Exception:
        staged.discard()
        raise
    finally:
        con.close()
    lake.append_log(settings.lake_dir, lake.log_entry(staged, sha, fmt, rows_read, now))
    return FileResult(
        path,
        fmt,
        "ingested",
        rows_read,
        staged.accepted,
        staged.quarantined,
        tuple(sorted(staged.days)),
    )


def _check_conserved(path: Path, rows_read: int, staged: lake.StagedFile) -> None:
    if rows_read != staged.accepted + staged.quarantined:
        raise IngestError(
            f"{path}: {rows_read} records read but {staged.accepted} accepted + "
            f"{staged.quarantined} quarantined; nothing was written"
        )


def ingest_paths(
    paths: Iterable[Path],
    settings: Settings,
    *,
    source_format: str | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Ingest every raw file under `paths`, in name order."""
    results = []
    for path in raw_files(paths):
        result = ingest_file(path, settings, source_format=source_format)
        results.append(result)
        if on_file:
            on_file(result)
    return results
