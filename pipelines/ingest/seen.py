"""Spans already stored, so the same span arriving twice is stored once.

Per file, a DuckDB table holds the keys of the live lake spans of every day the file
touches (from other sources) plus the spans this file accepted so far. Lake keys are
loaded lazily, a day at a time, as batches reveal which days they touch.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipelines.db import sql_list
from pipelines.ingest import lake
from pipelines.schemas import SPANS


class SeenSpans:
    table = "seen_spans"

    def __init__(self, con, lake_dir: Path, source: Path, log: pa.Table) -> None:
        self.con = con
        self.own_key = lake.source_key(source)
        self.files_by_day: dict[str, list[Path]] = {}
        for path in lake.live_files(lake_dir, SPANS, log=log):
            if not path.name.startswith(self.own_key):
                self.files_by_day.setdefault(path.parent.name.removeprefix("day="), []).append(path)
        self.loaded_days: set[str] = set()
        con.execute(
            f"create or replace temp table {self.table} "
            "(trace_id varchar, span_id varchar, source_file varchar)"
        )

    def load_days_of(self, view: str) -> None:
        """Load the lake's keys for the days the candidates in `view` start on."""
        days = self.con.execute(
            f"select distinct strftime(started_at, '%Y-%m-%d') from {view} "
            "where started_at is not null"
        ).fetchall()
        for (day,) in days:
            if day in self.loaded_days:
                continue
            self.loaded_days.add(day)
            files = self.files_by_day.get(day)
            if files:
                self.con.execute(
                    f"insert into {self.table} select distinct trace_id, span_id, source_file "
                    f"from read_parquet({sql_list(files)})"
                )

    def remember(self, checked: str) -> None:
        """Add the spans this batch accepted (source_file NULL: this file)."""
        self.con.execute(
            f"insert into {self.table} select trace_id, span_id, null "
            f"from {checked} where problem is null"
        )
