"""The rows Great Expectations audits: a bounded, uniform, reproducible sample per run.

The project's own row checks (`split.problem_sql`, from the `Column` rules) decide what is
accepted, on every row. Great Expectations is the independent second look, and it costs
seconds per run of rows (pandas), so it audits a sample instead of every batch of every
file: per table, run and day, the `AUDIT_DAY_ROWS` accepted rows of smallest hash of
their key (a bottom-k sample: uniform, and the same whichever order or process the
files were ingested in), so every day ingested is audited and the sample is bounded by
the days a run touches (a nightly: one or two). A small run is audited whole. The
`data_quality` rows then say exactly what was checked: `element_count` is the rows GX
checked of that file and day.

A file's sample is drawn while it is parsed (`FileSample`, no GX involved) and merged
into the run's (`RunSample`); `pipelines.validate.DataQuality` validates the run's sample
once, at the end of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from pipelines.db import sql_identifier
from pipelines.schemas import Table

AUDIT_DAY_ROWS = 5_000  # per table, day and run (or all the day has): GX's cost is per
# run of rows (pandas holds them), and 5,000 uniform rows find a rule broken by 0.1 % of
# a day's rows with probability 99.3 %
COMPACT_BATCHES = 8  # batch samples held before they are cut to one
SAMPLE_HASH = "sample_hash"
SAMPLE_DAY = "sample_day"
SAMPLE_FILE = "sample_file"  # index of the file version in the run (see `RunSample`)


def audited_columns(table: Table) -> list[str]:
    """The columns GX reads: those with rules, those they compare with, the day's."""
    ruled = table.ruled_columns
    return sorted({c.name for c in ruled} | {c.after for c in ruled if c.after} | {table.day_from})


def _bottom_sql(table: Table, source: str) -> str:
    """The rows of `source` in the sample: the AUDIT_DAY_ROWS of smallest hash of each
    day (rows of equal hash, the same key, ordered by the rest of the key)."""
    order = ", ".join([SAMPLE_HASH, *(sql_identifier(k) for k in table.key)])
    return f"""
        select * from {source}
        qualify row_number() over (partition by {SAMPLE_DAY} order by {order}) <= {AUDIT_DAY_ROWS}
    """


def candidate_rows(con, table: Table, rows: pa.Table) -> pa.Table:
    """A batch's sample of accepted rows: audited and key columns, day, hash of the key.
    The ranking reads only day and hash (cheap); rows of a hash tied at the cut (the
    same key twice) are all kept, the merge (`bottom`) cuts exactly."""
    columns = sorted(set(audited_columns(table)) | set(table.key))
    keys = ", ".join(sql_identifier(k) for k in table.key)
    con.register("audit_rows", rows.select(columns))
    try:
        sql = f"""
            with hashed as (
                select *, {sql_identifier(table.day_from)}::date as {SAMPLE_DAY},
                    hash({keys}) as {SAMPLE_HASH}
                from audit_rows
            ),
            kept as (
                select {SAMPLE_DAY}, {SAMPLE_HASH} from hashed
                qualify row_number() over (
                    partition by {SAMPLE_DAY} order by {SAMPLE_HASH}) <= {AUDIT_DAY_ROWS}
            )
            select * replace (strftime({SAMPLE_DAY}, '%Y-%m-%d') as {SAMPLE_DAY})
            from hashed semi join kept using ({SAMPLE_DAY}, {SAMPLE_HASH})
        """
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("audit_rows")


def bottom(con, table: Table, parts: list[pa.Table]) -> pa.Table:
    """The sample of the union of `parts` (each already a sample, or candidates)."""
    whole = pa.concat_tables(parts, promote_options="permissive")
    con.register("audit_union", whole)
    try:
        return con.sql(_bottom_sql(table, "audit_union")).to_arrow_table()
    finally:
        con.unregister("audit_union")


@dataclass
class FileSample:
    """One file version's sample per table, drawn batch by batch as it is parsed."""

    source_file: str
    key: str  # the source's key and the version's commit id (lake.StagedFile): its
    commit_id: str  # lake files are named `<key>-<commit_id>-…`
    lake_dir: Path
    rows: dict[str, list[pa.Table]] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        """How the version's lake files are named: `<key>-<commit_id>-`."""
        return f"{self.key}-{self.commit_id}-"

    def add(self, con, table: Table, accepted: pa.Table) -> None:
        """Keep a batch's sample of its accepted rows of `table` (the batches' samples
        are merged once, in `RunSample.tables`)."""
        if accepted.num_rows == 0 or table.day_from is None:
            return
        batches = self.rows.setdefault(table.name, [])
        batches.append(candidate_rows(con, table, accepted))
        if len(batches) >= COMPACT_BATCHES:  # the file's sample stays bounded, however long
            self.rows[table.name] = [bottom(con, table, batches)]


@dataclass
class RunSample:
    """The run's sample per table, merged from the file versions' samples; a newer
    version of a file replaces its older one (a file ingested again in the same run)."""

    files: list[FileSample] = field(default_factory=list)

    def add(self, sample: FileSample) -> None:
        self.files = [f for f in self.files if f.source_file != sample.source_file]
        self.files.append(sample)

    def clear(self) -> None:
        self.files = []

    def tables(self, con) -> dict[str, pa.Table]:
        """Per table, the run's sample, each row with the index of its file version in
        `files` (SAMPLE_FILE) and its day (SAMPLE_DAY)."""
        from pipelines.schemas import TABLES

        parts: dict[str, list[pa.Table]] = {}
        for index, sample in enumerate(self.files):
            for name, batches in sample.rows.items():
                for rows in batches:
                    numbered = rows.append_column(
                        SAMPLE_FILE, pa.array([index] * rows.num_rows, pa.int32())
                    )
                    parts.setdefault(name, []).append(numbered)
        merged = {}
        for name, tables in sorted(parts.items()):
            table = TABLES[name]
            merged[name] = bottom(con, table, tables).sort_by(
                [(SAMPLE_FILE, "ascending"), (SAMPLE_DAY, "ascending"), (SAMPLE_HASH, "ascending")]
            )
        return merged
