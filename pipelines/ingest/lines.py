"""Read a raw file's bytes (plain or gzip) as bounded batches of numbered lines.

Bytes are read, not text, so one bad byte costs one line, never the file:
- a UTF-8 byte order mark at the start of the file is dropped;
- a line ends at LF, CRLF or a lone CR (old Mac), and `line_no` counts those lines;
- a line that is not valid UTF-8 is kept, its bad bytes as U+FFFD, with a `problem`
  naming the first bad byte and its column;
- a gzip stream that is cut short ends the file early: what was read before the cut is
  kept, and the cut is one more line with its `problem` (the partial line it cut, if
  any, as its text). A corrupt one (`CorruptGzip`) sets the file aside.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.db import is_local, object_store_fs

LINE_BATCH_BYTES = 32 * 1024 * 1024
# Lines are read in blocks of about this size, one Arrow record batch each: DuckDB scans
# record batches in parallel, so many small ones.
CHUNK_BYTES = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
BOM = b"\xef\xbb\xbf"
LF, CR = ord("\n"), ord("\r")
TRUNCATED = "file ends early: truncated gzip stream"
LINES_SCHEMA = pa.schema([("line_no", pa.int64()), ("line", pa.string()), ("problem", pa.string())])


def open_bytes(path: Path, block_size: int | None = None):
    """Open a raw file for reading bytes: a local path with `open`, as always; a UPath on
    object storage through its fsspec filesystem, streamed (never downloaded whole) a
    block a request: s3fs's 50 MiB, or `block_size` for a read of a file's first bytes
    (`starts_with`, `head_text`), which would otherwise fetch 50 MiB to read 4 bytes."""
    if is_local(path):
        return open(path, "rb")
    return object_store_fs(path).open(path.path, "rb", block_size=block_size)


def arrow_source(path: Path):
    """A context giving what pyarrow's readers open: a local path as it is (pyarrow reads
    it natively, as before), a file on object storage opened through fsspec."""
    return contextlib.nullcontext(path) if is_local(path) else open_bytes(path)


def starts_with(path: Path, magic: bytes) -> bool:
    """Whether the file's first bytes are `magic`: content tells the kind, not the name."""
    with open_bytes(path, block_size=len(magic)) as probe:
        return probe.read(len(magic)) == magic


def open_gzip(path: Path, block_size: int | None = None) -> gzip.GzipFile:
    """A gzip file's decompressed bytes; closing it closes the file."""
    if is_local(path):
        return gzip.open(path, "rb")
    return _OwningGzipFile(fileobj=open_bytes(path, block_size), mode="rb")


class _OwningGzipFile(gzip.GzipFile):
    """A GzipFile over a file object it closes too (GzipFile leaves `fileobj` open)."""

    def close(self) -> None:
        fileobj = self.fileobj
        try:
            super().close()
        finally:
            if fileobj is not None:
                fileobj.close()


def open_text(path: Path):
    """Open plain or gzip-compressed text (a leading BOM dropped), telling them apart by
    magic bytes, not name."""
    compressed = starts_with(path, GZIP_MAGIC)
    handle = open_gzip(path) if compressed else open_bytes(path)
    return io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace", newline="\n")


class CorruptGzip(pa.ArrowInvalid):
    """A gzip stream that is corrupt, not just cut short: a bad CRC or deflate data. What
    was read before the fault may be wrong too, so the file is set aside, not read."""


class RawBytes:
    """A raw file's bytes, plain or gzip (told by magic bytes), without a leading BOM.

    A gzip stream cut short ends the bytes early instead of raising: `cut` then says why,
    and `tail` holds the partial line `line_blocks` left out. A corrupt one raises
    `CorruptGzip`.
    """

    def __init__(self, path: Path, block_size: int | None = None):
        self.path = path
        self.block_size = block_size  # on object storage: see `open_bytes`
        self.cut: str | None = None
        self.tail = b""

    def chunks(self, size: int) -> Iterator[bytes]:
        """The bytes in pieces of about `size` (gzip pieces may be smaller)."""
        if not starts_with(self.path, GZIP_MAGIC):
            with open_bytes(self.path, self.block_size) as handle:
                yield from iter(lambda: handle.read(size), b"")
            return
        with open_gzip(self.path, self.block_size) as handle:
            while True:
                try:
                    # read1: one read of the stream, so nothing read is lost at a cut
                    piece = handle.read1(size)
                except EOFError:
                    self.cut = TRUNCATED
                    return
                except (gzip.BadGzipFile, zlib.error) as error:
                    raise CorruptGzip(f"corrupt gzip stream ({error})") from None
                if not piece:
                    return
                yield piece

    def without_bom(self, size: int) -> Iterator[bytes]:
        """`chunks`, with a UTF-8 byte order mark at the very start dropped."""
        pieces = self.chunks(size)
        start = b""
        for piece in pieces:
            start += piece
            if len(start) >= len(BOM):
                break
        if start:
            yield start.removeprefix(BOM)
        yield from pieces

    def line_blocks(self, size: int) -> Iterator[bytes]:
        """Blocks of at least ~`size` bytes (but the last) that end where a line ends: a
        CR LF pair is never split. At a cut, the partial last line goes to `tail`.

        Pieces are only joined, once per block, never appended to one another: each
        byte is copied once, and a long line is searched once (piece by piece)."""
        parts: list[bytes] = []
        held = 0
        for piece in self.without_bom(size):
            # a CR as the very last byte may be the first half of CR LF: not an end yet
            end = max(piece.rfind(b"\n"), piece.rfind(b"\r", 0, len(piece) - 1)) + 1
            if not end or held + end < size:
                parts.append(piece)
                held += len(piece)
                continue
            parts.append(piece[:end])
            yield b"".join(parts)
            rest = piece[end:]
            parts, held = ([rest], len(rest)) if rest else ([], 0)
        pending = b"".join(parts)
        if self.cut:  # the lines before the cut are whole; what follows them is not
            end = max(pending.rfind(b"\n"), pending.rfind(b"\r")) + 1
            self.tail = pending[end:]
            pending = pending[:end]
        if pending:
            yield pending

    def head(self, size: int) -> str:
        """About the first `size` bytes as text (bad bytes as U+FFFD); a cut or corrupt
        gzip stream ends it early: it is the reader's to report, not the format's."""
        read = bytearray()
        try:
            for piece in self.without_bom(size):
                read += piece
                if len(read) >= size:
                    break
        except CorruptGzip:
            pass
        return bytes(read[:size]).decode("utf-8", "replace")


def head_text(path: Path, size: int) -> str:
    """About the first `size` bytes of a raw file as text (see `RawBytes.head`)."""
    return RawBytes(path, block_size=size).head(size)


class BlockStream(io.RawIOBase):
    """A readable binary stream over blocks of bytes (for readers that want a file);
    closing it closes the blocks' generator, and so the file it reads."""

    def __init__(self, blocks: Generator[bytes]):
        self._blocks = blocks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._blocks.close()
        super().close()

    def readinto(self, buffer) -> int:
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = memoryview(block)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def line_batches(path: Path, max_bytes: int | None = None) -> Iterator[pa.Table]:
    """Yield tables (line_no int64 1-based, line string, problem string) of at most
    ~max_bytes text each.

    Blank lines are skipped but keep their numbers counted, so line_no always points at
    the real line of the file. `problem` is NULL for a good line, else why the line is
    bad: not valid UTF-8, or the partial line at a gzip cut (see the module doc).
    """
    max_bytes = max_bytes or LINE_BATCH_BYTES
    raw = RawBytes(path)
    batches: list[pa.RecordBatch] = []
    size = lines_before = 0
    for block in raw.line_blocks(min(CHUNK_BYTES, max_bytes)):
        batch, n_lines = _block_lines(block, lines_before)
        lines_before += n_lines
        batches.append(batch)
        size += len(block)
        if size >= max_bytes:
            yield pa.Table.from_batches(batches, LINES_SCHEMA)
            batches, size = [], 0
    if raw.cut:
        tail = raw.tail.decode("utf-8", "replace")
        batches.append(_record_batch([lines_before + 1], pa.array([tail]), pa.array([raw.cut])))
    if batches:
        yield pa.Table.from_batches(batches, LINES_SCHEMA)


def _block_lines(block: bytes, lines_before: int) -> tuple[pa.RecordBatch, int]:
    """The block's non-blank lines as a record batch, and how many lines it holds.

    The fast path makes no Python string: the Arrow array of lines is the block without
    its line-end bytes, cut where each line ended. A block that is not valid UTF-8 goes
    line by line instead (`_bad_block_lines`)."""
    offsets, text = _split_lines(block)
    n = len(offsets) - 1
    lines = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text)])
    try:
        lines.validate(full=True)  # UTF-8 included
    except pa.ArrowInvalid:
        return _bad_block_lines(block, lines_before)
    numbers = np.arange(lines_before + 1, lines_before + 1 + n)
    blank = (np.diff(offsets) == 0) | pc.utf8_is_space(lines).to_numpy(zero_copy_only=False)
    if blank.any():
        keep = ~blank
        lines, numbers = lines.filter(pa.array(keep)), numbers[keep]
    return _record_batch(numbers, lines, pa.nulls(len(lines), pa.string())), n


def _split_lines(block: bytes) -> tuple[np.ndarray, bytes]:
    """The block's text without line-end bytes, and the offsets of its lines in it: a line
    ends at each LF, CR LF or lone CR, and its end moves back by the line-end bytes before."""
    data = np.frombuffer(block, np.uint8)
    lf = np.flatnonzero(data == LF)
    if b"\r" in block:
        cr = np.flatnonzero(data == CR)
        after_cr = np.zeros(len(data), bool)
        after_cr[1:] = data[:-1] == CR
        ends = np.union1d(cr, lf[~after_cr[lf]])  # a CR LF pair ends a line at its CR
        removed = np.searchsorted(cr, ends) + np.searchsorted(lf, ends)
        text = block.replace(b"\r", b"").replace(b"\n", b"")
    else:  # the common case, cheaper: line i ends i bytes earlier
        cr, ends, removed = (), lf, np.arange(len(lf))
        text = block.replace(b"\n", b"")
    if not block.endswith((b"\n", b"\r")):  # the file's last line has no line end
        ends = np.append(ends, len(block))
        removed = np.append(removed, len(lf) + len(cr))
    offsets = np.zeros(len(ends) + 1, np.int32)
    offsets[1:] = ends - removed
    return offsets, text


def _bad_block_lines(block: bytes, lines_before: int) -> tuple[pa.RecordBatch, int]:
    """`_block_lines` for a block with bytes that are not UTF-8: line by line."""
    raw_lines = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if block.endswith((b"\n", b"\r")):
        raw_lines.pop()
    numbers, lines, problems = [], [], []
    for line_no, raw in enumerate(raw_lines, start=lines_before + 1):
        text, where = decode_utf8(raw)
        problem = where and f"not valid UTF-8 ({where})"
        if text and not text.isspace():
            numbers.append(line_no)
            lines.append(text)
            problems.append(problem)
    return _record_batch(numbers, pa.array(lines), pa.array(problems, pa.string())), len(raw_lines)


def decode_utf8(raw: bytes) -> tuple[str, str | None]:
    """Text, bad bytes as U+FFFD, and where the first bad byte is when there is one:
    "byte 0xff at column 12" (1-based, in characters)."""
    try:
        return raw.decode(), None
    except UnicodeDecodeError as error:
        column = len(raw[: error.start].decode()) + 1
        where = f"byte 0x{raw[error.start]:02x} at column {column}"
        return raw.decode("utf-8", "replace"), where


def _record_batch(numbers, lines: pa.Array, problems: pa.Array) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array(numbers, pa.int64()), lines, problems], schema=LINES_SCHEMA
    )
