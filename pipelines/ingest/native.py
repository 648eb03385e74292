"""Native exports: JSON Lines or Parquet already in a canonical table's schema.

For teams with their own logging (README, "Native format"): one record per row, named
exactly as the canonical columns in `schemas.py`. Lineage columns are set by the
ingest, not read. Text values are cast to the declared types; a value that does not
cast quarantines its row naming the column. `attributes` may be a JSON object or a
Parquet map; `duration_ms` may be left out (or null) and is then computed from the timestamps.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.db import sql_identifier
from pipelines.ingest import split
from pipelines.ingest.seen import SeenRows
from pipelines.ingest.split import Lineage, ParsedBatch
from pipelines.schemas import EVALUATIONS, SPANS, STRING_MAP, TIMESTAMP, Table

SPANS_FORMAT = "native_spans"
EVALUATIONS_FORMAT = "native_evaluations"

_SQL_TYPES = {
    pa.string(): "varchar",
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    TIMESTAMP: "timestamptz",
    STRING_MAP: "map(varchar, varchar)",
}


def _value(batch: pa.Table, name: str, arrow_type: pa.DataType) -> str:
    """SQL reading column `name` of the batch as `arrow_type`, NULL when it does not cast."""
    if name not in batch.column_names:
        return f"cast(null as {_SQL_TYPES[arrow_type]})"
    ref = f"r.{sql_identifier(name)}"
    if arrow_type == STRING_MAP and pa.types.is_string(batch.schema.field(name).type):
        return f"try_cast(try_cast({ref} as json) as map(varchar, varchar))"
    return f"try_cast({ref} as {_SQL_TYPES[arrow_type]})"


def _candidates_sql(batch: pa.Table, table: Table) -> str:
    columns = table.source_columns
    values = {c.name: _value(batch, c.name, c.type) for c in columns}
    if table is SPANS:  # optional: computed from the timestamps when not given
        values["duration_ms"] = (
            f"coalesce({values['duration_ms']}, "
            f"(epoch_us({values['ended_at']}) - epoch_us({values['started_at']})) / 1000.0)"
        )
    uncast = " ".join(
        f"when r.{sql_identifier(c.name)} is not null and {values[c.name]} is null then "
        f"'{c.name}|cannot be read as {_SQL_TYPES[c.type]}: ' "
        f"|| left(r.{sql_identifier(c.name)}::varchar, 200)"
        for c in columns
        if c.name in batch.column_names
    )
    select = ", ".join(f"{values[c.name]} as {c.name}" for c in columns)
    problem = f"coalesce(row_problem, case {uncast} end)" if uncast else "row_problem"
    return f"""
    create or replace temp view native_candidates as
    select {select}, line_no, 0 as ordinal, {problem} as parse_problem
    from native_records as r
    """


_RAW_SQL = """
select line_no, 0 as ordinal, to_json(r)::varchar as raw
from native_records as r semi join {rows} using (line_no)
"""


def _parser(table: Table):
    def parse(
        con, batch: pa.Table, lineage: Lineage, *, keep_content: bool, seen: SeenRows
    ) -> ParsedBatch:
        con.register("native_records", batch)
        try:
            con.execute(_candidates_sql(batch, table))
            checked = split.check(
                con, "native_candidates", table, seen=seen if table is SPANS else None
            )
            return ParsedBatch(
                rows={table.name: split.accepted(con, checked, table, lineage)},
                quarantine=split.rejected(con, checked, _RAW_SQL, table, lineage),
                records_read=batch.num_rows,
            )
        finally:
            con.unregister("native_records")

    return parse


PARSERS = {SPANS_FORMAT: _parser(SPANS), EVALUATIONS_FORMAT: _parser(EVALUATIONS)}
