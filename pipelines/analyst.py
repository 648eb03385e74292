"""`fleetledger sql`: read-only queries on the warehouse, printed or written as files."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import duckdb
import polars as pl
from rich.console import Console
from rich.table import Table as RichTable

from pipelines.db import connect
from pipelines.errors import UserError
from pipelines.increments import local_copy

FORMATS = ("table", "csv", "json", "parquet")
MAX_TABLE_ROWS = 200  # the printed table; files and csv/json get every row


class QueryError(UserError, ValueError):
    """The warehouse is missing or a query failed; the message says which."""


# the folders beside the warehouse its views read (the lake, the facts' Parquet files)
READABLE_DIRS = ("lake", "marts")


def open_read_only(warehouse_path: Path):
    """The warehouse, read-only, with no file access but reading the data dir's lake and
    facts: no COPY … TO, read_csv('/etc/…'), ATTACH or INSTALL, and the lock is for good
    (lock_configuration: a query cannot turn access back on). On object storage the
    warehouse is a local copy (`local_copy`), and the readable folders are s3:// URLs."""
    local = local_copy(warehouse_path)
    if not local.exists():
        raise QueryError(f"{warehouse_path}: no warehouse yet (run `fleetledger build`)")
    con = connect(local, read_only=True)
    readable = [str(warehouse_path.parent.resolve() / name) + "/" for name in READABLE_DIRS]
    con.execute("set allowed_directories = $dirs", {"dirs": readable})
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")
    return con


def query(con, sql: str) -> pl.DataFrame:
    try:
        return con.sql(sql).pl()
    except AttributeError:  # a statement with no result (SET, PRAGMA …)
        return pl.DataFrame()
    except duckdb.Error as error:
        raise QueryError(str(error).strip()) from None


def run(warehouse_path: Path, sql: str, output_format: str, output: Path | None, console) -> None:
    """Run one query and print or write its result."""
    if output_format not in FORMATS:
        raise QueryError(f"--format {output_format}: not one of {', '.join(FORMATS)}")
    if output_format == "parquet" and output is None:
        raise QueryError("--format parquet writes a file: give --output PATH")
    con = open_read_only(warehouse_path)
    try:
        frame = query(con, sql)
    finally:
        con.close()
    write(frame, output_format, output, console)


def write(frame: pl.DataFrame, output_format: str, output: Path | None, console) -> None:
    if output_format == "parquet":
        frame.write_parquet(output)
    else:
        text = {
            "csv": lambda: _flat(frame).write_csv(),
            "json": frame.write_ndjson,
            "table": lambda: _table_text(frame),
        }[output_format]()
        output.write_text(text) if output else sys.stdout.write(text)
    if output:
        console.print(f"{frame.height:,} rows → {output}")


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV cannot hold lists, maps or structs: those columns become JSON text."""
    nested = [c for c, t in frame.schema.items() if t.is_nested()]
    return frame.with_columns(pl.col(c).map_elements(_json, return_dtype=pl.String) for c in nested)


def _json(value) -> str:
    return json.dumps(value.to_list() if hasattr(value, "to_list") else value, default=str)


def _table_text(frame: pl.DataFrame) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200).print(render(frame))
    return buffer.getvalue()


def render(frame: pl.DataFrame) -> RichTable:
    """A terminal table of the first rows, numbers right-aligned."""
    shown = frame.head(MAX_TABLE_ROWS)
    caption = f"{frame.height:,} rows" + (
        f" (first {MAX_TABLE_ROWS} shown; use --format csv for all)"
        if frame.height > MAX_TABLE_ROWS
        else ""
    )
    table = RichTable(caption=caption, show_lines=False)
    for name, dtype in shown.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in shown.iter_rows():
        table.add_row(*("" if v is None else _cell(v) for v in row))
    return table


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def interactive(warehouse_path: Path, console, read=input) -> None:
    """A prompt: statements end with `;`, `.tables` lists the tables, `.quit` leaves."""
    con = open_read_only(warehouse_path)
    console.print(f"fleetledger sql on {warehouse_path} (read-only). End statements with ;")
    buffer: list[str] = []
    try:
        while True:
            try:
                line = read("... " if buffer else "sql> ")
            except EOFError:
                break
            if not buffer and line.strip() in (".quit", ".exit"):
                break
            if not buffer and line.strip() == ".tables":
                line = "select table_name, comment from duckdb_tables() union all "
                line += "select view_name, comment from duckdb_views() where not internal "
                line += "order by 1;"
            buffer.append(line)
            if line.rstrip().endswith(";"):
                statement, buffer = "\n".join(buffer), []
                try:
                    console.print(render(query(con, statement)))
                except QueryError as error:
                    console.print(f"error: {error}", style="red")
    finally:
        con.close()
