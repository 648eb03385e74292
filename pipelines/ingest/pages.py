"""Read a billing API page (OpenAI / Anthropic Admin API JSON) as one batch of records.

A page is one JSON document: `{data: [bucket, …], has_more, next_page}`, each bucket
`{start_time | starting_at, end_time | ending_at, results: [result, …]}`. Pages are small
(an API page holds at most a few thousand results), so the document is read whole, with
Python's json and exact decimals: an amount keeps every digit the provider sent, whether
it came as a number or as a string.

Each result becomes a record: `line_no` = the bucket's 1-based position in `data`,
`ordinal` = the result's 0-based position in `results` (so a quarantine row's
`record_index` is the result's 1-based position), `bucket_start` / `bucket_end` as ISO
text, `raw` (the result as JSON), `row_problem`, and every field of the result as text,
nested objects flattened to dotted names (`amount.value`,
`cache_creation.ephemeral_5m_input_tokens`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
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
RECORD_COLUMNS = ("line_no", "ordinal", "bucket_start", "bucket_end", "raw", "row_problem")


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
    """A bucket boundary as ISO text: unix seconds (OpenAI) or RFC 3339 (Anthropic)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).isoformat()
    return value if isinstance(value, str) else None


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
        start = _moment(bucket.get("start_time", bucket.get("starting_at")))
        end = _moment(bucket.get("end_time", bucket.get("ending_at")))
        results = bucket.get("results")
        if not isinstance(results, list):
            yield {"line_no": bucket_no, "ordinal": 0, "raw": _text(bucket),
                   "row_problem": "results|a bucket must hold a `results` list"}  # fmt: skip
            continue
        for ordinal, result in enumerate(results):
            record = {"line_no": bucket_no, "ordinal": ordinal, "bucket_start": start,
                      "bucket_end": end, "raw": _text(result)}  # fmt: skip
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
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UnreadablePage(f"not a JSON document ({error})") from error
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise UnreadablePage("not an API page: no top-level `data` list of buckets")
    records = list(_records(document))
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


def cast_problems(
    batch: pa.Table, casts: dict[str, tuple[str, str]], *, counts: bool = False
) -> str:
    """SQL naming the first field whose text does not cast: `casts` maps a source field
    to (canonical column, SQL type). With `counts`, a negative value is a problem too."""
    whens = []
    for source, (column, kind) in casts.items():
        ref = field(batch, source)
        whens.append(
            f"when {ref} is not null and try_cast({ref} as {kind}) is null "
            f"then '{column}|{source} cannot be read as {kind}: ' || left({ref}, 200)"
        )
        if counts:
            whens.append(
                f"when try_cast({ref} as {kind}) < 0 "
                f"then '{column}|{source} must be at least 0, got ' || {ref}"
            )
    return f"coalesce(r.row_problem, case {' '.join(whens)} end)" if whens else "r.row_problem"


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
