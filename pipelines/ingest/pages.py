"""Read a billing API page (OpenAI / Anthropic Admin API JSON) as one batch of records.

A page is one JSON document: `{data: [bucket, …], has_more, next_page}`, each bucket
`{start_time | starting_at, end_time | ending_at, results: [result, …]}`. Pages are small
(an API page holds at most a few thousand results), so the document is read whole, with
Python's json and exact decimals: an amount keeps every digit the provider sent, whether
it came as a number or as a string.

Each result becomes a record: `line_no` = the bucket's 1-based position in `data`,
`ordinal` = the result's 0-based position in `results` (so a quarantine row's
`record_index` is the result's 1-based position), `bucket_start` / `bucket_end` as ISO
text, `bucket_start_unreadable` / `bucket_end_unreadable` (what to say when a bound does not
read as a time, e.g. unix seconds of 1e20), `raw` (the result as JSON), `row_problem`, and
every field of the result as text, nested objects flattened to dotted names
(`amount.value`, `cache_creation.ephemeral_5m_input_tokens`).

A bad value quarantines its result, never the page: bucket bounds that are no time,
amounts and counts that do not cast (see `cast_problems`). Only a document that cannot be
read at all (not JSON, nested deeper than the reader goes, no `data` list) makes
`UnreadablePage`, and the caller sets the file aside.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from pipelines.db import sql_identifier, sql_string
from pipelines.ingest import split
from pipelines.ingest.lines import open_text
from pipelines.ingest.records import usable_keys
from pipelines.schemas import MONEY

MONEY_SQL = split.SQL_TYPES[MONEY]  # what a billed amount must fit
BUCKET_START_SQL = "try_cast(r.bucket_start as timestamptz)"  # a record's bucket bounds
BUCKET_END_SQL = "try_cast(r.bucket_end as timestamptz)"
# The canonical columns a bucket's bounds fill, per table (see `bound_problems`).
BILLING_COSTS_BOUNDS = ("charge_period_start", "charge_period_end")
BILLING_USAGE_BOUNDS = ("bucket_start_at", "bucket_end_at")
RECORD_COLUMNS = (
    "line_no",
    "ordinal",
    "bucket_start",
    "bucket_end",
    "bucket_start_unreadable",
    "bucket_end_unreadable",
    "raw",
    "row_problem",
)
BOUNDS = {"start": ("start_time", "starting_at"), "end": ("end_time", "ending_at")}


class UnreadablePage(ValueError):
    """The file is not an API page at all; the message says why."""


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | int | str):
        return str(value)
    return json.dumps(value, default=str)


def _moment(value) -> str | None:
    """A bucket boundary as ISO text: unix seconds (OpenAI) or RFC 3339 (Anthropic); None
    when it is no time at all (seconds beyond the years 1–9999, NaN, true, an object)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        seconds = value if isinstance(value, int) else float(value)
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except (OverflowError, ValueError, OSError):  # out of datetime's range, or NaN
        return None


def _bound(bucket: dict, bound: str) -> dict[str, str | None]:
    """A bucket's start or end: its ISO text, and what to say if that is no time."""
    name = next((n for n in BOUNDS[bound] if n in bucket), BOUNDS[bound][0])
    value = bucket.get(name)
    unreadable = (
        f"{name} cannot be read as a time: {_text(value)[:200]}" if value is not None else None
    )
    return {f"bucket_{bound}": _moment(value), f"bucket_{bound}_unreadable": unreadable}


def flatten(result: dict, prefix: str = "") -> dict[str, str | None]:
    """A result's fields as text; nested objects become dotted names."""
    fields: dict[str, str | None] = {}
    for key, value in result.items():
        if isinstance(value, dict) and value:
            fields.update(flatten(value, f"{prefix}{key}."))
        else:
            fields[f"{prefix}{key}"] = _text(value)
    return fields


def _records(document: dict) -> Iterator[dict]:
    for bucket_no, bucket in enumerate(document["data"], start=1):
        if not isinstance(bucket, dict):
            yield {"line_no": bucket_no, "ordinal": 0, "raw": _text(bucket),
                   "row_problem": "|a bucket must be a JSON object"}  # fmt: skip
            continue
        bounds = {**_bound(bucket, "start"), **_bound(bucket, "end")}
        results = bucket.get("results")
        if not isinstance(results, list):
            yield {"line_no": bucket_no, "ordinal": 0, "raw": _text(bucket),
                   "row_problem": "results|a bucket must hold a `results` list"}  # fmt: skip
            continue
        for ordinal, result in enumerate(results):
            record = {"line_no": bucket_no, "ordinal": ordinal, **bounds, "raw": _text(result)}
            if isinstance(result, dict):
                fields = flatten(result)
                record.update({k: v for k, v in fields.items() if k not in RECORD_COLUMNS})
            else:
                record["row_problem"] = "|a result must be a JSON object"
            yield record


def page_batches(path: Path) -> Iterator[pa.Table]:
    """The page's results as one Arrow batch of text columns (see the module doc)."""
    try:
        with open_text(path) as handle:
            document = json.load(handle, parse_float=Decimal)
        if not isinstance(document, dict) or not isinstance(document.get("data"), list):
            raise UnreadablePage("not an API page: no top-level `data` list of buckets")
        records = list(_records(document))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UnreadablePage(f"not a JSON document ({error})") from error
    except RecursionError as error:  # json reads (and writes) nested values recursively
        raise UnreadablePage(
            f"JSON nested deeper than the reader allows (about {sys.getrecursionlimit()} "
            "levels of arrays and objects); no billing API page is nested like this"
        ) from error
    fields = dict.fromkeys(k for record in records for k in record if k not in RECORD_COLUMNS)
    names = [*RECORD_COLUMNS, *usable_keys(fields, reserved=RECORD_COLUMNS)]
    columns = {
        name: pa.array(
            [r.get(name) for r in records],
            pa.int64() if name in ("line_no", "ordinal") else pa.string(),
        )
        for name in names
    }
    yield pa.table(columns)


def field(batch: pa.Table, name: str) -> str:
    """SQL for a record field as text (NULL when no record of the page has it)."""
    if name in batch.column_names:
        return f"r.{sql_identifier(name)}"
    return "cast(null as varchar)"


def read_sql(text: str, kind: str) -> str:
    """SQL reading `text` as SQL type `kind`, NULL when it does not read. A bigint must be
    a whole number: DuckDB alone would round '1.5' to 2."""
    if kind == "bigint":
        return (
            f"case when try_cast({text} as double) = try_cast({text} as bigint) "
            f"then try_cast({text} as bigint) end"
        )
    return f"try_cast({text} as {kind})"


def sum_counts_sql(*counts: str) -> str:
    """SQL adding bigint counts without overflow: a sum past the bigint range is the
    largest bigint, so the count rule (at most `MAX_COUNT`) quarantines it."""
    total = " + ".join(f"coalesce({c}, 0)::hugeint" for c in counts)
    return f"cast(least({total}, {2**63 - 1}) as bigint)"


def bound_problems(start_column: str, end_column: str) -> str:
    """SQL `when` clauses naming a bucket bound that is present but no time."""
    return " ".join(
        f"when {sql} is null and r.bucket_{bound}_unreadable is not null "
        f"then '{column}|' || r.bucket_{bound}_unreadable"
        for bound, sql, column in (
            ("start", BUCKET_START_SQL, start_column),
            ("end", BUCKET_END_SQL, end_column),
        )
    )


def cast_problems(
    batch: pa.Table,
    casts: dict[str, tuple[str, str]],
    *,
    bounds: tuple[str, str],
    non_negative: Iterable[str] = (),
) -> str:
    """SQL naming the first field whose text does not read: a bucket bound (`bounds`: the
    canonical start and end columns), then `casts`, mapping a source field to (canonical
    column, SQL type); a field in `non_negative` must also be at least 0."""
    whens = [bound_problems(*bounds)]
    for source, (column, kind) in casts.items():
        ref = field(batch, source)
        whens.append(
            f"when {ref} is not null and {read_sql(ref, kind)} is null "
            f"then '{column}|{source} cannot be read as {kind}: ' || left({ref}, 200)"
        )
        if source in non_negative:
            whens.append(
                f"when {read_sql(ref, kind)} < 0 "
                f"then '{column}|{source} must be at least 0, got ' || {ref}"
            )
    return f"coalesce(r.row_problem, case {' '.join(whens)} end)"


def extras(batch: pa.Table, used: set[str]) -> str:
    """SQL map of every field of the record not mapped to a canonical column."""
    rest = [n for n in batch.column_names if n not in used and n not in RECORD_COLUMNS]
    entries = ", ".join(f"{{k: {sql_string(n)}, v: {field(batch, n)}}}" for n in rest)
    return (
        f"map_from_entries(list_filter([{entries}], lambda e: e.v is not null))"
        if rest
        else "cast(map() as map(varchar, varchar))"
    )


RAW_SQL = f"""
select line_no, ordinal, raw from {split.RECORDS} as r semi join {{rows}} using (line_no, ordinal)
"""
