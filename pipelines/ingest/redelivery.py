"""Redelivered rows: when the file holding a row is replaced, a copy takes its place.

A row delivered twice (a file re-sent under another name, an export overlapping the
last one) is stored once: the second copy is quarantined as `duplicate: this span is
already stored from <holder>`. When the holder is later replaced by a version that no
longer holds some of its rows (an edited file), the copies must not stay quarantined:
every file that quarantined a duplicate against the holder is ingested again, and now
stores the rows nobody else holds.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.db import connect, read_parquet_sql
from pipelines.ingest import lake
from pipelines.ingest.seen import key_sql
from pipelines.schemas import LAKE_TABLES, QUARANTINE


def lost_rows(lake_dir: Path, old: dict, new: dict) -> bool:
    """Whether the replaced version `old` (log entry) held a row key `new` does not."""
    con = connect(memory_limit="512MB")
    try:
        for table in LAKE_TABLES:
            old_files = lake.version_files(lake_dir, old, (table,))
            if not old_files:
                continue
            new_files = lake.version_files(lake_dir, new, (table,))
            kept = (
                f"select {key_sql(table)} from {read_parquet_sql(new_files, partitioned=False)}"
                if new_files
                else "select null where false"
            )
            lost = con.execute(
                f"select 1 from (select {key_sql(table)} from "
                f"{read_parquet_sql(old_files, partitioned=False)} except {kept}) limit 1"
            ).fetchall()
            if lost:
                return True
        return False
    finally:
        con.close()


def copy_holders(lake_dir: Path, holder: str) -> list[str]:
    """The other files (as logged) that quarantined a duplicate of a row `holder` held."""
    files = lake.live_files(lake_dir, QUARANTINE)
    if not files:
        return []
    con = connect(memory_limit="512MB")
    try:
        rows = con.execute(
            f"select distinct source_file from {read_parquet_sql(files, partitioned=False)} "
            "where starts_with(reason, 'duplicate: ') "
            "and ends_with(reason, ' already stored from ' || $holder) "
            "and source_file <> $holder order by 1",
            {"holder": holder},
        ).fetchall()
    finally:
        con.close()
    return [source for (source,) in rows]
