"""Read a text file (plain or gzip) as bounded batches of numbered lines."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

LINE_BATCH_BYTES = 32 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024  # DuckDB scans Arrow record batches in parallel: many small ones
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"


def starts_with(path: Path, magic: bytes) -> bool:
    """Whether the file's first bytes are `magic`: content tells the kind, not the name."""
    with open(path, "rb") as probe:
        return probe.read(len(magic)) == magic


def open_text(path: Path):
    """Open plain or gzip-compressed text, telling them apart by magic bytes, not name."""
    if starts_with(path, GZIP_MAGIC):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n")
    return open(path, encoding="utf-8", errors="replace", newline="\n")


def line_batches(path: Path, max_bytes: int | None = None) -> Iterator[pa.Table]:
    """Yield tables (line_no int64 1-based, line string) of at most ~max_bytes text each.

    Blank lines are skipped but keep their numbers counted, so line_no always
    points at the real line of the file.
    """
    max_bytes = max_bytes or LINE_BATCH_BYTES
    numbers: list[int] = []
    lines: list[str] = []
    size = 0
    with open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            numbers.append(line_no)
            lines.append(text)
            size += len(text)
            if size >= max_bytes:
                yield _table(numbers, lines, size)
                numbers, lines, size = [], [], 0
    if lines:
        yield _table(numbers, lines, size)


def _table(numbers: list[int], lines: list[str], size: int) -> pa.Table:
    table = pa.table(
        {"line_no": pa.array(numbers, pa.int64()), "line": pa.array(lines, pa.string())}
    )
    rows_per_chunk = max(1, len(lines) * CHUNK_BYTES // max(size, 1))
    return pa.Table.from_batches(table.to_batches(max_chunksize=rows_per_chunk))
