"""Great Expectations suites generated from `schemas.py`, run on every ingested batch.

The row-level rules (the `Column` rules in `schemas.py`) already quarantine
bad rows before they are written; the suite then audits each accepted batch, per lake
day, as an independent second check, and its results are kept twice: summarised as
`data_quality` rows in the lake, and as GX Data Docs HTML under `reports/data-quality/`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import pyarrow as pa
import pyarrow.compute as pc
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from pipelines.schemas import DATA_QUALITY, TABLES, Table

SITE = "fleetledger"
VALIDATION_ROWS = 250_000  # rows per GX run: bounded memory (rule columns only)

for _noisy in ("great_expectations", "great_expectations.core"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


def expectations(table: Table) -> list[gxe.Expectation]:
    """The suite of a canonical table: each ruled column's rules. (The column list itself
    needs no expectation: every batch is cast to the table's Arrow schema first.)"""
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


def _audited_columns(table: Table) -> list[str]:
    ruled = table.ruled_columns
    return sorted({c.name for c in ruled} | {c.after for c in ruled if c.after} | {table.day_from})


class DataQuality:
    """One GX file context for a run of ingests; Data Docs are built once at the end."""

    def __init__(self, gx_dir: Path, docs_dir: Path) -> None:
        gx_dir.mkdir(parents=True, exist_ok=True)
        self.context = gx.get_context(mode="file", project_root_dir=str(gx_dir))
        self.context.variables.progress_bars = {"globally": False}
        if SITE not in (self.context.get_site_names() or []):
            self.context.add_data_docs_site(
                site_name=SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(docs_dir.resolve()),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        source = self.context.data_sources.add_or_update_pandas("fleetledger_batches")
        self.batch_definitions = {}
        self.suites = {}
        self.validated = 0
        self._source = source
        self.pending: dict[str, list[pa.Table]] = {}

    def _suite(self, table: Table):
        if table.name not in self.suites:
            suite = gx.ExpectationSuite(name=table.name)
            for expectation in expectations(table):
                suite.add_expectation(expectation)
            self.suites[table.name] = self.context.suites.add_or_update(suite)
            asset = self._source.add_dataframe_asset(table.name)
            self.batch_definitions[table.name] = asset.add_batch_definition_whole_dataframe("batch")
        return self.suites[table.name], self.batch_definitions[table.name]

    def audit(self, table: Table, rows: pa.Table) -> None:
        """Queue a parsed batch's accepted rows (only the columns with rules)."""
        if rows.num_rows:
            self.pending.setdefault(table.name, []).append(rows.select(_audited_columns(table)))

    def discard_pending(self) -> None:
        """Forget the queued rows of a file that was not committed."""
        self.pending.clear()

    def validate_pending(
        self, *, final: bool, source_file: str, run_name: str, at: datetime
    ) -> pa.Table:
        """Validate the queued rows of each table holding VALIDATION_ROWS or more (of every
        table when `final`); summary rows per day and expectation."""
        results = [DATA_QUALITY.empty()]
        for name in list(self.pending):
            if final or sum(t.num_rows for t in self.pending[name]) >= VALIDATION_ROWS:
                rows = pa.concat_tables(self.pending.pop(name))
                results.append(
                    self.validate(
                        TABLES[name], rows, source_file=source_file, run_name=run_name, at=at
                    )
                )
        return pa.concat_tables(results)

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
        suite, batch_definition = self._suite(table)
        batch = batch_definition.get_batch(
            batch_parameters={"dataframe": rows.select(_audited_columns(table)).to_pandas()}
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

    def build_docs(self) -> str | None:
        """Render the Data Docs site (only when something was validated)."""
        if not self.validated:
            return None
        return self.context.build_data_docs(site_names=[SITE]).get(SITE)
