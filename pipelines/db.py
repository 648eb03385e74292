"""DuckDB connections configured the one way the project uses them."""

from __future__ import annotations

from pathlib import Path

import duckdb


def connect(path: Path | str = ":memory:", *, memory_limit: str = "4GB", read_only: bool = False):
    """A DuckDB connection in UTC with bounded memory and streaming-friendly settings."""
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"set memory_limit = '{memory_limit}'")  # a setting, not a data value
    con.execute("set preserve_insertion_order = false")
    con.execute("set enable_progress_bar = false")
    return con


def sql_string(text: str | Path) -> str:
    """Quote a trusted string (a file path, a constant) as a SQL literal.

    Only for places DuckDB cannot take a bound parameter: view definitions and
    `read_parquet` paths inside persisted views. Never for data values.
    """
    return "'" + str(text).replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """Quote a column name for SQL, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def sql_list(values) -> str:
    """A SQL list literal of strings (views cannot take prepared parameters)."""
    return "[" + ", ".join(sql_string(v) for v in values) + "]"


def sql_date_list(days) -> str:
    """A SQL list literal of dates."""
    return "[" + ", ".join(f"date '{day.isoformat()}'" for day in days) + "]"


def read_parquet_sql(files, *, partitioned: bool = True, union: bool = True) -> str:
    """`read_parquet` over the given files, columns matched by name; `partitioned` adds
    the `day` column from their `day=YYYY-MM-DD` folders (else DuckDB's own detection
    would add it as text). `union` takes the union of every file's columns (reading every
    footer); without it, the first file's columns are every file's."""
    hive = (
        "hive_partitioning = true, hive_types = {'day': date}"
        if partitioned
        else "hive_partitioning = false"
    )
    by_name = "union_by_name = true, " if union else ""
    return f"read_parquet({sql_list(files)}, {by_name}{hive})"


def create_tables(con, tables: dict, *, catalog: str | None = None) -> None:
    """Each Arrow table as a DuckDB table of that name (replacing any)."""
    prefix = f"{sql_identifier(catalog)}.main." if catalog else ""
    for name, table in tables.items():
        con.register(f"arrow_{name}", table)
        con.execute(f"create or replace table {prefix}{name} as select * from arrow_{name}")
        con.unregister(f"arrow_{name}")
