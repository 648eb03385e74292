"""Read a tabular export (JSON Lines, CSV or Parquet; plain or gzip) as bounded batches.

Each batch is an Arrow table with `line_no` (the file's line for JSONL, data row + 1 for
CSV so the header is line 1, the 1-based row for Parquet), `row_problem` (`'|reason'` when a JSONL
line is not a record, else NULL), and the file's own columns: text for JSONL and CSV
(objects and arrays as JSON text), native types for Parquet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.db import connect, sql_identifier
from pipelines.ingest.lines import (
    GZIP_MAGIC,
    PARQUET_MAGIC,
    line_batches,
    open_text,
    starts_with,
)

PARQUET_BATCH_ROWS = 256 * 1024
CSV_BLOCK_BYTES = 16 * 1024 * 1024


def container(path: Path) -> str:
    """parquet, jsonl or csv, told from the bytes: Parquet magic, else the first character."""
    if starts_with(path, PARQUET_MAGIC):
        return "parquet"
    with open_text(path) as handle:
        head = handle.read(4096).lstrip()
    return "jsonl" if head.startswith(("{", "[")) else "csv"


def record_batches(path: Path) -> Iterator[pa.Table]:
    kind = container(path)
    if kind == "parquet":
        yield from _parquet_batches(path)
    elif kind == "jsonl":
        yield from _jsonl_batches(path)
    else:
        yield from _csv_batches(path)


def _with_row_info(batch: pa.Table, first_line: int) -> pa.Table:
    n = batch.num_rows
    line_no = pa.array(range(first_line, first_line + n), pa.int64())
    return batch.add_column(0, "line_no", line_no).add_column(
        1, "row_problem", pa.nulls(n, pa.string())
    )


def _parquet_batches(path: Path) -> Iterator[pa.Table]:
    rows_before = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS):
        table = pa.Table.from_batches([batch])
        yield _with_row_info(table, rows_before + 1)
        rows_before += table.num_rows


def _byte_stream(path: Path):
    raw = pa.OSFile(str(path))
    return pa.CompressedInputStream(raw, "gzip") if starts_with(path, GZIP_MAGIC) else raw


def _csv_batches(path: Path) -> Iterator[pa.Table]:
    with _byte_stream(path) as stream:
        names = pacsv.open_csv(stream).schema.names
    # Every column is read as text: the parser casts, so a bad value becomes a
    # quarantined row with its reason instead of a crash.
    with _byte_stream(path) as stream:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
        rows_before = 0
        for batch in reader:
            table = pa.Table.from_batches([batch])
            yield _with_row_info(table, rows_before + 2)
            rows_before += table.num_rows


_JSONL_SQL = """
select line_no,
    case when not json_valid(line) then '|invalid JSON (truncated or corrupt line)'
         when json_type(line) <> 'OBJECT' then '|not a JSON object'
    end as row_problem,
    {fields}
from jsonl_lines
"""


def _jsonl_batches(path: Path) -> Iterator[pa.Table]:
    con = connect(memory_limit="512MB")
    try:
        for lines in line_batches(path):
            con.register("jsonl_lines", lines)
            keys = usable_keys(
                key
                for (key,) in con.execute(
                    "select distinct unnest(json_keys(line)) from jsonl_lines "
                    "where json_valid(line) and json_type(line) = 'OBJECT' order by 1"
                ).fetchall()
            )
            fields = ", ".join(
                [
                    f"case when json_valid(line) then line ->> $k{i} end as {sql_identifier(k)}"
                    for i, k in enumerate(keys)
                ]
                or ["null as _empty"]
            )
            params = {f"k{i}": _json_pointer(k) for i, k in enumerate(keys)}
            yield con.sql(_JSONL_SQL.format(fields=fields), params=params).to_arrow_table()
            con.unregister("jsonl_lines")
    finally:
        con.close()


def usable_keys(keys, reserved=("line_no", "row_problem")) -> list[str]:
    """Keys that can be columns: non-empty, no NUL, not ours, unique ignoring case (SQL
    names)."""
    taken = set(reserved)
    usable = []
    for key in keys:
        if key and "\x00" not in key and key.lower() not in taken:
            taken.add(key.lower())
            usable.append(key)
    return usable


def _json_pointer(key: str) -> str:
    """RFC 6901 pointer to a top-level key: any key, whatever characters it holds."""
    return "/" + key.replace("~", "~0").replace("/", "~1")
