"""Rows already stored, so the same span (or charge, or usage bucket) arriving twice is
stored once.

Per file and canonical table, a DuckDB table holds the row keys (`Table.key`) of the
live lake rows of every day the file touches (from other sources) plus the rows this
file accepted so far. Lake keys are loaded lazily, a day at a time, as batches reveal
which days they touch.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipelines.db import sql_identifier, sql_list
from pipelines.ingest import lake
from pipelines.schemas import Table


def key_sql(table: Table) -> str:
    """One text value per row identity. Key columns that may be NULL (billing keys) are
    compared NULL-safely, through the JSON text of the whole key."""
    columns = {c.name: c for c in table.columns}
    names = [sql_identifier(name) for name in table.key]
    if all(columns[name].required for name in table.key):
        return "concat_ws(chr(31), " + ", ".join(names) + ")"
    return "md5(to_json([" + ", ".join(f"to_json({n})" for n in names) + "])::varchar)"


class _SeenKeys:
    def __init__(self, con, table: Table, files: list[Path], own_key: str) -> None:
        self.con = con
        self.table = table
        self.name = f"seen_{table.name}"
        self.files_by_day: dict[str, list[Path]] = {}
        for path in files:
            if not path.name.startswith(own_key):
                self.files_by_day.setdefault(path.parent.name.removeprefix("day="), []).append(path)
        self.loaded_days: set[str] = set()
        con.execute(
            f"create or replace temp table {self.name} (row_key varchar, source_file varchar)"
        )

    def load_days_of(self, view: str) -> None:
        """Load the lake's keys for the days the candidates in `view` fall on."""
        day_from = sql_identifier(self.table.day_from)
        days = self.con.execute(
            f"select distinct strftime({day_from}, '%Y-%m-%d') from {view} "
            f"where {day_from} is not null"
        ).fetchall()
        for (day,) in days:
            if day in self.loaded_days:
                continue
            self.loaded_days.add(day)
            files = self.files_by_day.get(day)
            if files:
                self.con.execute(
                    f"insert into {self.name} select distinct {key_sql(self.table)}, "
                    f"source_file from read_parquet({sql_list(files)})"
                )

    def remember(self, checked: str) -> None:
        """Add the rows this batch accepted (source_file NULL: this file)."""
        self.con.execute(
            f"insert into {self.name} select row_key, null from {checked} where problem is null"
        )


class SeenRows:
    """The stored row keys of each canonical table a file's rows go to."""

    def __init__(self, con, lake_dir: Path, source: Path, log: pa.Table) -> None:
        self.con = con
        self.lake_dir = lake_dir
        self.log = log
        self.own_key = lake.source_key(source)
        self.tables: dict[str, _SeenKeys] = {}

    def of(self, table: Table) -> _SeenKeys:
        if table.name not in self.tables:
            files = lake.live_files(self.lake_dir, table, log=self.log)
            self.tables[table.name] = _SeenKeys(self.con, table, files, self.own_key)
        return self.tables[table.name]
