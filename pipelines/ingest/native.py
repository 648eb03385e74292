"""Native exports: JSON Lines or Parquet already in a canonical table's schema.

For teams with their own logging (README, "Native format"): one record per row, named
exactly as the canonical columns in `schemas.py`. Lineage columns are set by the
ingest, not read. Text values are cast to the declared types; a value that does not
cast quarantines its row naming the column. `attributes` may be a JSON object or a
Parquet map; `duration_ms` may be left out (or null) and is then computed from the timestamps.
"""

from __future__ import annotations

from functools import partial

import pyarrow as pa

from pipelines.db import sql_identifier
from pipelines.ingest import split
from pipelines.ingest.split import SQL_TYPES
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
    return f"try_cast({ref} as {SQL_TYPES[arrow_type]})"


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
        f"'{c.name}|cannot be read as {SQL_TYPES[c.type]}: ' "
        f"|| left(r.{sql_identifier(c.name)}::varchar, 200)"
        for c in columns
        if c.name in batch.column_names
    )
    problem = f"coalesce(r.row_problem, case {uncast} end)" if uncast else "r.row_problem"
    return split.candidates_sql(table, values, problem=problem)


PARSERS = {
    SPANS_FORMAT: split.record_parser(SPANS, partial(_candidates_sql, table=SPANS)),
    EVALUATIONS_FORMAT: split.record_parser(
        EVALUATIONS, partial(_candidates_sql, table=EVALUATIONS), dedupe=False
    ),
    EVAL_RESULTS_FORMAT: split.record_parser(
        EVAL_RESULTS, partial(_candidates_sql, table=EVAL_RESULTS)
    ),
}
