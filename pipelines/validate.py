"""Great Expectations suites generated from `schemas.py`, run once per ingest run.

The row-level rules (the `Column` rules in `schemas.py`) already quarantine bad rows
before they are written, on every row; the suite then audits a sample of the accepted
rows (`pipelines.ingest.audit`: bounded per table and run, every day included) as an
independent second check, once per run, off the per-file path. Its results are kept
twice: summarised as `data_quality` rows in the lake (per file version, day and
expectation; `element_count` is the rows GX checked), and as GX Data Docs HTML under
`reports/data-quality/`, built once per run. GX is imported only when a run validates:
it takes seconds.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.db import connect, is_local
from pipelines.ingest import lake
from pipelines.ingest.audit import (
    SAMPLE_DAY,
    SAMPLE_FILE,
    FileSample,
    RunSample,
    audited_columns,
)
from pipelines.schemas import DATA_QUALITY, TABLES, Table

SITE = "fleetledger"
VALIDATION_ROWS = 250_000  # rows per GX run: bounded memory (rule columns only)
_importing_gx: threading.Thread | None = None


def _import_gx() -> None:
    """Import the GX modules an audit uses (what takes seconds is the import itself)."""
    try:
        import great_expectations
        import great_expectations.expectations  # noqa: F401
    except Exception:  # the audit's own import raises it again, where it is reported
        pass


def import_gx_in_background() -> None:
    """Start importing Great Expectations in a thread, once per process, so that its
    seconds of import overlap the run's parse (DuckDB releases the GIL while it works)
    instead of following it. It changes nothing else: the audit imports GX as before,
    once that import is done (`wait_for_gx_import`). A daemon thread: a run that
    validates nothing (every file unchanged) does not wait for it to exit. A process
    that forks waits for the import first (`wait_for_gx_import`), or starts it after
    forking: a child forked half-way through an import inherits its module locks held
    by a thread it does not have."""
    global _importing_gx
    if _importing_gx is None:
        _importing_gx = threading.Thread(target=_import_gx, name="import-gx", daemon=True)
        _importing_gx.start()


def wait_for_gx_import() -> None:
    """Wait for the background import of GX, if one was started: every GX import of this
    module comes after it (GX's modules import one another in circles: a second thread
    importing them while the first is half-way would find some half made), and so does
    a fork (see `import_gx_in_background`)."""
    if _importing_gx is not None:
        _importing_gx.join()


def expectations(table: Table) -> list:
    """The suite of a canonical table: each ruled column's rules. (The column list itself
    needs no expectation: every batch is cast to the table's Arrow schema first.)"""
    wait_for_gx_import()
    import great_expectations.expectations as gxe

    suite: list[gxe.Expectation] = []
    for column in table.ruled_columns:
        if column.required:
            suite.append(gxe.ExpectColumnValuesToNotBeNull(column=column.name))
        if column.pattern:
            suite.append(
                gxe.ExpectColumnValuesToMatchRegex(column=column.name, regex=f"^{column.pattern}$")
            )
        if column.allowed:
            suite.append(
                gxe.ExpectColumnValuesToBeInSet(column=column.name, value_set=list(column.allowed))
            )
        if column.min_value is not None or column.max_value is not None:
            suite.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=column.name, min_value=column.min_value, max_value=column.max_value
                )
            )
        if column.after:
            suite.append(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=column.name,
                    column_B=column.after,
                    ignore_row_if="either_value_is_missing",
                )
            )
    return suite


def _label(result) -> str:
    config = result.expectation_config
    columns = [config.kwargs.get(k) for k in ("column", "column_A", "column_B")]
    name = config.type.removeprefix("expect_")
    named = ", ".join(c for c in columns if c)
    return f"{name}({named})" if named else name


class DataQuality:
    """A run's audit: the file versions' samples (`add`), validated once by one GX file
    context (`finish`); Data Docs are built once at the end (`build_docs`). The GX
    context is made (and GX imported) only when something is validated."""

    def __init__(self, gx_dir: Path, docs_dir: Path) -> None:
        self.gx_dir = local_gx_dir(gx_dir, docs_dir)
        self.docs_dir = docs_dir
        self.sample = RunSample()
        self.validated = 0
        self._context = None

    @property
    def context(self):
        if self._context is None:
            self._open(self.gx_dir, self.docs_dir)
        return self._context

    def _open(self, gx_dir: Path, docs_dir: Path) -> None:
        wait_for_gx_import()
        import great_expectations as gx

        for noisy in ("great_expectations", "great_expectations.core"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        gx_dir.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=str(gx_dir))
        context.variables.progress_bars = {"globally": False}
        if SITE not in (context.get_site_names() or []):
            context.add_data_docs_site(
                site_name=SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": _site_backend(docs_dir),
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        self._source = context.data_sources.add_or_update_pandas("fleetledger_batches")
        self.batch_definitions = {}
        self.suites = {}
        self._context = context  # last: a context is whole or absent

    def _suite(self, table: Table):
        wait_for_gx_import()
        import great_expectations as gx

        context = self.context  # opened on first use: sets `suites` and `_source`
        if table.name not in self.suites:
            suite = gx.ExpectationSuite(name=table.name)
            for expectation in expectations(table):
                suite.add_expectation(expectation)
            self.suites[table.name] = context.suites.add_or_update(suite)
            asset = self._source.add_dataframe_asset(table.name)
            self.batch_definitions[table.name] = asset.add_batch_definition_whole_dataframe("batch")
        return self.suites[table.name], self.batch_definitions[table.name]

    def add(self, sample: FileSample) -> None:
        """Queue a committed file version's sample for this run's audit."""
        self.sample.add(sample)

    def finish(self, at: datetime | None = None) -> int:
        """Validate the run's sample, once per table (in runs of up to VALIDATION_ROWS),
        and write each file version's `data_quality` rows beside its lake files; returns
        how many rows were written. A version no longer in the ingest log (replaced
        since) gets none."""
        if not self.sample.files:
            return 0
        at = at or datetime.now(UTC)
        run_name = f"ingest-{at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        files, per_file = self.sample.files, {}
        con = connect(memory_limit="1GB")
        try:
            tables = self.sample.tables(con)
        finally:
            con.close()
        self.sample.clear()
        for name, rows in tables.items():
            for start in range(0, rows.num_rows, VALIDATION_ROWS):
                chunk = rows.slice(start, VALIDATION_ROWS)
                for index, summary in self._validate_sample(
                    TABLES[name], chunk, files, run_name, at
                ):
                    per_file.setdefault(index, []).append(summary)
        live = lake.live_commits(lake.read_log(files[0].lake_dir))
        written = 0
        for index, parts in sorted(per_file.items()):
            if files[index].commit_id in live:  # a version replaced since gets none
                written += _write_audit(files[index], pa.concat_tables(parts))
        return written

    def _validate_sample(self, table: Table, rows: pa.Table, files, run_name: str, at):
        """(file index, summary rows) of a sample chunk: one GX run; when it fails, again
        per file version and day, to say which broke what."""
        groups = rows.group_by([SAMPLE_FILE, SAMPLE_DAY]).aggregate([([], "count_all")])
        counts = sorted(
            zip(groups[SAMPLE_FILE].to_pylist(), groups[SAMPLE_DAY].to_pylist(),
                groups["count_all"].to_pylist(), strict=True)
        )  # fmt: skip
        days = sorted({day for _, day, _ in counts})
        label = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
        result = self._run(table, rows, run_name, at, label)
        if result.success or len(counts) == 1:
            for index, day, count in counts:
                yield (
                    index,
                    self._summary(table, result, {day: count}, files[index].source_file, at),
                )
            return
        for index, day, _ in counts:
            part = rows.filter(
                pc.and_(pc.equal(rows[SAMPLE_FILE], index), pc.equal(rows[SAMPLE_DAY], day))
            )
            part_result = self._run(table, part, run_name, at, day)
            summary = self._summary(
                table, part_result, {day: part.num_rows}, files[index].source_file, at
            )
            yield index, summary

    def validate(
        self, table: Table, rows: pa.Table, *, source_file: str, run_name: str, at: datetime
    ) -> pa.Table:
        """Run `table`'s suite on `rows`; summary rows per lake day and expectation.

        GX costs ~0.5 s per run whatever the size, so rows are validated in batches of up
        to VALIDATION_ROWS (pandas holds them as Python objects). When a batch meets every
        expectation each day's counts follow exactly; when it does not, it is validated
        again day by day to say which days broke what.
        """
        if rows.num_rows == 0:
            return DATA_QUALITY.empty()
        days = pc.strftime(rows[table.day_from], format="%Y-%m-%d")
        day_names = sorted(pc.unique(days).to_pylist())
        label = day_names[0] if len(day_names) == 1 else f"{day_names[0]}..{day_names[-1]}"
        result = self._run(table, rows, run_name, at, label)
        if result.success or len(day_names) == 1:
            counts = pc.value_counts(days).to_pylist()
            per_day = {c["values"]: c["counts"] for c in counts}
            return self._summary(table, result, per_day, source_file, at)
        parts = []
        for day in day_names:
            part = rows.filter(pc.equal(days, day))
            day_result = self._run(table, part, run_name, at, day)
            parts.append(self._summary(table, day_result, {day: part.num_rows}, source_file, at))
        return pa.concat_tables(parts)

    def _run(self, table: Table, rows: pa.Table, run_name: str, at: datetime, label: str):
        wait_for_gx_import()
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        suite, batch_definition = self._suite(table)
        batch = batch_definition.get_batch(
            batch_parameters={"dataframe": rows.select(audited_columns(table)).to_pandas()}
        )
        result = batch.validate(suite)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=table.name),
            run_id=RunIdentifier(run_name=run_name, run_time=at),
            batch_identifier=f"day={label}",
        )
        self.context.validation_results_store.set(key, result)
        self.validated += 1
        return result

    @staticmethod
    def _summary(table: Table, result, per_day: dict, source_file: str, at: datetime):
        rows = []
        for day, count in sorted(per_day.items()):
            for item in result.results:
                unexpected = item.result.get("unexpected_count")  # None: table-level
                rows.append(
                    {
                        "table_name": table.name,
                        "day": day,
                        "expectation": _label(item),
                        "success": bool(item.success),
                        "element_count": count,
                        "unexpected_count": unexpected,
                        "source_file": source_file,
                        "validated_at": at,
                    }
                )
        return pa.Table.from_pylist(rows, schema=DATA_QUALITY.arrow_schema)

    def discard(self) -> None:
        """Forget the queued samples (a run that stops before its audit)."""
        self.sample.clear()

    def build_docs(self) -> str | None:
        """Finish the run's audit, then render the Data Docs site (only when something
        was validated): the pages it lacks (this run's validation results) and the suites'
        pages, then the index of every page."""
        self.finish()
        if not self.validated:
            return None
        return self.context.build_data_docs(
            site_names=[SITE], resource_identifiers=self._pages_to_render()
        ).get(SITE)

    def _pages_to_render(self) -> list:
        """The suites' pages (a suite may have changed) and every stored validation result
        without a page: this run's, and any a run stopped before rendering. Left to
        itself, GX renders every stored result again on every run: a nightly adds pages
        every day, so the render grew with the project's history (an older page is as
        its run rendered it)."""
        from great_expectations.data_context.store.html_site_store import HtmlSiteStore

        rendered = set(HtmlSiteStore(store_backend=_site_backend(self.docs_dir)).list_keys())
        results = self.context.validation_results_store.list_keys()
        suites = self.context.expectations_store.list_keys()
        return suites + [key for key in results if key not in rendered]


def local_gx_dir(gx_dir: Path, docs_dir: Path) -> Path:
    """Where the GX project lives: `gx_dir`, or, when that is on object storage (GX's
    file context needs a local folder), a local working folder beside the Data Docs,
    one per data dir URL: `<reports>/gx/<url as a folder name>`. What it stores (suites,
    validation results) is the audit's record, not the lake: the lake's `data_quality`
    rows are the results that matter, and they are written to the data dir."""
    if is_local(gx_dir):
        return gx_dir
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(gx_dir)).strip("-")
    return docs_dir.parent / "gx" / name


def _site_backend(docs_dir: Path) -> dict:
    """Where the Data Docs site's pages are written."""
    return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())}


def _write_audit(sample: FileSample, rows: pa.Table) -> int:
    """Write a file version's `data_quality` rows into the lake, named as its other files
    (so they live and retire with it), atomically."""
    folder = lake.table_dir(sample.lake_dir, DATA_QUALITY)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sample.prefix}audit-{uuid.uuid4().hex[:8]}-0.parquet"
    lake.write_parquet_atomically(rows, target)
    return rows.num_rows
