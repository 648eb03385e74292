"""Ingest raw exports into the lake: detect, parse in bounded batches, check, commit.

Per file: the format is detected from content (or forced), batches are parsed into
accepted rows and quarantine rows (`prepare_file`), and the whole file is committed
atomically (`commit_prepared`, see `lake`). Records read must equal accepted +
quarantined, or nothing is committed. A sample of the accepted rows is kept while
parsing; Great Expectations audits the run's sample once, at the end of the run
(`audit`, `pipelines.validate`). Many files are parsed at once, one worker process per
core, and committed in order (`parallel`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from pipelines.db import connect, is_local
from pipelines.errors import UserError
from pipelines.ingest import (
    anthropic_billing,
    content,
    focus,
    lake,
    langfuse,
    native,
    openai_billing,
    otlp,
    parallel,
    redelivery,
)
from pipelines.ingest.audit import FileSample
from pipelines.ingest.detect import detect_format
from pipelines.ingest.lines import line_batches
from pipelines.ingest.pages import page_batches
from pipelines.ingest.records import record_batches
from pipelines.ingest.seen import PassedKeys, SeenRows
from pipelines.ingest.split import Lineage, ParsedBatch, set_plausible_range
from pipelines.names import file_stem
from pipelines.schemas import TABLES
from pipelines.settings import Settings

if TYPE_CHECKING:  # Great Expectations takes seconds to import: only ingests load it
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


@dataclass
class Prepared:
    """A file parsed and staged, not yet committed (see `prepare_file`)."""

    path: Path
    source_format: str
    sha256: str
    staged: lake.StagedFile
    rows_read: int
    now: datetime
    sample: FileSample
    snapshot: frozenset[str]  # the commits in the log when the file was parsed
    passed_keys: dict[str, PassedKeys]  # table → its rule-passing row keys (if asked)


def ingest_file(
    path: Path,
    settings: Settings,
    *,
    source_format: str | None = None,
    quality: DataQuality | None = None,
    now: datetime | None = None,
    again: bool = False,
) -> FileResult:
    """Ingest one file into the lake; a no-op when this exact content was ingested before
    (unless `again`). A file whose content breaks the reader is set aside with the
    reason, never raised: the run goes on with the other files.

    Its sample of accepted rows goes to `quality`, the run's audit (validated when the
    run ends: `DataQuality.build_docs`); without one, it is audited on its own, now."""
    from pipelines.validate import DataQuality, import_gx_in_background

    own_audit = quality is None
    if own_audit:
        quality = DataQuality(settings.gx_dir, settings.data_quality_dir)
    prepared = prepare_file(
        path,
        settings,
        source_format=source_format,
        now=now,
        again=again,
        before_parse=import_gx_in_background,  # its audit will need GX: it loads meanwhile
    )
    if isinstance(prepared, FileResult):
        return prepared
    result = commit_prepared(prepared, settings, quality)
    if own_audit:
        quality.finish(prepared.now)
    return result


def prepare_file(
    path: Path,
    settings: Settings,
    *,
    source_format: str | None = None,
    now: datetime | None = None,
    again: bool = False,
    threads: int | None = None,
    keep_keys: bool = False,
    before_parse: Callable[[], None] | None = None,
) -> Prepared | FileResult:
    """Parse and stage one file (no commit): what a worker process does. Returns the
    FileResult when there is nothing to commit (unchanged, set aside). With `keep_keys`,
    the keys of its rows that pass the rules are kept beside the staged files, so the
    commit can tell whether a file committed meanwhile changes its dedupe (see
    `parallel.stale`). `before_parse` is called once the file is known to need parsing
    (neither unchanged nor unrecognised)."""
    try:
        fmt = source_format or detect_format(path)
    except Exception as error:  # e.g. a gzip stream cut before its first line ends
        if _machine_error(error):
            raise
        return set_aside(path, settings, f"cannot be read: {describe(error)}")
    if fmt is None:
        return set_aside(
            path, settings, "unrecognised content: not a known trace or billing export"
        )
    log = lake.read_log(settings.lake_dir)
    known = not again and lake.logged(log, path)  # only a logged file can be unchanged
    hashing = _content_hash(path, in_background=not known)
    if known and lake.already_ingested(log, path, hashing.result()):
        return FileResult(path, fmt, "unchanged")
    if before_parse:
        before_parse()
    now = now or datetime.now(UTC)
    lineage = Lineage(fmt, lake.source_name(path), now)
    staged = lake.StagedFile(settings.lake_dir, path)
    sample = FileSample(lineage.source_file, staged.key, staged.commit_id, settings.lake_dir)
    rows_read = 0
    con = connect(memory_limit=INGEST_MEMORY_LIMIT)
    writes = BackgroundWrites()
    try:
        if threads:
            con.execute(f"set threads = {int(threads)}")
        set_plausible_range(con, settings.plausible_from, settings.plausible_until)
        passed_dir = staged.stage_dir / "_passed" if keep_keys else None
        seen = SeenRows(con, settings.lake_dir, path, log, passed_dir)
        for batch in FORMATS[fmt].batches(path):
            parsed = FORMATS[fmt].parse(
                con, batch, lineage, keep_content=settings.keep_content, seen=seen
            )
            writes.wait()  # the previous batch's: one batch's rows are pending at most
            for name, rows in parsed.rows.items():
                writes.submit(staged.add, TABLES[name], rows)
                sample.add(con, TABLES[name], rows)
            writes.submit(staged.add_quarantine, _stored_quarantine(parsed.quarantine, settings))
            rows_read += parsed.records_read
        writes.wait()
        _check_conserved(path, rows_read, staged)
        passed_keys = seen.passed()
        sha = hashing.result()
    except Exception as error:
        writes.close()  # no staged file may land after the discard
        staged.discard()
        if _machine_error(error):
            raise
        return set_aside(path, settings, f"cannot be read as {fmt}: {describe(error)}")
    finally:
        writes.close()
        con.close()
    snapshot = frozenset(lake.live_commits(log))
    return Prepared(path, fmt, sha, staged, rows_read, now, sample, snapshot, passed_keys)


class BackgroundWrites:
    """Calls run one after the other in one thread, in the order submitted: a batch's
    rows are written to the stage (Parquet, which releases the GIL) while DuckDB parses
    the next batch. `wait` raises the first error of the calls submitted so far, as the
    call would have raised it; `close` waits for every call (no write lands after it)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="stage")
        self._pending: list[Future] = []

    def submit(self, call: Callable, *args) -> None:
        self._pending.append(self._pool.submit(call, *args))

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _content_hash(path: Path, *, in_background: bool) -> Future[str]:
    """The file's SHA-256, computed now, or `in_background`: in a thread, while the file
    is parsed (hashlib and file reads release the GIL). That is for a file whose hash
    cannot make it "unchanged" (no version of it in the log, or read `again`): the hash
    is then only needed for its commit."""
    if not in_background:
        done: Future[str] = Future()
        done.set_result(lake.file_sha256(path))
        return done
    pool = ThreadPoolExecutor(1, thread_name_prefix="sha256")
    hashing = pool.submit(lake.file_sha256, path)
    pool.shutdown(wait=False)  # the thread ends with its one task
    return hashing


def commit_prepared(prepared: Prepared, settings: Settings, quality: DataQuality) -> FileResult:
    """Publish a prepared file's staged files and log it: the commit point (one process
    at a time: the caller's). Then restore the copies it may have lost (`redelivery`)."""
    staged = prepared.staged
    try:
        staged.publish()
        entry = lake.log_entry(
            staged, prepared.sha256, prepared.source_format, prepared.rows_read, prepared.now
        )
        superseded = lake.commit(settings.lake_dir, entry)
    except Exception:
        staged.discard()
        raise
    lake.retire(settings.lake_dir, superseded)
    quality.add(prepared.sample)
    result = FileResult(
        prepared.path,
        prepared.source_format,
        "ingested",
        prepared.rows_read,
        staged.accepted,
        staged.quarantined,
        tuple(sorted(staged.days)),
    )
    return _restore_copies(result, entry, superseded, settings, quality, prepared.now)


def _restore_copies(result, entry, superseded, settings, quality, now) -> FileResult:
    """When the replaced version held rows the new one does not, ingest again every file
    whose copies of its rows were quarantined as duplicates (see `redelivery`)."""
    if not any(redelivery.lost_rows(settings.lake_dir, old, entry) for old in superseded):
        return result
    notes = []
    for source in redelivery.copy_holders(settings.lake_dir, entry["source_file"]):
        copy = lake.source_path(source)
        if not copy.is_file():
            notes.append(f"{copy} held copies of its rows but is gone: not restored")
            continue
        again = ingest_file(copy, settings, quality=quality, now=now, again=True)
        notes.append(f"{copy} ingested again to restore its copies ({again.status})")
    return replace(result, note="; ".join(notes))


def _machine_error(error: Exception) -> bool:
    """An error of the machine (disk full, permissions, memory: an OSError with an errno),
    not of the file's content, is raised so the caller can retry. Readers raise content
    errors as OSError too (pyarrow's "Couldn't deserialize thrift", gzip's BadGzipFile),
    but without an errno. The object store's client errors (no credentials, no endpoint,
    a connection refused: botocore's) are the machine's too."""
    return (
        isinstance(error, MemoryError)
        or (isinstance(error, OSError) and error.errno is not None)
        or type(error).__module__.startswith(("botocore.", "aiobotocore."))
    )


def describe(error: BaseException) -> str:
    """An exception in one short line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    message = text[0][:300] if text else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _stored_quarantine(rows: pa.Table, settings: Settings) -> pa.Table:
    """Quarantine rows as stored: the raw copy without content (see `content`)."""
    if settings.keep_content or rows.num_rows == 0:
        return rows
    raw = pa.array([content.redact_raw(text) for text in rows["raw"].to_pylist()], pa.string())
    return rows.set_column(rows.schema.get_field_index("raw"), "raw", raw)


def set_aside(path: Path, settings: Settings, reason: str) -> FileResult:
    """Record a file that cannot be parsed at all in `lake/quarantine/_files/`: a
    `<name>.reason.txt` naming it (path, SHA-256, reason), and, with `keep_content`, a copy
    (without it, none: an unreadable file cannot be cleared of prompt content). The input
    is the user's: never moved, changed or deleted, so each run names it until fixed."""
    target_dir = settings.lake_dir / lake.QUARANTINE_DIR / "_files"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{lake.source_key(path)}-{file_stem(path.name, 120)}"
    note = target.with_name(target.name + ".reason.txt")
    note.write_text(f"{lake.source_name(path)}\nsha256 {lake.file_sha256(path)}\n{reason}\n")
    if not settings.keep_content:
        return FileResult(path, None, "set aside", note=f"{reason} (see {note})")
    if is_local(target):  # copied under a temporary name: a copy is whole or absent
        copying = target.with_name(f".{target.name}.tmp")
        lake.copy_file(path, copying)
        copying.replace(target)
    else:  # one PUT on object storage: it appears whole
        lake.copy_file(path, target)
    return FileResult(path, None, "set aside", note=f"{reason} (a copy is in {target})")


def _check_conserved(path: Path, rows_read: int, staged: lake.StagedFile) -> None:
    if rows_read != staged.accepted + staged.quarantined:
        raise IngestError(
            f"{path}: {rows_read} records read but {staged.accepted} accepted + "
            f"{staged.quarantined} quarantined; nothing was written"
        )


def begin_ingest(settings: Settings) -> DataQuality:
    """Remove the leftovers of a killed run; the GX context this run's files share. (GX
    loads in the background once a file is parsed: `ingest_file`, `parallel`.)"""
    from pipelines.validate import DataQuality

    lake.collect_garbage(settings.lake_dir)
    return DataQuality(settings.gx_dir, settings.data_quality_dir)


def ingest_paths(
    paths: Iterable[Path],
    settings: Settings,
    *,
    source_format: str | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    workers: int | None = None,
) -> list[FileResult]:
    """Ingest every raw file under `paths`, in name order (several at once: one worker
    process per core, or `workers`; results as if one after the other, see `parallel`),
    then audit the run's sample and render the Data Docs."""
    quality = begin_ingest(settings)
    files = list(raw_files(paths))
    n_workers = parallel.worker_count(len(files), workers)
    if n_workers > 1:  # GX loads once the workers are forked (see `parallel`)
        results = parallel.ingest_in_parallel(
            files,
            settings,
            quality,
            workers=n_workers,
            source_format=source_format,
            on_file=on_file,
        )
    else:
        results = []
        for path in files:
            result = ingest_file(path, settings, source_format=source_format, quality=quality)
            results.append(result)
            if on_file:
                on_file(result)
    quality.build_docs()
    return results
