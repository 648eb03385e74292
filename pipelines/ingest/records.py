"""Read a tabular export (JSON Lines, CSV or Parquet; plain or gzip) as bounded batches.

Each batch is an Arrow table with `line_no` (the file's line for JSONL, data row + 1 for
CSV so the header is line 1, the 1-based row for Parquet), `row_problem` (`'|reason'` when a
JSONL line is not a record, a line or CSV row is not valid UTF-8, a record spells a key
another way (see `column_keys`), or a gzip stream ends early; else NULL), and the file's own
columns: text for JSONL and CSV (objects and arrays as JSON text), native types for Parquet.
Text is read as `lines` reads it: a leading BOM dropped, lines ending at LF, CRLF or CR.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.db import connect, is_local, sql_identifier
from pipelines.ingest.lines import (
    CHUNK_BYTES,
    GZIP_MAGIC,
    PARQUET_MAGIC,
    BlockStream,
    RawBytes,
    arrow_source,
    decode_utf8,
    head_text,
    line_batches,
    open_bytes,
    starts_with,
)

PARQUET_BATCH_ROWS = 256 * 1024
CSV_BLOCK_BYTES = 16 * 1024 * 1024


def container(path: Path) -> str:
    """parquet, jsonl or csv, told from the bytes: Parquet magic, else the first character."""
    if starts_with(path, PARQUET_MAGIC):
        return "parquet"
    head = head_text(path, 4096).lstrip()
    return "jsonl" if head.startswith(("{", "[")) else "csv"


def record_batches(path: Path) -> Iterator[pa.Table]:
    kind = container(path)
    if kind == "parquet":
        yield from _parquet_batches(path)
    elif kind == "jsonl":
        yield from _jsonl_batches(path)
    else:
        yield from _csv_batches(path)


def _with_row_info(
    batch: pa.Table, first_line: int, row_problem: pa.Array | None = None
) -> pa.Table:
    n = batch.num_rows
    line_no = pa.array(range(first_line, first_line + n), pa.int64())
    return batch.add_column(0, "line_no", line_no).add_column(
        1, "row_problem", pa.nulls(n, pa.string()) if row_problem is None else row_problem
    )


def _parquet_batches(path: Path) -> Iterator[pa.Table]:
    rows_before = 0
    with arrow_source(path) as source:
        for batch in pq.ParquetFile(source).iter_batches(batch_size=PARQUET_BATCH_ROWS):
            table = pa.Table.from_batches([batch])
            yield _with_row_info(table, rows_before + 1)
            rows_before += table.num_rows


def _csv_stream(path: Path, raw: RawBytes):
    """The CSV's bytes: Arrow reads a plain file itself (a BOM, CR or CRLF it handles); a
    gzip file goes through `raw`, so a cut stream ends at its last whole line."""
    if starts_with(path, GZIP_MAGIC):
        return io.BufferedReader(BlockStream(raw.line_blocks(CHUNK_BYTES)), CHUNK_BYTES)
    return pa.OSFile(str(path)) if is_local(path) else open_bytes(path)


def _csv_batches(path: Path) -> Iterator[pa.Table]:
    with _csv_stream(path, RawBytes(path)) as stream:
        names = _header(pacsv.open_csv(stream).schema)
    # Every column is read as bytes, then text: the parser casts, so a bad value becomes
    # a quarantined row with its reason instead of a crash, and so does a bad byte.
    raw = RawBytes(path)
    with _csv_stream(path, raw) as stream:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.binary() for name in names},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
        rows_before = 0
        for batch in reader:
            yield _as_text(pa.Table.from_batches([batch]), rows_before + 2)
            rows_before += batch.num_rows
    if raw.cut:  # one more row: the cut, after the last whole row
        empty = pa.table({name: pa.nulls(1, pa.string()) for name in names})
        yield _with_row_info(empty, rows_before + 2, pa.array([f"|{raw.cut}"]))


def _header(schema: pa.Schema) -> list[str]:
    """The CSV's column names; a header that is not UTF-8 sets the file aside."""
    try:
        return schema.names
    except UnicodeDecodeError as error:
        _, where = decode_utf8(error.object)
        raise pa.ArrowInvalid(f"the CSV header (line 1) is not valid UTF-8 ({where})") from None


def _as_text(table: pa.Table, first_line: int) -> pa.Table:
    """A batch of byte columns as text, with row info. A row holding bytes that are not
    UTF-8 keeps its values (bad bytes as U+FFFD) and gets a row_problem naming the first
    such field."""
    n = table.num_rows
    problems: list[str | None] = [None] * n
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        try:
            columns.append(column.cast(pa.string()))  # validates UTF-8: the fast path
            continue
        except pa.ArrowInvalid:
            pass
        values = []
        for i, value in enumerate(column.to_pylist()):
            text, where = (None, None) if value is None else decode_utf8(value)
            values.append(text)
            if where and problems[i] is None:
                problems[i] = f"|not valid UTF-8 in {name} ({where})"
        columns.append(pa.array(values, pa.string()))
    row_problem = pa.array(problems, pa.string()) if any(problems) else None
    return _with_row_info(pa.table(columns, names=table.column_names), first_line, row_problem)


# Each line is parsed once: the values of all keys come from one json_extract_string
# (a `->>` per key parses the line again for each, and a wide 32 MB batch then runs
# out of DuckDB's memory).
_JSONL_SQL = """
select line_no,
    case when problem is not null then '|' || problem
         when not json_valid(line) then '|invalid JSON (truncated or corrupt line)'
         when json_type(line) <> 'OBJECT' then '|not a JSON object'
         {odd_keys}
    end as row_problem,
    {fields}
from (
    select *, case when json_valid(line) then json_extract_string(line, $paths::varchar[])
        end as extracted
    from jsonl_lines
)
"""
_KEYS_SQL = """
select key, count(*) from (
    select unnest(json_keys(line)) as key from jsonl_lines
    where problem is null and json_valid(line) and json_type(line) = 'OBJECT'
) group by key
"""


def _jsonl_batches(path: Path) -> Iterator[pa.Table]:
    con = connect(memory_limit="512MB")
    try:
        for lines in line_batches(path):
            con.register("jsonl_lines", lines)
            keys, odd = column_keys(dict(con.execute(_KEYS_SQL).fetchall()))
            fields = ", ".join(
                [f"extracted[{i + 1}] as {sql_identifier(k)}" for i, k in enumerate(keys)]
                or ["null as _empty"]
            )
            odd_keys = " ".join(
                f"when list_contains(json_keys(line), $o{i}) then $m{i}" for i in range(len(odd))
            )
            params = {"paths": [_json_pointer(k) for k in keys]}
            for i, (key, kept) in enumerate(odd.items()):
                params |= {f"o{i}": key, f"m{i}": f"|key {key} differs from {kept} only in case"}
            sql = _JSONL_SQL.format(fields=fields, odd_keys=odd_keys)
            yield con.sql(sql, params=params).to_arrow_table()
            con.unregister("jsonl_lines")
    finally:
        con.close()


def usable_keys(keys, reserved=("line_no", "row_problem")) -> list[str]:
    """Keys that can be columns: non-empty, no NUL, not ours, unique ignoring case (SQL
    names): of keys equal ignoring case, the first is kept."""
    taken = set(reserved)
    usable = []
    for key in keys:
        if key and "\x00" not in key and key.lower() not in taken:
            taken.add(key.lower())
            usable.append(key)
    return usable


def column_keys(counts: dict[str, int]) -> tuple[list[str], dict[str, str]]:
    """The keys of a batch's records that become columns (sorted), and each other
    spelling of a kept key (equal ignoring case) → the key kept.

    `counts` is how often each key occurs. Of the spellings of one key, the one used most
    often is kept; on a tie, the all-lower-case spelling, else the first in code-point
    order. A record holding another spelling is a problem (named), not a silent NULL.
    Decided per batch.
    """
    preferred = sorted(counts, key=lambda k: (-counts[k], k != k.lower(), k))
    kept = usable_keys(preferred)
    by_case = {key.lower(): key for key in kept}
    odd = {
        key: by_case[key.lower()]
        for key in sorted(counts)
        if key.lower() in by_case and by_case[key.lower()] != key
    }
    return sorted(kept), odd


def _json_pointer(key: str) -> str:
    """RFC 6901 pointer to a top-level key: any key, whatever characters it holds."""
    return "/" + key.replace("~", "~0").replace("/", "~1")
