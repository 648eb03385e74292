"""Rows already stored, so the same span (or charge, or usage bucket) arriving twice is
stored once.

Per file and canonical table, a DuckDB table holds the row keys (`Table.key`) of the
live lake rows of every day the file touches (from other sources) plus the rows this
file accepted so far. Lake keys are loaded lazily, a day at a time, as batches reveal
which days they touch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipelines.db import sql_identifier, sql_list, sql_string
from pipelines.ingest import lake
from pipelines.schemas import Table

PASSED_SUFFIX = ".keys"  # Parquet, but not a lake file: `publish` moves only *.parquet


def key_sql(table: Table) -> str:
    """One value per row identity: the 128-bit MD5 of the key's text, 16 bytes a row (a
    file's own keys are held for its whole parse: as text they cost ~65 bytes a row and
    grew the ingest's memory with the file). Two keys collide with odds ~1e-25 at 8M
    rows. Key columns that may be NULL (billing keys) are compared NULL-safely, through
    the JSON text of the whole key."""
    columns = {c.name: c for c in table.columns}
    names = [sql_identifier(name) for name in table.key]
    if all(columns[name].required for name in table.key):
        return "md5_number(concat_ws(chr(31), " + ", ".join(names) + "))"
    return "md5_number(to_json([" + ", ".join(f"to_json({n})" for n in names) + "])::varchar)"


@dataclass(frozen=True)
class PassedKeys:
    """The keys of a file's rows of one table that broke no rule (`folder`, Parquet), and
    the days whose stored keys its dedupe was checked against: the only days on which a
    version committed meanwhile can change it (`parallel.stale`)."""

    folder: Path
    days: frozenset[str]


class _SeenKeys:
    def __init__(
        self, con, table: Table, files: list[Path], own_key: str, passed_dir: Path | None
    ) -> None:
        self.con = con
        self.table = table
        self.name = f"seen_{table.name}"
        self.passed_dir = passed_dir and passed_dir / table.name
        self.passed_files = 0
        self.files_by_day: dict[str, list[Path]] = {}
        for path in files:
            if not path.name.startswith(own_key):
                self.files_by_day.setdefault(path.parent.name.removeprefix("day="), []).append(path)
        self.loaded_days: set[str] = set()
        con.execute(
            f"create or replace temp table {self.name} (row_key uhugeint, source_file varchar)"
        )

    def load_days_of(self, view: str) -> None:
        """Load the lake's keys for the days the candidates in `view` fall on (read from
        its rows: `view` is a materialised table, not evaluated again)."""
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
        """Add the rows this batch accepted (source_file NULL: this file); with a
        `passed_dir`, write the keys of the rows that broke no rule there (see
        `SeenRows`)."""
        self.con.execute(
            f"insert into {self.name} select row_key, null from {checked} where problem is null"
        )
        if self.passed_dir is None:
            return
        self.passed_dir.mkdir(parents=True, exist_ok=True)
        target = self.passed_dir / f"{self.passed_files:05d}{PASSED_SUFFIX}"
        self.con.execute(
            f"copy (select distinct row_key from {checked} where passes_rules) "
            f"to {sql_string(target)} (format parquet)"
        )
        self.passed_files += 1


class SeenRows:
    """The stored row keys of each canonical table a file's rows go to.

    With `passed_dir`, the keys of every row that broke no rule (accepted, or a
    duplicate) are also written there, per table: the only rows whose fate depends on
    what is stored, so a commit can tell whether files committed since this file's log
    was read change it (see `overlaps`)."""

    def __init__(
        self, con, lake_dir: Path, source: Path, log: pa.Table, passed_dir: Path | None = None
    ) -> None:
        self.con = con
        self.lake_dir = lake_dir
        self.log = log
        self.own_key = lake.source_key(source)
        self.passed_dir = passed_dir
        self.tables: dict[str, _SeenKeys] = {}

    def of(self, table: Table) -> _SeenKeys:
        if table.name not in self.tables:
            files = lake.live_files(self.lake_dir, table, log=self.log)
            self.tables[table.name] = _SeenKeys(
                self.con, table, files, self.own_key, self.passed_dir
            )
        return self.tables[table.name]

    def passed(self) -> dict[str, PassedKeys]:
        """Per table, the written keys of rows that broke no rule, and the days checked."""
        return {
            name: PassedKeys(keys.passed_dir, frozenset(keys.loaded_days))
            for name, keys in self.tables.items()
            if keys.passed_dir is not None and keys.passed_files
        }


def overlaps(con, table: Table, passed: Path, files: list[Path]) -> bool:
    """Whether any lake file in `files` holds a key among those written in `passed`."""
    if not files:
        return False
    keys = sql_string(str(passed / f"*{PASSED_SUFFIX}"))
    (found,) = con.execute(
        f"select exists (select 1 from read_parquet({keys}) as passed "
        f"semi join (select {key_sql(table)} as row_key from read_parquet({sql_list(files)})) "
        f"using (row_key))"
    ).fetchall()[0]
    return bool(found)
