"""Split a build into batches of whole cases, so its memory stays bounded.

A build (full, or incremental over the traces it touches) runs the slice models once
per batch. Each case (and every trace of it) must fall in exactly one batch, or its
totals would be split. So:
1. if the span files' row counts (Parquet footers, no scan) fit in one batch, there is
   one batch and no pass;
2. else one narrow pass counts the spans of every (trace, case, day) — of the given
   traces only, on an incremental build;
3. the days are packed into runs of about `spans_per_batch` spans; a day holding more is
   cut into the fewest batches that hold it, whole cases each (cases in hash order, cut
   where the running count crosses a batch's share: a batch exceeds its share by less
   than one case); a trace starts in the batch of its earliest case;
4. every trace of a case joins the case's earliest batch, repeatedly, until no trace
   moves (a trace may carry spans of two cases, so this is a closure, not one step);
   batches left empty are dropped and the rest numbered 0, 1, …;
5. each batch reads only the day partitions its traces have spans on.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.db import read_parquet_sql, sql_identifier, sql_list
from pipelines.ingest import lake

MAX_ROUNDS = 20


@dataclass(frozen=True)
class Batch:
    number: int
    days: tuple[date, ...]  # span partitions its traces have spans on
    whole_lake: bool = False  # the only batch: every span of the files (of the traces)


def footer_rows(span_files: list[Path]) -> dict[date, int]:
    """Spans per day partition, from the Parquet footers (no scan)."""
    rows: dict[date, int] = {}
    for path in span_files:
        day = lake.partition_day(path)
        where, filesystem = lake.arrow_location(path)  # a local path, or one on S3
        rows[day] = (
            rows.get(day, 0) + pq.ParquetFile(where, filesystem=filesystem).metadata.num_rows
        )
    return rows


def pack_days(rows: dict[date, int], spans_per_batch: int) -> dict[date, tuple[int, int]]:
    """(first batch, number of batches) of each day: consecutive days share a batch up to
    `spans_per_batch` spans; a day holding more gets the fewest batches that hold it."""
    packed: dict[date, tuple[int, int]] = {}
    number, filled = 0, 0
    for day in sorted(rows):
        if filled and filled + rows[day] > spans_per_batch:
            number, filled = number + 1, 0
        parts = max(1, math.ceil(rows[day] / spans_per_batch))
        packed[day] = (number, parts)
        if parts > 1:
            number, filled = number + parts, 0
        else:
            filled += rows[day]
    return packed


def day_batches(span_files: list[Path], spans_per_batch: int) -> dict[date, int]:
    """First batch number of each span day: consecutive days, about `spans_per_batch` each."""
    packed = pack_days(footer_rows(span_files), spans_per_batch)
    return {day: first for day, (first, _) in packed.items()}


def plan_batches(
    con, span_files: list[Path], spans_per_batch: int, traces: str | None = None
) -> list[Batch]:
    """The batches of a build over `span_files` — only the traces in relation `traces`
    (a table with a trace_id column) when given; leaves table `batch_traces`
    (trace_id, batch) behind when there is more than one."""
    rows = footer_rows(span_files)
    if sum(rows.values()) <= spans_per_batch:
        return [Batch(0, tuple(sorted(rows)), whole_lake=True)]
    chosen = f"where trace_id in (select trace_id from {traces})" if traces else ""
    con.execute(
        "create or replace temp table batch_spans as "
        "select trace_id, coalesce(conversation_id, trace_id) as case_key, day, "
        f"count(*) as n_spans from {read_parquet_sql(span_files)} {chosen} group by all"
    )
    counted = dict(con.execute("select day, sum(n_spans) from batch_spans group by day").fetchall())
    if sum(counted.values()) <= spans_per_batch:  # the traces asked for are few
        con.execute("drop table batch_spans")
        return [Batch(0, tuple(sorted(counted)), whole_lake=True)]
    _place_traces(con, pack_days(counted, spans_per_batch))
    _close_over_cases(con)
    batch_days: dict[int, list[date]] = {}
    for number, day in con.execute(
        "select distinct batch, day from batch_spans join batch_traces using (trace_id) "
        "order by all"
    ).fetchall():
        batch_days.setdefault(number, []).append(day)
    con.execute("drop table batch_spans")
    return [Batch(n, tuple(days)) for n, days in sorted(batch_days.items())]


def _place_traces(con, packed: dict[date, tuple[int, int]]) -> None:
    """Table `batch_traces`: each trace in the batch of its earliest case. A day of
    several batches is cut at running span counts over its cases in hash order, so
    each case stays whole and the batches get about equal shares."""
    days = ", ".join(f"(date '{day}', {first}, {parts})" for day, (first, parts) in packed.items())
    con.execute(
        "create or replace temp table batch_traces as "
        "with cases as ("
        "  select day, case_key, sum(n_spans) as n_spans from batch_spans group by all), "
        "placed as ("
        "  select day, case_key, first_batch + least(parts - 1, cast(floor("
        "    (sum(n_spans) over (partition by day order by hash(case_key), case_key) - n_spans)"
        "    * parts / sum(n_spans) over (partition by day)) as integer)) as batch "
        f"  from cases join (values {days}) as days(day, first_batch, parts) using (day)) "
        "select trace_id, min(batch) as batch from batch_spans "
        "join placed using (day, case_key) group by trace_id"
    )


def _close_over_cases(con) -> None:
    """Move every trace of a case to the case's earliest batch until none moves, then
    number the batches left 0, 1, … (a batch whose traces all moved is gone)."""
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
    con.execute(
        "create or replace temp table batch_traces as "
        "select trace_id, cast(dense_rank() over (order by batch) - 1 as integer) as batch "
        "from batch_traces"
    )


def files_holding(con, score_files: list[Path], traces: str) -> list[Path]:
    """The score files holding a score of a trace in relation `traces`: one pass over
    their trace_id column only, so that a build of a few traces reads the other columns
    of these files alone, not of every score the lake holds."""
    if not score_files:
        return []
    holding = con.execute(
        f"select distinct filename from read_parquet({sql_list(score_files)}, "
        "union_by_name = true, hive_partitioning = false, filename = true) "
        f"where trace_id in (select trace_id from {traces})"
    ).fetchall()
    # DuckDB names them as they were given: a local path, or an s3:// URL (a UPath again)
    return sorted(lake.source_path(name) for (name,) in holding)


def select_batch(
    con,
    batch: Batch,
    catalog: str,
    span_files: list[Path],
    traces: str | None = None,
    score_files: list[Path] | None = None,
    new_span_files: Collection[Path] = (),
) -> None:
    """Point the slice catalog's `lake_spans` and `lake_evaluations` at the batch's traces
    (among those in relation `traces`, when given). `score_files`, when given, are the
    only files holding their scores (`files_holding`). The batch's scores are a table,
    read once: several slice models read them, and a view would scan every score file
    of the lake for each. `new_span_files`: the files whose every trace is in `traces`
    (an incremental build's new files: `increments.select_touched`)."""
    if batch.whole_lake and traces is None:
        return  # the slice reads the warehouse's lake views
    warehouse = f"{sql_identifier(catalog)}.main"
    if batch.whole_lake:
        chosen = f"(select trace_id from {traces})"
    else:
        chosen = f"(select trace_id from temp.main.batch_traces where batch = {batch.number})"
    days = set(batch.days)
    files = [p for p in span_files if lake.partition_day(p) in days]
    if files and batch.whole_lake and set(files) <= set(new_span_files):
        # every span of these files is of a touched trace: the filter would keep them all,
        # and it cost each of the slice's several reads of the spans a join
        spans = f"select * from {read_parquet_sql(files)}"
    elif files:
        spans = f"select * from {read_parquet_sql(files)} where trace_id in {chosen}"
    else:  # the traces have no spans (only scores): nothing to read
        spans = f"select * from {warehouse}.lake_spans limit 0"
    con.execute(f"create view slice.main.lake_spans as {spans}")
    scores = f"select * from {warehouse}.lake_evaluations"
    if score_files is not None:  # the lake view's columns, from the files that matter
        scores = f"({scores} limit 0)"
        if score_files:
            scores += f" union all by name (select * from {read_parquet_sql(score_files)})"
    con.execute(
        f"create table slice.main.lake_evaluations as select * from ({scores}) "
        f"where trace_id in {chosen}"
    )
