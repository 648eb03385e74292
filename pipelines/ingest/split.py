"""Split a parser's candidate rows into accepted rows and quarantine rows with a reason.

Every parser leaves, for each canonical table it fills, a DuckDB view of *candidates*:
the table's columns (without lineage), plus
- `line_no`: the 1-based line (or record) of the source file,
- `ordinal`: orders records within a line (0 when a line holds one record),
- `parse_problem`: `'field|reason'` when the parser already knows the record is bad;
and a query giving (line_no, ordinal, raw): the record as text, made only for rejects.
The row checks themselves come from the `Column` rules in `schemas.py`, so every format
is held to the same rules, and the rules live in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from pipelines.db import sql_identifier, sql_string
from pipelines.ingest.seen import SeenRows, key_sql
from pipelines.schemas import (
    LINEAGE,
    MONEY,
    PLAUSIBLE_FROM,
    PLAUSIBLE_UNTIL,
    QUARANTINE,
    STRING_MAP,
    TIMESTAMP,
    Table,
)

SQL_TYPES = {  # the DuckDB type of each canonical column type
    pa.string(): "varchar",
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    TIMESTAMP: "timestamptz",
    STRING_MAP: "map(varchar, varchar)",
    MONEY: f"decimal({MONEY.precision}, {MONEY.scale})",
}
RECORDS = "batch_records"  # what `record_parser` registers a batch as (alias `r` in SQL)
# Raw text of rejected records when a line holds one record.
LINE_RAW_SQL = f"""
select line_no, 0 as ordinal, to_json(r)::varchar as raw
from {RECORDS} as r semi join {{rows}} using (line_no)
"""


def plausible_bound_sql(variable: str, default: datetime) -> str:
    """A plausible-range bound: the connection's variable (see `set_plausible_range`),
    else the schema's default."""
    return f"coalesce(getvariable('{variable}'), timestamptz '{default.isoformat()}')"


PLAUSIBLE_FROM_SQL = plausible_bound_sql("plausible_from", PLAUSIBLE_FROM)
PLAUSIBLE_UNTIL_SQL = plausible_bound_sql("plausible_until", PLAUSIBLE_UNTIL)


def set_plausible_range(con, earliest: datetime, until: datetime) -> None:
    """Set the timestamps a parse on `con` accepts: earliest <= t < until."""
    con.execute("set variable plausible_from = $t::timestamptz", {"t": earliest})
    con.execute("set variable plausible_until = $t::timestamptz", {"t": until})


LINEAGE_SQL = ", ".join(f"${c.name} as {c.name}" for c in LINEAGE).replace(
    "$ingested_at as", "$ingested_at::timestamptz as"
)


@dataclass(frozen=True)
class Lineage:
    source_format: str
    source_file: str
    ingested_at: datetime

    @property
    def params(self) -> dict:
        return {
            "source_format": self.source_format,
            "source_file": self.source_file,
            "ingested_at": self.ingested_at,
        }


def problem_sql(table: Table) -> str:
    """SQL naming the first rule of `table` a row breaks, as 'field|reason', else NULL."""
    whens = []
    for column in table.ruled_columns:
        name, ref = column.name, sql_identifier(column.name)
        if column.required:
            whens.append(f"when {ref} is null then '{name}|is required but missing'")
        if column.pattern:
            whens.append(
                f"when not regexp_full_match({ref}, {sql_string(column.pattern)}) "
                f"then '{name}|must match {column.pattern}, got ' || {ref}"
            )
        if column.allowed:
            values = ", ".join(sql_string(v) for v in column.allowed)
            whens.append(
                f"when {ref} not in ({values}) "
                f"then '{name}|must be one of {'/'.join(column.allowed)}, got ' || {ref}"
            )
        if column.type == pa.float64():
            whens.append(
                f"when isnan({ref}) or isinf({ref}) "
                f"then '{name}|must be a finite number, got ' || {ref}"
            )
        if column.type == TIMESTAMP:
            whens.append(
                f"when {ref} < {PLAUSIBLE_FROM_SQL} or {ref} >= {PLAUSIBLE_UNTIL_SQL} "
                f"then '{name}|must be on or after ' || strftime({PLAUSIBLE_FROM_SQL}, "
                f"'%Y-%m-%d') || ' and before ' || strftime({PLAUSIBLE_UNTIL_SQL}, '%Y-%m-%d') "
                f"|| ' (FLEETLEDGER_PLAUSIBLE_FROM/_UNTIL), got ' || {ref}"
            )
        if column.min_value is not None:
            whens.append(
                f"when {ref} < {column.min_value} "
                f"then '{name}|must be at least {column.min_value:g}, got ' || {ref}"
            )
        if column.max_value is not None:
            whens.append(
                f"when {ref} > {column.max_value} "
                f"then '{name}|must be at most {column.max_value:g}, got ' || {ref}"
            )
        if column.after:
            other = sql_identifier(column.after)
            whens.append(
                f"when {ref} <= {other} then '{name}|must be after {column.after} ('"
                f" || {other} || '), got ' || {ref}"
            )
    return "case " + " ".join(whens) + " end" if whens else "null"


def check(con, view: str, table: Table, *, seen: SeenRows | None = None) -> str:
    """Materialise `view`'s candidates with their `problem` (NULL when accepted).

    With `seen` (rows already stored), a row whose `table.key` was stored before, or is
    repeated within the batch, is a duplicate: the first copy wins. The view is evaluated
    once: its rows are materialised with their key and rule problem, the days they touch
    are read from them, and the duplicates are marked on them. `passes_rules` says which
    rows break no rule (accepted or duplicate). Returns the name of the checked table.
    """
    checked = f"{view}_checked"
    problem = f"coalesce(parse_problem, {problem_sql(table)})"
    if seen is None:
        con.execute(
            f"create or replace temp table {checked} as select *, {problem} as problem from {view}"
        )
        return checked
    stored = seen.of(table)
    con.execute(f"""
        create or replace temp table {checked} as
        select *, problem is null as passes_rules
        from (select *, {key_sql(table)} as row_key, {problem} as problem from {view})
    """)
    stored.load_days_of(checked)
    field, noun = table.key[-1], table.row_noun
    # Only the keys are read again, and only the (rare) duplicates are written.
    con.execute(f"""
        update {checked} set problem = duplicates.problem
        from (
            select line_no, ordinal, case
                when seen.source_file is not null
                    then '{field}|duplicate: this {noun} is already stored from '
                        || seen.source_file
                else '{field}|duplicate: the same {noun} appears earlier in this file'
                end as problem
            from (
                select line_no, ordinal, row_key,
                    row_number() over (partition by row_key order by line_no, ordinal) as copy_no
                from {checked} where passes_rules
            ) as copies
            left join {stored.name} as seen using (row_key)
            where seen.row_key is not null or copies.copy_no > 1
            qualify row_number() over (
                partition by line_no, ordinal order by seen.source_file nulls last) = 1
        ) as duplicates
        where {checked}.line_no = duplicates.line_no and {checked}.ordinal = duplicates.ordinal
    """)
    stored.remember(checked)
    return checked


def accepted(con, checked: str, table: Table, lineage: Lineage) -> pa.Table:
    """Checked rows that break no rule, with lineage, cast to the canonical schema (a
    map column may come as its list of entries, see `entries_as_maps`)."""
    columns = ", ".join(sql_identifier(c.name) for c in table.source_columns)
    sql = f"select {columns}, {LINEAGE_SQL} from {checked} where problem is null"
    rows = con.sql(sql, params=lineage.params).to_arrow_table()
    return entries_as_maps(rows, table.arrow_schema).cast(table.arrow_schema)


def entries_as_maps(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`rows` with each column that `schema` types as a map but that holds lists of
    entries (key, value: their first and second fields, whatever their names) made a map
    of those entries, in their order (Arrow builds it from the lists' buffers; DuckDB's
    map functions check every key, and cost more). The entries' keys must be distinct:
    the parser's SQL makes them so."""
    for index, name in enumerate(rows.column_names):
        target, column = schema.field(name).type, rows.column(index)
        if not (pa.types.is_map(target) and pa.types.is_list(column.type)):
            continue
        chunks = [
            pa.MapArray.from_arrays(
                chunk.offsets,
                chunk.values.field(0),
                chunk.values.field(1),
                type=target,
                mask=chunk.is_null() if chunk.null_count else None,
            )
            for chunk in column.chunks
        ]
        rows = rows.set_column(index, name, pa.chunked_array(chunks, target))
    return rows


def rejected(con, checked: str, raw_sql: str, table: Table, lineage: Lineage) -> pa.Table:
    """Checked rows that break a rule, as quarantine rows naming field and reason.

    `raw_sql` selects (line_no, ordinal, raw) of the rows in `{rows}` (semi-join it on
    the scan, so the raw text is only made for rejected rows).
    `record_index` is the record's 1-based position within its line; it is numbered only
    over lines that hold a rejected record, so the common all-good case costs nothing.
    """
    sql = f"""
        with bad_lines as (select distinct line_no from {checked} where problem is not null),
        numbered as (
            select line_no, ordinal, problem,
                row_number() over (partition by line_no order by ordinal) as record_index
            from {checked} semi join bad_lines using (line_no)
        ),
        raw as ({raw_sql.format(rows="numbered")})
        select {sql_string(table.name)} as table_name, line_no, record_index,
            nullif(split_part(problem, '|', 1), '') as field,
            substr(problem, length(split_part(problem, '|', 1)) + 2) as reason,
            coalesce(raw, 'null') as raw, {LINEAGE_SQL}
        from numbered join raw using (line_no, ordinal)
        where problem is not null
    """
    return con.sql(sql, params=lineage.params).to_arrow_table().cast(QUARANTINE.arrow_schema)


def quarantine_rows(con, sql: str, table: Table, lineage: Lineage) -> pa.Table:
    """Quarantine rows from a query giving (line_no, record_index, field, reason, raw)."""
    wrapped = f"""
        select {sql_string(table.name)} as table_name, line_no, record_index, field, reason,
            coalesce(raw, 'null') as raw, {LINEAGE_SQL}
        from ({sql})
    """
    return con.sql(wrapped, params=lineage.params).to_arrow_table().cast(QUARANTINE.arrow_schema)


def candidates_sql(table: Table, values: dict[str, str], *, problem: str, ordinal: str = "0"):
    """The candidates query of a record parser for `table`: `values` maps source columns to
    SQL over the batch (`r`); columns it leaves out are typed NULLs."""
    unknown = set(values) - {c.name for c in table.source_columns}
    if unknown:
        raise ValueError(f"not source columns of {table.name}: {', '.join(sorted(unknown))}")
    select = ",\n        ".join(
        f"{values.get(c.name, f'cast(null as {SQL_TYPES[c.type]})')} as {sql_identifier(c.name)}"
        for c in table.source_columns
    )
    return f"""
    select {select},
        r.line_no, {ordinal} as ordinal, {problem} as parse_problem
    from {RECORDS} as r
    """


def record_parser(
    table: Table,
    candidates: Callable[[pa.Table], str],
    raw_sql: str = LINE_RAW_SQL,
    *,
    dedupe: bool = True,
):
    """A Format parse function for batches whose records each make at most one row of
    `table`: `candidates(batch)` is the candidates query over `RECORDS` (see the module
    doc); `raw_sql` gives the raw text of rejected records (see `rejected`). With `dedupe`,
    a row whose key is already stored is a duplicate (see `check`)."""

    def parse(con, batch: pa.Table, lineage: Lineage, *, keep_content: bool, seen) -> ParsedBatch:
        con.register(RECORDS, batch)
        try:
            con.execute(f"create or replace temp view batch_candidates as {candidates(batch)}")
            checked = check(con, "batch_candidates", table, seen=seen if dedupe else None)
            return ParsedBatch(
                rows={table.name: accepted(con, checked, table, lineage)},
                quarantine=rejected(con, checked, raw_sql, table, lineage),
                records_read=batch.num_rows,
            )
        finally:
            con.unregister(RECORDS)

    return parse


@dataclass(frozen=True)
class ParsedBatch:
    """What a parser made of one batch: accepted rows per canonical table, quarantine
    rows, and the number of records it read (counted from the input, independently)."""

    rows: dict[str, pa.Table]
    quarantine: pa.Table
    records_read: int
