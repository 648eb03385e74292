"""DuckDB connections configured the one way the project uses them, and where a path
lives: the local disk, or object storage (a UPath over fsspec), which decides how DuckDB
(a registered filesystem), pyarrow and the lake reach it."""

from __future__ import annotations

import re
import sys
from pathlib import Path, PurePath

URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
OBJECTSTORE_MODULE = "pipelines.objectstore"


def is_url(location: str) -> bool:
    """True for an object-store URL (`s3://bucket/prefix`, any `scheme://` but file://)."""
    return bool(URL_SCHEME.match(location)) and not location.startswith("file://")


def is_local(path) -> bool:
    """Whether a path is on the local disk: a pathlib path (a local UPath is one) or a
    str that is no URL. Anything else is a UPath over an fsspec filesystem (`path.fs`,
    `path.path`): object storage. Costs an isinstance, so the local paths pay nothing."""
    return isinstance(path, PurePath) or (isinstance(path, str) and not is_url(path))


def object_store_fs(path):
    """The fsspec filesystem of a path on object storage (a UPath). `pipelines.objectstore`
    is imported first: it makes UPath build the filesystem DuckDB's bridge can use (a
    UPath builds its filesystem when first asked, from fsspec's registry), and it lets
    every DuckDB connection of this process register it (`connect`). So whatever reaches
    S3 first in a process (a Dask worker unpickling settings, a forked worker), it is
    through this."""
    import pipelines.objectstore  # noqa: F401

    return path.fs


def connect(path: Path | str = ":memory:", *, memory_limit: str = "4GB", read_only: bool = False):
    """A DuckDB connection in UTC with bounded memory and streaming-friendly settings."""
    # imported here: the lock asks `is_local` at the CLI's start-up, which needs no DuckDB
    import duckdb

    con = duckdb.connect(str(path), read_only=read_only)
    _register_object_stores(con)
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"set memory_limit = '{memory_limit}'")  # a setting, not a data value
    con.execute("set preserve_insertion_order = false")
    con.execute("set enable_progress_bar = false")
    return con


def _register_object_stores(con) -> None:
    """Let `con` read and write s3:// paths when this process uses object storage: every
    s3:// path the project makes comes with `pipelines.objectstore` imported (it is what
    makes UPath build the filesystem DuckDB needs), so a process that never imported it
    has nothing on S3, and a local run neither imports s3fs nor registers anything."""
    objectstore = sys.modules.get(OBJECTSTORE_MODULE)
    if objectstore is not None:
        objectstore.register(con, objectstore.filesystem())


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
