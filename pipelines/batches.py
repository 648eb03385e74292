"""Split a full build into batches of whole cases, so its memory stays bounded.

A full build runs the slice models once per batch. Each case (and every trace of it)
must fall in exactly one batch, or its totals would be split. So:
1. the lake's span days are grouped into runs of about `spans_per_batch` spans (row
   counts from the Parquet footers, no scan);
2. one narrow pass reads (trace, case, day) for every span: a trace starts in the batch
   of its first day;
3. every trace of a case joins the case's earliest batch, repeatedly, until no trace
   moves (a trace may carry spans of two cases, so this is a closure, not one step);
4. each batch reads only the day partitions its traces have spans on.
A lake of one batch skips steps 2–4 and reads everything, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.db import read_parquet_sql, sql_identifier
from pipelines.ingest import lake

MAX_ROUNDS = 20


@dataclass(frozen=True)
class Batch:
    number: int
    days: tuple[date, ...]  # span partitions its traces have spans on
    whole_lake: bool = False


def day_batches(span_files: list[Path], spans_per_batch: int) -> dict[date, int]:
    """Batch number of each span day: consecutive days, about `spans_per_batch` each."""
    rows: dict[date, int] = {}
    for path in span_files:
        day = lake.partition_day(path)
        rows[day] = rows.get(day, 0) + pq.ParquetFile(path).metadata.num_rows
    numbers, number, filled = {}, 0, 0
    for day in sorted(rows):
        if filled and filled + rows[day] > spans_per_batch:
            number, filled = number + 1, 0
        numbers[day] = number
        filled += rows[day]
    return numbers


def plan_batches(con, span_files: list[Path], spans_per_batch: int) -> list[Batch]:
    """The batches of a full build; leaves table `batch_traces` (trace_id, batch) behind
    when there is more than one."""
    numbers = day_batches(span_files, spans_per_batch)
    if len(set(numbers.values())) <= 1:
        return [Batch(0, tuple(sorted(numbers)), whole_lake=True)]
    day_numbers = ", ".join(f"(date '{d}', {n})" for d, n in numbers.items())
    con.execute(
        "create or replace temp table batch_spans as "
        "select distinct trace_id, coalesce(conversation_id, trace_id) as case_key, day "
        f"from {read_parquet_sql(span_files)}"
    )
    con.execute(
        "create or replace temp table batch_traces as "
        "select trace_id, min(batch) as batch from batch_spans "
        f"join (values {day_numbers}) as days(day, batch) using (day) group by trace_id"
    )
    for _ in range(MAX_ROUNDS):
        (moved,) = con.execute(
            "with case_batch as ("
            "  select case_key, min(batch) as batch from batch_spans "
            "  join batch_traces using (trace_id) group by case_key), "
            "trace_batch as ("
            "  select trace_id, min(case_batch.batch) as batch from batch_spans "
            "  join case_batch using (case_key) group by trace_id) "
            "update batch_traces set batch = trace_batch.batch from trace_batch "
            "where batch_traces.trace_id = trace_batch.trace_id "
            "and trace_batch.batch < batch_traces.batch"
        ).fetchone()
        if not moved:
            break
    else:
        raise RuntimeError("cases did not settle into batches; please report this lake")
    batch_days: dict[int, list[date]] = {}
    for number, day in con.execute(
        "select distinct batch, day from batch_spans join batch_traces using (trace_id) "
        "order by all"
    ).fetchall():
        batch_days.setdefault(number, []).append(day)
    con.execute("drop table batch_spans")
    return [Batch(n, tuple(days)) for n, days in sorted(batch_days.items())]


def select_batch(con, batch: Batch, catalog: str, span_files: list[Path]) -> None:
    """Point the slice catalog's `lake_spans` and `lake_evaluations` at the batch's traces."""
    if batch.whole_lake:
        return  # the slice reads the warehouse's lake views
    warehouse = f"{sql_identifier(catalog)}.main"
    days = set(batch.days)
    files = [p for p in span_files if lake.partition_day(p) in days]
    traces = f"(select trace_id from temp.main.batch_traces where batch = {batch.number})"
    con.execute(
        f"create view slice.main.lake_spans as select * from {read_parquet_sql(files)} "
        f"where trace_id in {traces}"
    )
    con.execute(
        "create view slice.main.lake_evaluations as select * from "
        f"{warehouse}.lake_evaluations where trace_id in {traces}"
    )
