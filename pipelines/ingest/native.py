"""Native exports: JSON Lines or Parquet already in a canonical table's schema.

For teams with their own logging (README, "Native format"): one record per row, named
exactly as the canonical columns in `schemas.py`. Lineage columns are set by the
ingest, not read. Text values are cast to the declared types; a value that does not
cast quarantines its row naming the column (a count must be a whole number: 1.5 is not
one). `attributes` may be a JSON object or a Parquet map; unless `keep_content`, its
content keys (prompts and responses, see `content`) keep only their length and hash.
`duration_ms` may be left out (or null) and is then computed from the timestamps.
Every table is deduplicated on its key: a row already stored (from this file or another)
is quarantined as a duplicate.
"""

from __future__ import annotations

from functools import partial

import pyarrow as pa

from pipelines.db import sql_identifier
from pipelines.ingest import split
from pipelines.ingest.content import redacted_map_sql
from pipelines.ingest.pages import read_sql
from pipelines.ingest.split import SQL_TYPES, Lineage, ParsedBatch
from pipelines.schemas import EVAL_RESULTS, EVALUATIONS, SPANS, STRING_MAP, Table

SPANS_FORMAT = "native_spans"
EVALUATIONS_FORMAT = "native_evaluations"
EVAL_RESULTS_FORMAT = "native_eval_results"


def _value(batch: pa.Table, name: str, arrow_type: pa.DataType) -> str:
    """SQL reading column `name` of the batch as `arrow_type`, NULL when it does not cast."""
    if name not in batch.column_names:
        return f"cast(null as {SQL_TYPES[arrow_type]})"
    ref = f"r.{sql_identifier(name)}"
    if arrow_type == STRING_MAP and pa.types.is_string(batch.schema.field(name).type):
        return f"try_cast(try_cast({ref} as json) as map(varchar, varchar))"
    return read_sql(ref, SQL_TYPES[arrow_type])


def _candidates_sql(batch: pa.Table, table: Table, keep_content: bool) -> str:
    columns = table.source_columns
    values = {c.name: _value(batch, c.name, c.type) for c in columns}
    uncast = " ".join(
        f"when r.{sql_identifier(c.name)} is not null and {values[c.name]} is null then "
        f"'{c.name}|cannot be read as {SQL_TYPES[c.type]}: ' "
        f"|| left(r.{sql_identifier(c.name)}::varchar, 200)"
        for c in columns
        if c.name in batch.column_names
    )
    if table is SPANS:
        # optional: computed from the timestamps when not given (in hugeint: any two
        # timestamps DuckDB reads are apart by less than it holds, but not always bigint)
        values["duration_ms"] = (
            f"coalesce({values['duration_ms']}, (epoch_us({values['ended_at']})::hugeint "
            f"- epoch_us({values['started_at']})) / 1000.0)"
        )
        values["attributes"] = redacted_map_sql(
            f"map_entries({values['attributes']})", keep_content=keep_content
        )
    problem = f"coalesce(r.row_problem, case {uncast} end)" if uncast else "r.row_problem"
    return split.candidates_sql(table, values, problem=problem)


def _parser(table: Table):
    """A Format parse function for `table` (see `split.record_parser`), its candidates
    made with the run's `keep_content`."""
    parsers = {
        keep: split.record_parser(table, partial(_candidates_sql, table=table, keep_content=keep))
        for keep in (False, True)
    }

    def parse(con, batch: pa.Table, lineage: Lineage, *, keep_content: bool, seen) -> ParsedBatch:
        return parsers[keep_content](con, batch, lineage, keep_content=keep_content, seen=seen)

    return parse


PARSERS = {
    SPANS_FORMAT: _parser(SPANS),
    EVALUATIONS_FORMAT: _parser(EVALUATIONS),
    EVAL_RESULTS_FORMAT: _parser(EVAL_RESULTS),
}
