"""Build `data/warehouse.duckdb` from the lake: lake views, seeds, the `sql/` models.

A build has three phases (materializations: see `pipelines.models`):
1. slice: the staging, slice and fact models run in an in-memory catalog over the
   traces the build touches — every trace on a full build; on an incremental build the
   traces of the new lake files and every trace of the cases they belong to
   (`pipelines.increments`) — one batch of whole cases at a time, of about
   `spans_per_build_batch` spans (`pipelines.batches`), the same way on both.
2. facts: each batch's fact rows are written as new Parquet files under
   DATA/marts/<fact>/day=…/; on an incremental build, the touched days' old files give
   their rows of the untouched cases to new files and the other days keep their files.
3. warehouse: views over the lake and the facts, then rollups (recomputed only for the
   touched days / weeks / months; an incremental build starts from a copy of the
   previous warehouse file, whose rollups keep their other periods' rows in place) and
   tables (rebuilt whole), all documented with COMMENT ON (in one transaction).
4. drift: `drift_daily` and `drift_weekly` (`pipelines.drift`), recomputed whole from
   the facts; then `portfolio_monthly` (`pipelines.portfolio`: the verdicts), and the
   models that read these (fleet_monthly).

The new warehouse is written to a temporary file and renamed over the old one, so an
analyst's open read-only connection keeps reading the old file (and the fact files it
names, which are kept until the build after next) while a new connection sees the new.

On object storage (a data dir `s3://bucket/prefix`): DuckDB reads the lake and writes
the fact files through the registered filesystem (`pipelines.objectstore`), straight to
their final names (S3 has no rename; a file is part of no warehouse until a warehouse
names it). DuckDB opens only local database files, so the warehouse is built in this
machine's folder for it (`increments.local_dir`, under TMPDIR; an incremental build
starts from the cached copy of the previous one, `increments.local_copy`) and uploaded
as one object, which appears whole: a reader downloads the old version or the new. The
built file then becomes the cached copy of the version it uploaded.

A full build can fan its batches out (`build(map_batches=…)`: a Dask cluster, a process
pool): each batch's phases 1 and 2 are then one `run_slice_batch(SliceBatch)` call in a
process of its own, which writes the batch's fact files and returns their paths; the
parent adopts only the paths returned, and does phases 3 and 4 alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path, PurePosixPath

import duckdb
import pyarrow as pa

from pipelines import batches, comparisons, increments, policy, portfolio, pricing, registry
from pipelines.db import (
    connect,
    create_tables,
    is_local,
    read_parquet_sql,
    sql_date_list,
    sql_identifier,
    sql_list,
    sql_string,
)
from pipelines.drift import marts as drift_marts
from pipelines.evals import ledger
from pipelines.ingest import lake
from pipelines.models import (
    PERIODS,
    Model,
    ModelError,
    ancestors,
    load_models,
    readers,
    upstream,
)
from pipelines.retirements import load_retirements
from pipelines.schemas import (
    AGENTS,
    DATA_QUALITY,
    EVALUATIONS,
    LAKE_TABLES,
    QUARANTINE,
    SPANS,
    Table,
    schema_docs,
)
from pipelines.settings import Settings

__all__ = ["BuildResult", "ModelError", "SliceBatch", "build", "load_models", "run_slice_batch"]

FACT_DAYS_PER_WRITE = 8  # day partitions per COPY when old rows are merged in
PYTHON_MARTS = (*drift_marts.MARTS.values(), comparisons.MART, portfolio.MART)


@dataclass
class BuildResult:
    mode: str  # full, incremental, or current (nothing new: nothing built)
    reason: str
    touched_days: list[date] = field(default_factory=list)
    n_touched_traces: int | None = None
    seconds: float = 0.0


MapBatches = Callable[[Callable, Sequence], list]


def build(
    settings: Settings,
    *,
    full: bool = False,
    on_step: Callable[[str, int, int], None] | None = None,
    map_batches: MapBatches | None = None,
) -> BuildResult:
    """Bring the warehouse up to date with the lake; incremental unless `full` or needed.
    `on_step(label, done, total)` is called as each model (of each batch) is built.

    `map_batches(fn, items) -> list`: how a full build runs its batches' slice and fact
    work, `fn(item)` for each item, results in order (`fn` and the items are picklable:
    `run_slice_batch` and `SliceBatch`; it may run them in other processes or machines
    that see the same data dir). None: one after another in this process, on this
    build's own connection. An incremental build always runs its batches here: its
    scope lives in temporary tables of this connection, and it is a day's work. The
    progress of mapped batches is reported when `map_batches` returns."""
    started = time.perf_counter()
    models = load_models()
    log = lake.read_log(settings.lake_dir)
    previous = increments.read_state(settings.warehouse_path)
    plan = increments.plan(previous, lake.live_commits(log), increments.fingerprint(settings), full)
    if plan.mode == "current":
        lake.release_retired(settings.lake_dir)
        return BuildResult("current", plan.reason)

    folder = _building_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_killed_builds(folder)
    build_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    building = folder / f".warehouse-{build_id}.duckdb"
    previous_file = (
        increments.local_copy(settings.warehouse_path) if plan.mode == "incremental" else None
    )
    if previous_file is not None:  # its rollups are updated in place
        _copy_warehouse(previous_file, building)
    con = connect(building, memory_limit=settings.duckdb_memory_limit)
    # the lake and fact views read many Parquet files, each of them by many models: their
    # footers read once per build, not once per query (files are never rewritten in place)
    con.execute("set parquet_metadata_cache = true")
    try:
        catalog = con.execute("select current_database()").fetchall()[0][0]
        if plan.mode == "incremental":
            _keep_only_rollups(con, models)
        create_lake_views(con, settings.lake_dir, log)
        steps = _Steps(models, on_step)
        scope = None
        if plan.mode == "incremental":
            con.execute(f"attach {sql_string(previous_file)} as previous (read_only)")
            scope = increments.select_touched(con, plan, settings.lake_dir, log)
        seeds = create_seeds(con, catalog, settings,
                             new_span_files=scope and scope.new_span_files)  # fmt: skip
        mapped = None
        if map_batches is not None and scope is None:
            mapped = _Shipped(map_batches, models, log, seeds, settings)
        touched, files = _build_slices(con, catalog, models, settings, log, build_id, steps,
                                       previous if scope else None, scope, mapped)  # fmt: skip
        # models reading the marts built in Python (drift, portfolio) run after them
        after = readers(set(PYTHON_MARTS), models)
        documented = []  # COMMENT ON statements, written together at the end
        for model in models:
            if model.materialization != "slice" and model.name not in after:
                documented += _run_warehouse_model(con, model, plan, touched.days, files)
                steps.done(model)
        _build_drift(con, settings, plan, touched.days)
        _build_comparisons(con, settings)
        _build_portfolio(con, settings)
        for model in models:
            if model.name in after:
                documented += _run_warehouse_model(con, model, plan, touched.days, files)
                steps.done(model)
        _export_marts(con, models, settings.marts_dir)
        seconds = time.perf_counter() - started
        result = BuildResult(plan.mode, plan.reason, touched.days, touched.n_traces)
        increments.write_state(con, plan, files, previous, result, seconds)
        _write_comments(con, [*documented, *_state_table_docs()])
        if plan.mode == "incremental":
            con.execute("detach previous")
        con.execute("checkpoint")
    except Exception:
        con.close()
        building.unlink(missing_ok=True)
        raise
    con.close()
    _publish(building, settings.warehouse_path)
    lake.release_retired(settings.lake_dir)  # no view of the new warehouse reads them
    _collect_fact_garbage(settings.marts_dir, models, files, previous)
    result.seconds = time.perf_counter() - started
    return result


def _building_dir(settings: Settings) -> Path:
    """Where the new warehouse file is written: beside the old one (the data dir) when
    local, so that a rename swaps it in; this machine's folder for the warehouse when
    the data dir is on object storage (DuckDB writes local files only)."""
    if is_local(settings.data_dir):
        return settings.data_dir
    return increments.local_dir(settings.warehouse_path)


def _publish(building: Path, warehouse_path) -> None:
    """Put the new warehouse in place of the old: a rename locally; on object storage
    one upload (the object appears whole), after which the built file is kept as the
    cached copy of the version it uploaded (`local_copy` finds it: no download)."""
    if is_local(warehouse_path):
        os.replace(building, warehouse_path)
        return
    from pipelines.objectstore import check_held

    check_held(warehouse_path)  # a writer that lost the data dir's lock uploads nothing
    fs = warehouse_path.fs
    fs.put_file(str(building), warehouse_path.path)
    # one writer at a time (the data dir's lock): the object is still the one uploaded
    cached = building.with_name(increments.cached_name(fs.info(warehouse_path.path)["ETag"]))
    os.replace(building, cached)
    increments.forget_older_copies(building.parent, cached)


def _copy_warehouse(source: Path, target: Path) -> None:
    """Start an incremental build from a copy of the previous warehouse file (and its
    write-ahead log, if a writer left one): copying bytes costs little next to writing
    every unchanged rollup row again, which grows with the lake."""
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + ".wal"))


def _keep_only_rollups(con, models: list[Model]) -> None:
    """Drop every table and view of the copied previous warehouse but the rollups (their
    untouched periods are kept in place; `_run_rollup_increment` replaces the touched
    ones), so each other relation is made afresh, as on a full build: a lake table or
    fact may turn from an empty table into a view. One transaction: one commit."""
    rollups = {m.name for m in models if m.materialization == "rollup"}
    relations = con.execute(
        "select 'table', table_name from duckdb_tables() "
        "where database_name = current_database() and schema_name = 'main' "
        "union all select 'view', view_name from duckdb_views() "
        "where database_name = current_database() and schema_name = 'main' and not internal"
    ).fetchall()
    drops = [f"drop {kind} {sql_identifier(name)}" for kind, name in relations
             if name not in rollups]  # fmt: skip
    if drops:
        con.execute("begin transaction")
        con.execute(";\n".join(drops))
        con.execute("commit")


def _remove_killed_builds(folder: Path) -> None:
    """Delete the half-built warehouses of killed builds in `folder` (`_building_dir`:
    one writer at a time holds the data dir's lock, so no other build is writing one)."""
    for leftover in folder.glob(".warehouse-*.duckdb*"):
        leftover.unlink(missing_ok=True)


class _Steps:
    """Progress over the slice models of every batch, then the warehouse models."""

    def __init__(self, models: list[Model], on_step) -> None:
        self.on_step = on_step
        self.sliced = sum(m.materialization == "slice" for m in models)
        self.total = len(models)
        self.count = 0

    def add_batches(self, n: int) -> None:
        self.total += self.sliced * (n - 1)

    def done(self, model: Model) -> None:
        self.report(model.name)

    def report(self, label: str) -> None:
        """One more step done: `label` names the model (and its batch)."""
        self.count += 1
        if self.on_step:
            self.on_step(label, self.count, self.total)


# --- phase 1: the slice --------------------------------------------------------------


def _build_slices(con, catalog, models, settings, log, build_id, steps, previous, scope,
                  mapped: _Shipped | None = None):  # fmt: skip
    """Phases 1 and 2, one batch of whole cases at a time: of every trace on a full build
    (`scope` None), of the touched traces on an incremental one (`scope`: their days;
    `previous`: the build whose fact files of those days give up their other cases' rows).
    `mapped`: a full build's batches go to `map_batches` (else they run here, on `con`)."""
    span_files = lake.live_files(settings.lake_dir, SPANS, log=log)
    traces = score_files = None
    if scope is not None:
        span_files = [p for p in span_files if lake.partition_day(p) in set(scope.days)]
        traces = "temp.main.touched_traces"
        score_files = batches.files_holding(
            con, lake.live_files(settings.lake_dir, EVALUATIONS, log=log), traces
        )
    planned = batches.plan_batches(con, span_files, settings.spans_per_build_batch, traces)
    steps.add_batches(len(planned))
    jobs = [
        BatchJob(batch, len(planned), f"{build_id}-{batch.number}", settings.marts_dir,
                 span_files, traces, score_files, scope.new_span_files if scope else ())
        for batch in planned
    ]  # fmt: skip
    if mapped is None:
        done = [_run_batch(con, catalog, models, job, steps.report) for job in jobs]
    else:
        done = mapped.map_batches(run_slice_batch, [mapped.item(con, job) for job in jobs])
        if len(done) != len(jobs):  # a batch's facts would be missing without a word
            raise RuntimeError(f"map_batches returned {len(done)} results for {len(jobs)} batches")
        for label in (label for result in done for label in result.labels):
            steps.report(label)
    files: dict[str, dict[date, list[str]]] = {}
    for result in done:
        _add_files(files, result.files)
    rewritten = sorted(_days(files) | set(scope.days if scope else ()))
    if scope is not None:
        kept = _carry_over_facts(con, models, previous, rewritten, settings.marts_dir, build_id)
        _add_files(files, kept)
    _create_empty_facts(con, catalog, done[-1].columns, files)
    return increments.Touched(rewritten, scope.n_traces if scope else None), files


@dataclass(frozen=True)
class BatchJob:
    """One batch's slice and fact work (`_run_batch`), as `batches.select_batch` takes it."""

    batch: batches.Batch
    n_batches: int
    tag: str  # its fact files' names start with it
    marts_dir: Path
    span_files: Sequence[Path]
    traces: str | None = None  # the relation of the traces batched (None: every trace)
    score_files: Sequence[Path] | None = None
    new_span_files: Sequence[Path] = ()

    @property
    def label(self) -> str:
        """What the progress adds to each of its models' names."""
        n = self.n_batches
        return f" (batch {self.batch.number + 1}/{n})" if n > 1 else ""


@dataclass(frozen=True)
class SlicedBatch:
    """What a batch's work leaves to the build: its fact files, the columns of the facts
    it has no rows of (a fact no batch has rows of is an empty table of them) and the
    progress labels of the models it built."""

    files: dict[str, dict[date, list[str]]]
    columns: dict[str, list[tuple[str, str]]]  # fact without rows → [(column, DuckDB type)]
    labels: list[str]


def _run_batch(con, catalog, models, job: BatchJob, report: Callable[[str], None]) -> SlicedBatch:
    """Phases 1 and 2 of one batch, in a slice catalog attached to `con` (whose `catalog`
    holds the lake views and seeds; `temp.main.batch_traces` the batch's traces when the
    build has several): the slice and fact models, then the batch's fact files.
    `report(label)` as each slice model is built."""
    labels: list[str] = []

    def built(model: Model) -> None:
        labels.append(f"{model.name}{job.label}")
        report(labels[-1])

    _attach_slice(con, catalog)
    batches.select_batch(con, job.batch, catalog, job.span_files, job.traces,
                         job.score_files, job.new_span_files)  # fmt: skip
    _run_slice_models(con, models, built)
    files = _write_slice_facts(con, models, job.marts_dir, job.tag)
    # a fact no batch has rows of is made from the columns of the last batch's (no cost
    # for the facts with rows: a `describe` takes a few ms)
    columns = {fact: _columns(con, f"slice.main.{fact}") for fact in _facts(models)
               if not files[fact]}  # fmt: skip
    _detach_slice(con, catalog)
    return SlicedBatch(files, columns, labels)


def _columns(con, relation: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each column of `relation`: what makes an empty table of it
    in another connection (Arrow would turn a HUGEINT into a DECIMAL, a JSON into text)."""
    return [(name, kind) for name, kind, *_ in con.execute(f"describe {relation}").fetchall()]


@dataclass(frozen=True)
class SliceBatch:
    """A full build's batch as `map_batches` ships it: the job and all its process needs
    to run it (`run_slice_batch`), nothing of the parent's connection.

    The seeds are the parent's own Arrow tables, not recomputed in the worker: the
    parent made its seed tables from these very tables (`create_seeds`), so the worker's
    are the same rows and types whatever machine or moment it runs on (config, price
    data and the genai-prices version are read once, by the build that fingerprinted
    them), and `model_resolution` alone would cost each batch a scan of every span of
    the lake. A few hundred kB a batch."""

    job: BatchJob
    models: tuple[Model, ...]  # the SQL the parent fingerprinted, not the worker's copy
    lake_dir: Path
    log: pa.Table  # the ingest log the parent read: the lake views list its commits only
    seeds: dict[str, pa.Table]
    trace_ids: pa.Table | None  # the batch's traces (None: its only batch, every trace)
    memory_limit: str


@dataclass(frozen=True)
class _Shipped:
    """What a mapped full build ships with each of its batches."""

    map_batches: MapBatches
    models: list[Model]
    log: pa.Table
    seeds: dict[str, pa.Table]
    settings: Settings

    def item(self, con, job: BatchJob) -> SliceBatch:
        """The batch `job` as a `SliceBatch`: its span files only, and its traces read from
        the plan's `batch_traces`."""
        days = set(job.batch.days)
        trace_ids = None
        if not job.batch.whole_lake:
            trace_ids = con.sql("select trace_id from temp.main.batch_traces "
                                f"where batch = {job.batch.number}").to_arrow_table()  # fmt: skip
        job = replace(job, span_files=tuple(p for p in job.span_files
                                            if lake.partition_day(p) in days))  # fmt: skip
        return SliceBatch(job, tuple(self.models), self.settings.lake_dir, self.log, self.seeds,
                          trace_ids, self.settings.duckdb_memory_limit)  # fmt: skip


def run_slice_batch(item: SliceBatch) -> SlicedBatch:
    """Run one batch of a full build in a connection of its own (`map_batches`' `fn`):
    the lake views and seeds it reads, then `_run_batch`. Its fact files are named after
    this attempt (a batch run again after a lost worker writes files of another name), so
    the build names only the files of the attempt whose result it got; the others are
    nobody's and the fact garbage collection deletes them."""
    attempt = replace(item.job, tag=f"{item.job.tag}-{uuid.uuid4().hex[:6]}")
    if not is_local(item.lake_dir):  # before `connect`, which then registers its filesystem
        import pipelines.objectstore  # noqa: F401
    # spilling goes to this machine's temporary folder, removed with the connection
    with tempfile.TemporaryDirectory(prefix="fleetledger-slice-") as spill:
        con = connect(memory_limit=item.memory_limit)
        try:
            con.execute(f"set temp_directory = {sql_string(spill)}")
            con.execute("set parquet_metadata_cache = true")
            catalog = con.execute("select current_database()").fetchall()[0][0]
            _create_lake_views(con, item.lake_dir, item.log)
            create_tables(con, item.seeds)
            if item.trace_ids is not None:
                con.register("batch_trace_ids", item.trace_ids)
                con.execute(
                    "create temp table batch_traces as select trace_id, "
                    f"{item.job.batch.number} as batch from batch_trace_ids"
                )
                con.unregister("batch_trace_ids")
            return _run_batch(con, catalog, list(item.models), attempt, lambda label: None)
        finally:
            con.close()


def _days(files: dict[str, dict[date, list[str]]]) -> set[date]:
    return {day for by_day in files.values() for day in by_day}


def _add_files(files, more) -> None:
    """Merge fact → {day: [paths]} `more` into `files`."""
    for fact, by_day in more.items():
        merged = files.setdefault(fact, {})
        for day, paths in by_day.items():
            merged.setdefault(day, []).extend(paths)


def _attach_slice(con, catalog: str) -> None:
    con.execute("attach ':memory:' as slice")
    con.execute("use slice")
    con.execute(f"set search_path = 'slice.main,{sql_identifier(catalog)}.main'")


def _detach_slice(con, catalog: str) -> None:
    con.execute(f"use {sql_identifier(catalog)}")
    con.execute("set search_path = 'main'")
    con.execute("detach slice")


def _run_slice_models(con, models: list[Model], built: Callable[[Model], None]) -> None:
    """The slice and fact models (and the views they read) in the slice catalog; `built`
    is called with each slice. A slice is a table: the facts read it. A fact is a view
    there: a filter, projection or group-by of the slices, computed as its rows are
    written (`_write_slice_facts`) — a table would be written twice."""
    sliced = {m.name for m in models if m.materialization in ("slice", "fact")}
    needed = ancestors(sliced, models)
    for model in models:
        if model.name in needed:
            _create(con, model, "table" if model.materialization == "slice" else "view")
            if model.materialization == "slice":
                built(model)


def create_lake_views(con, lake_dir: Path, log: pa.Table | None = None) -> None:
    """`lake_<table>` views over the committed lake files (empty tables where none).

    The file lists come from the ingest log (the lake's manifest), so a half-finished
    ingest is never read.
    """
    log = lake.read_log(lake_dir) if log is None else log
    _write_comments(con, _create_lake_views(con, lake_dir, log))


def _create_lake_views(con, lake_dir: Path, log: pa.Table) -> list[Documented]:
    """`create_lake_views` without the comments; returns them."""
    documented = []
    for table in (*LAKE_TABLES, QUARANTINE, DATA_QUALITY):
        files = lake.live_files(lake_dir, table, log=log)
        partitioned = table in LAKE_TABLES
        empty = table.empty()
        if partitioned:
            empty = empty.append_column("day", pa.array([], pa.date32()))
        kind = _create_parquet_view(con, f"lake_{table.name}", files, empty, partitioned)
        documented.append(Documented(f"lake_{table.name}", table.doc, _table_docs(table), kind))
    return documented


def _create_parquet_view(con, name: str, files, empty: pa.Table, partitioned: bool) -> str:
    """A view over Parquet files, or an empty table of the same columns when none;
    returns which it made."""
    if not files:
        create_tables(con, {name: empty})
        return "table"
    sql = read_parquet_sql(files, partitioned=partitioned)
    con.execute(f"create or replace view {name} as select * from {sql}")
    return "view"


def _table_docs(table: Table) -> dict[str, str]:
    docs = {c.name: c.doc for c in table.columns}
    docs.setdefault("day", "Lake partition: the UTC date of the row's "
                    f"{table.day_from or 'ingest'}.")  # fmt: skip
    return docs


def create_seeds(
    con, catalog: str, settings: Settings, *, new_span_files: list[Path] | None = None
) -> dict[str, pa.Table]:
    """Tables that come from config and libraries, not from the lake; returns them.
    `new_span_files`: an incremental build's new span files (None: a full build, every
    span file)."""
    documents = registry.load_agents(settings.config_dir)
    config = settings.config_dir
    seeds = {
        "agents": registry.agents_table(documents),
        "model_prices": pricing.price_table(),
        "price_overrides": pricing.price_overrides(config),
        "slo_policy": policy.slo_policy_table(config),
        "slo_burn_policy": policy.settings_table(
            policy.burn_policy(config), "SLO burn-rate alert rule (policy.yaml slo_burn:)."
        ),
        "budget_policy": policy.settings_table(
            policy.budget_policy(config), "Budget forecast alert rule (policy.yaml budget:)."
        ),
        "guardrail_thresholds": policy.guardrail_thresholds_table(
            policy.guardrails(config), registry.agent_guardrails(documents)
        ),
        "eval_diffs": ledger.diffs_table(settings.data_dir),
    }
    seeds["model_resolution"] = pricing.resolution_table(
        sorted(_model_pairs(con, new_span_files), key=str)
    )
    create_tables(con, seeds, catalog=catalog)
    _write_comments(con, [
        Documented(name, AGENTS.doc, _table_docs(AGENTS), "table", catalog) if name == "agents"
        else Documented(name, *schema_docs(table.schema), "table", catalog)
        for name, table in seeds.items()
    ])  # fmt: skip
    return seeds


def _model_pairs(con, new_span_files: list[Path] | None) -> set[tuple]:
    """The (provider, model) pairs to resolve to prices: those of every span and eval run.
    An incremental build reads only the new span files: the previous build resolved
    every pair of the others (its lake is part of this one, or the build would be full)."""
    pairs: set[tuple] = set()
    if new_span_files is None:
        pairs |= _span_model_pairs(con, "lake_spans")
    else:  # the previous build resolved the pairs of every older span
        pairs |= set(con.sql("select provider, model from previous.model_resolution").fetchall())
        if new_span_files:
            pairs |= _span_model_pairs(con, read_parquet_sql(new_span_files, partitioned=False))
    pairs |= set(  # eval runs name a model, not a provider
        con.sql(
            "select distinct null, model from lake_eval_results where model is not null"
        ).fetchall()
    )
    return pairs


def _span_model_pairs(con, spans: str) -> set[tuple]:
    return set(
        con.sql(
            "select distinct provider, coalesce(response_model, request_model) as model "
            f"from {spans} where coalesce(response_model, request_model) is not null"
        ).fetchall()
    )


# --- phase 2: the facts --------------------------------------------------------------


def _facts(models: list[Model]) -> list[str]:
    return [m.name for m in models if m.materialization == "fact"]


def _write_slice_facts(con, models, marts_dir: Path, tag: str):
    """Write each fact's slice rows as new day-partition files; returns fact → {day: [files]}."""
    return {
        fact: _copy_by_day(con, f"select * from slice.main.{fact}", marts_dir / fact, tag)
        for fact in _facts(models)
    }


def _carry_over_facts(con, models, previous, days: list[date], marts_dir: Path, tag: str):
    """The previous build's fact files: as they are on the days not rewritten; on the
    rewritten `days`, their rows of the untouched cases copied into new files (the
    touched cases' rows were just written from the slice)."""
    files: dict[str, dict[date, list[str]]] = {}
    rewritten = set(days)
    for fact in _facts(models):
        old = previous.files(fact)
        files[fact] = {day: list(paths) for day, paths in old.items() if day not in rewritten}
        merging = [day for day in days if day in old]
        for start in range(0, len(merging), FACT_DAYS_PER_WRITE):  # a few days per COPY
            paths = [p for day in merging[start : start + FACT_DAYS_PER_WRITE] for p in old[day]]
            query = (
                f"select * from {_read_facts_sql(paths)} where conversation_id not in "
                "(select conversation_id from temp.main.touched_conversations)"
            )
            _add_files(files, {fact: _copy_by_day(con, query, marts_dir / fact, f"{tag}-k{start}")})
    return files


def _create_empty_facts(con, catalog, columns: dict[str, list[tuple[str, str]]], files) -> None:
    """A fact with no rows at all is an empty table of its `columns` (name, DuckDB type:
    as the last batch's slice knew them, `SlicedBatch`), instead of a view over no files."""
    for fact, fact_columns in columns.items():
        if not any(files.get(fact, {}).values()):
            listed = ", ".join(f"{sql_identifier(name)} {kind}" for name, kind in fact_columns)
            con.execute(f"create or replace table {sql_identifier(catalog)}.main.{fact} ({listed})")


def _copy_by_day(con, query: str, folder: Path, tag: str) -> dict[date, list[str]]:
    """COPY the rows of `query` into `folder`/day=…/ files named after `tag` (written in
    a staging folder, then moved in); returns {day: [files]}."""
    if not is_local(folder):
        return _copy_by_day_in_place(con, query, folder, tag)
    written: dict[date, list[str]] = {}
    staging = folder / f".build-{tag}"
    staging.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"copy ({query}) to {sql_string(staging)} (format parquet, partition_by (day), "
        f"filename_pattern '{tag}-{{i}}', overwrite_or_ignore true)"
    )
    for path in sorted(staging.glob("day=*/*.parquet")):
        target = folder / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        written.setdefault(lake.partition_day(path), []).append(str(target))
    shutil.rmtree(staging, ignore_errors=True)
    return written


def _copy_by_day_in_place(con, query: str, folder, tag: str) -> dict[date, list[str]]:
    """`_copy_by_day` on object storage: straight to the final names, which DuckDB
    returns (no listing). S3 has no rename, and needs none here: each file appears
    whole, and a file is part of no warehouse until a warehouse names it (those of a
    killed build are garbage: `_collect_fact_garbage`)."""
    ((_, files),) = con.execute(
        f"copy ({query}) to {sql_string(folder)} (format parquet, partition_by (day), "
        f"filename_pattern '{tag}-{{i}}', overwrite_or_ignore true, return_files true)"
    ).fetchall()
    written: dict[date, list[str]] = {}
    for name in sorted(files):
        written.setdefault(lake.partition_day(PurePosixPath(name)), []).append(name)
    return written


def _read_facts_sql(paths) -> str:
    """`read_parquet` over fact files, with their `day` partition. Not by union of their
    columns (`read_parquet_sql`): every fact file a warehouse names was written by the
    same models (another fingerprint means a full build), so the columns of the first
    file are every file's, and DuckDB matches them by name; a union reads the footer of
    every file of the lake each time a view over them is made or read."""
    return read_parquet_sql(paths, union=False)


def _collect_fact_garbage(marts_dir: Path, models, files, previous) -> None:
    """Delete fact files neither this build nor the previous one names (an analyst may
    still be reading the previous warehouse): those of failed builds, of batch attempts
    whose result was not taken, and their staging folders. On object storage there are
    no staging or empty folders, and the files go in one bulk delete per fact."""
    local = is_local(marts_dir)
    for model in (m for m in models if m.materialization == "fact"):
        if local:
            for staging in (marts_dir / model.name).glob(".build-*"):
                shutil.rmtree(staging, ignore_errors=True)
        keep = {p for paths in files.get(model.name, {}).values() for p in paths}
        if previous is not None:
            keep |= {p for paths in previous.files(model.name).values() for p in paths}
        garbage = [
            p for p in (marts_dir / model.name).glob("day=*/*.parquet") if str(p) not in keep
        ]
        if not local:
            if garbage:
                marts_dir.fs.rm([p.path for p in garbage])
            continue
        for path in garbage:
            path.unlink()
        for folder in (marts_dir / model.name).glob("day=*"):
            if not any(folder.iterdir()):
                folder.rmdir()


# --- phase 3: the warehouse ----------------------------------------------------------


def _run_warehouse_model(con, model: Model, plan, touched_days, files) -> list[Documented]:
    """Create one model in the warehouse; returns the comments it is to get (a macro has
    none)."""
    kind = model.materialization
    if kind == "fact":
        paths = sorted(p for day_paths in files[model.name].values() for p in day_paths)
        if paths:
            con.execute(f"create or replace view {model.name} as select * from "
                        f"{_read_facts_sql(paths)}")  # fmt: skip
        kind = "view" if paths else "table"
    elif kind == "rollup" and plan.mode == "incremental":
        _run_rollup_increment(con, model, touched_days, files)
        kind = "table"
    else:
        kind = kind if kind in ("view", "macro") else "table"
        _create(con, model, kind)
    return [] if kind == "macro" else [_model_docs(model, kind)]


def _run_rollup_increment(con, model: Model, touched_days, files) -> None:
    """Recompute a rollup for the touched periods only, from the facts of those periods,
    in place: the build started from a copy of the previous warehouse, so the other
    periods' rows are already there and stay (rewriting them would cost what the whole
    rollup holds, not what changed)."""
    period = PERIODS[model.partition]
    periods = sorted({_period_start(d, period) for d in touched_days})
    scope_days = {d for p in periods for d in _period_days(p, period)}
    catalog = con.execute("select current_database()").fetchall()[0][0]
    con.execute("attach ':memory:' as scope")
    try:
        for fact, by_day in files.items():
            paths = sorted(
                p for d, day_paths in by_day.items() if d in scope_days for p in day_paths
            )
            if paths:
                con.execute(f"create view scope.main.{fact} as select * from "
                            f"{_read_facts_sql(paths)}")  # fmt: skip
            else:
                con.execute(f"create table scope.main.{fact} as select * from {fact} limit 0")
        con.execute(f"set search_path = 'scope.main,{sql_identifier(catalog)}.main'")
        in_periods = sql_date_list(periods)
        column = sql_identifier(model.partition)
        table = f"{sql_identifier(catalog)}.main.{model.name}"
        _execute(con, model, f"delete from {table} where list_contains({in_periods}, {column})")
        _execute(
            con,
            model,
            f"insert into {table} by name\n"
            f"select * from ({model.sql}) where list_contains({in_periods}, {column})",
        )
    finally:
        con.execute(f"use {sql_identifier(catalog)}")
        con.execute("set search_path = 'main'")
        con.execute("detach scope")


def _period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _period_days(start: date, period: str) -> list[date]:
    if period == "week":
        return [start + timedelta(days=i) for i in range(7)]
    if period == "month":
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        return [start + timedelta(days=i) for i in range((following - start).days)]
    return [start]


def _create(con, model: Model, kind: str) -> None:
    """Create one model as a view, table or macro (a slice or fact is a table here)."""
    if kind == "macro":
        statement = f"create or replace macro {model.name}({model.parameters}) as table\n"
        _execute(con, model, statement + model.sql)
        return
    kind = "view" if kind == "view" else "table"
    _execute(con, model, f"create or replace {kind} {model.name} as\n{model.sql}")


def _execute(con, model: Model, statement: str) -> None:
    try:
        con.execute(statement)
    except duckdb.Error as error:
        raise ModelError(f"{model.path}: {error}") from error


def _model_docs(model: Model, kind: str) -> Documented:
    docs = known_column_docs() | inherited_column_docs(model.name) | model.column_docs
    return Documented(model.name, model.doc, docs, kind)


@cache
def _models_by_name() -> dict[str, Model]:
    return {m.name: m for m in load_models()}


@cache
def _upstream_graph() -> dict[str, frozenset[str]]:
    """Each model's upstream models, found once per process (the walk below asks for
    each model's many times a build)."""
    by_name = _models_by_name()
    return {name: frozenset(upstream(model, by_name)) for name, model in by_name.items()}


def inherited_column_docs(name: str) -> dict[str, str]:
    """The column docs of the models `name` reads, transitively, the nearest winning: a
    column passed through (agent_daily's from int_agent_periods) keeps its own meaning,
    not that of a namesake elsewhere."""
    by_name = _models_by_name()
    graph = _upstream_graph()
    levels, seen, frontier = [], {name}, [name]
    while frontier:
        frontier = sorted({up for n in frontier for up in graph[n]} - seen)
        seen.update(frontier)
        levels.append(frontier)
    docs: dict[str, str] = {}
    for level in reversed(levels):
        for upper in level:
            docs.update(by_name[upper].column_docs)
    return docs


@cache
def known_column_docs() -> dict[str, str]:
    """Every column doc written anywhere (canonical tables, then model headers): a column
    no header of its own documents takes the doc its name has elsewhere, so each meaning
    is written once."""
    docs = {c.name: c.doc for table in LAKE_TABLES for c in table.columns}
    for model in load_models():
        docs.update(model.column_docs)
    return docs


@dataclass(frozen=True)
class Documented:
    """A relation's comment and its columns' comments, to be written with COMMENT ON."""

    name: str
    doc: str
    column_docs: dict[str, str]
    kind: str  # table or view
    catalog: str | None = None  # None: the current database


def _write_comments(con, relations: list[Documented]) -> None:
    """COMMENT ON each relation and each of its columns that has a doc, all in one call
    and one transaction (one statement and commit at a time cost ≈ 1.5 s a build: a
    thousand columns); one duckdb_columns() query serves every relation."""
    if not relations:
        return
    current = con.execute("select current_database()").fetchall()[0][0]
    catalogs = sorted({r.catalog or current for r in relations})
    columns: dict[tuple[str, str], list[str]] = {}
    for catalog, table, column in con.execute(
        "select database_name, table_name, column_name from duckdb_columns() "
        f"where schema_name = 'main' and list_contains({sql_list(catalogs)}, database_name)"
    ).fetchall():
        columns.setdefault((catalog, table), []).append(column)
    statements = []
    for relation in relations:
        catalog = relation.catalog or current
        qualified = f"{sql_identifier(catalog)}.main.{relation.name}"
        statements.append(f"comment on {relation.kind} {qualified} is {sql_string(relation.doc)}")
        statements += [
            f"comment on column {qualified}.{sql_identifier(column)} is "
            f"{sql_string(relation.column_docs[column])}"
            for column in columns.get((catalog, relation.name), [])
            if column in relation.column_docs
        ]
    con.execute("begin transaction")  # one commit: a commit per COMMENT ON costs ≈ 8 ms
    try:
        con.execute(";\n".join(statements))
    except duckdb.Error:
        con.execute("rollback")
        raise
    con.execute("commit")


def _state_table_docs() -> list[Documented]:
    return [Documented(name, doc, columns, "table") for name, doc, columns in increments.STATE_DOCS]


def _build_drift(con, settings: Settings, plan, touched_days: list[date]) -> None:
    """The drift marts: on an incremental build only the windows reading a touched day
    are recomputed, the rest carried from the previous warehouse (attached as
    `previous`; same policy and code, or the build would be full)."""
    drift_policy = policy.drift_policy(settings.config_dir)
    if plan.mode == "incremental":
        tables = drift_marts.build_marts(
            con, drift_policy, previous="previous", touched_days=touched_days
        )
    else:
        tables = drift_marts.build_marts(con, drift_policy)
    _create_python_marts(con, tables)


def _build_comparisons(con, settings: Settings) -> None:
    diff_policy = policy.eval_diff_policy(settings.config_dir)
    _create_python_marts(con, {comparisons.MART: comparisons.build_mart(con, diff_policy)})


def _build_portfolio(con, settings: Settings) -> None:
    table = portfolio.build_mart(
        con, policy.portfolio_policy(settings.config_dir), load_retirements(settings.config_dir)
    )
    _create_python_marts(con, {portfolio.MART: table})


def _create_python_marts(con, tables: dict[str, pa.Table]) -> None:
    create_tables(con, tables)
    _write_comments(con, [Documented(name, *schema_docs(table.schema), "table")
                          for name, table in tables.items()])  # fmt: skip


def _export_marts(con, models: list[Model], marts_dir: Path) -> None:
    """Each rollup and table mart (and the drift marts) also as one Parquet file, for
    tools without DuckDB (the facts already are Parquet)."""
    if is_local(marts_dir):  # object storage has no folders to make
        marts_dir.mkdir(parents=True, exist_ok=True)
    names = [m.name for m in models
             if m.layer == "marts" and m.materialization in ("rollup", "table")]  # fmt: skip
    for name in [*names, *PYTHON_MARTS]:
        target = marts_dir / f"{name}.parquet"
        con.execute(f"copy {name} to {sql_string(target)} (format parquet)")
