"""Ingest raw exports into the lake: detect, parse in bounded batches, check, commit.

Per file: the format is detected from content (or forced), batches are parsed into
accepted rows and quarantine rows, each batch's accepted rows are audited by the
table's Great Expectations suite, and the whole file is committed atomically (see
`lake`). Records read must equal accepted + quarantined, or nothing is committed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from pipelines.db import connect
from pipelines.errors import UserError
from pipelines.ingest import (
    anthropic_billing,
    focus,
    lake,
    langfuse,
    native,
    openai_billing,
    otlp,
)
from pipelines.ingest.detect import detect_format
from pipelines.ingest.lines import line_batches
from pipelines.ingest.pages import UnreadablePage, page_batches
from pipelines.ingest.records import record_batches
from pipelines.ingest.seen import SeenRows
from pipelines.ingest.split import Lineage, ParsedBatch
from pipelines.schemas import TABLES
from pipelines.settings import Settings
from pipelines.validate import DataQuality

RAW_SUFFIXES = {".json", ".jsonl", ".gz", ".csv", ".parquet", ".ndjson"}
INGEST_MEMORY_LIMIT = "1GB"  # DuckDB's share; batches are bounded, so this holds for any file


@dataclass(frozen=True)
class Format:
    name: str
    batches: Callable[[Path], Iterator[pa.Table]]
    parse: Callable[..., ParsedBatch]  # (con, batch, lineage, *, keep_content, seen)


FORMATS = {
    f.name: f
    for f in (
        Format(otlp.FORMAT, line_batches, otlp.parse_batch),
        *(Format(name, record_batches, parse) for name, parse in langfuse.PARSERS.items()),
        *(Format(name, record_batches, parse) for name, parse in native.PARSERS.items()),
        *(Format(name, page_batches, parse) for name, parse in openai_billing.PARSERS.items()),
        *(Format(name, page_batches, parse) for name, parse in anthropic_billing.PARSERS.items()),
        *(Format(name, record_batches, parse) for name, parse in focus.PARSERS.items()),
    )
}


class IngestError(UserError):
    """A file could not be ingested; the message says which and why."""


@dataclass(frozen=True)
class FileResult:
    path: Path
    source_format: str | None
    status: str  # ingested | unchanged | set aside
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
    path: Path,
    settings: Settings,
    *,
    source_format: str | None = None,
    quality: DataQuality | None = None,
    now: datetime | None = None,
) -> FileResult:
    """Ingest one file into the lake; a no-op when this exact content was ingested before."""
    fmt = source_format or detect_format(path)
    if fmt is None:
        return set_aside(
            path, settings, "unrecognised content: not a known trace or billing export"
        )
    sha = lake.file_sha256(path)
    log = lake.read_log(settings.lake_dir)
    if lake.already_ingested(log, path, sha):
        return FileResult(path, fmt, "unchanged")
    now = now or datetime.now(UTC)
    lineage = Lineage(fmt, str(path.resolve()), now)
    staged = lake.StagedFile(settings.lake_dir, path)
    quality = quality or DataQuality(settings.gx_dir, settings.data_quality_dir)
    rows_read = 0
    con = connect(memory_limit=INGEST_MEMORY_LIMIT)
    try:
        seen = SeenRows(con, settings.lake_dir, path, log)
        audit = {
            "source_file": lineage.source_file,
            "run_name": f"{path.name}-{staged.commit_id}",
            "at": now,
        }
        for batch in FORMATS[fmt].batches(path):
            parsed = FORMATS[fmt].parse(
                con, batch, lineage, keep_content=settings.keep_content, seen=seen
            )
            for name, rows in parsed.rows.items():
                staged.add(TABLES[name], rows)
                quality.audit(TABLES[name], rows)
            staged.add_data_quality(quality.validate_pending(final=False, **audit))
            staged.add_quarantine(parsed.quarantine)
            rows_read += parsed.records_read
        staged.add_data_quality(quality.validate_pending(final=True, **audit))
        _check_conserved(path, rows_read, staged)
        staged.publish()
        superseded = lake.commit(
            settings.lake_dir, lake.log_entry(staged, sha, fmt, rows_read, now)
        )
    except (pa.ArrowException, UnreadablePage) as error:  # the container itself is unreadable
        staged.discard()
        return set_aside(path, settings, f"cannot be read as {fmt}: {error}")
    except Exception:
        staged.discard()
        raise
    finally:
        con.close()
    for entry in superseded:
        lake.remove_version(settings.lake_dir, entry)
    return FileResult(
        path,
        fmt,
        "ingested",
        rows_read,
        staged.accepted,
        staged.quarantined,
        tuple(sorted(staged.days)),
    )


def set_aside(path: Path, settings: Settings, reason: str) -> FileResult:
    """Copy a file that cannot be parsed at all to `lake/quarantine/_files/`, with the
    reason beside it (`<name>.reason.txt`). The input is the user's: it is never moved,
    changed or deleted, so each run says again that it is set aside until it is fixed."""
    target_dir = settings.lake_dir / lake.QUARANTINE_DIR / "_files"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{lake.source_key(path)}-{path.name}"
    target.with_name(target.name + ".reason.txt").write_text(f"{path.resolve()}\n{reason}\n")
    copying = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(path, copying)
    copying.replace(target)
    return FileResult(path, None, "set aside", note=f"{reason} (a copy is in {target})")


def _check_conserved(path: Path, rows_read: int, staged: lake.StagedFile) -> None:
    if rows_read != staged.accepted + staged.quarantined:
        raise IngestError(
            f"{path}: {rows_read} records read but {staged.accepted} accepted + "
            f"{staged.quarantined} quarantined; nothing was written"
        )


def begin_ingest(settings: Settings) -> DataQuality:
    """Remove the leftovers of a killed run; the GX context this run's files share."""
    lake.collect_garbage(settings.lake_dir)
    return DataQuality(settings.gx_dir, settings.data_quality_dir)


def ingest_paths(
    paths: Iterable[Path],
    settings: Settings,
    *,
    source_format: str | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Ingest every raw file under `paths`, in name order, then render the Data Docs."""
    quality = begin_ingest(settings)
    results = []
    for path in raw_files(paths):
        result = ingest_file(path, settings, source_format=source_format, quality=quality)
        results.append(result)
        if on_file:
            on_file(result)
    quality.build_docs()
    return results
