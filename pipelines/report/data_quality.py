"""`reports/data-quality.html`: the lake's validation results and quarantine, offline.

Great Expectations' own Data Docs (`reports/data-quality/`) load their CSS and scripts from
CDNs; this page reads the same results from the warehouse's `data_quality` mart (and the
quarantine from `lake_quarantine`) and renders them with the report's own styles, so it
works with no network. The GX pages stay, linked from it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipelines.db import connect
from pipelines.increments import local_copy
from pipelines.report import queries
from pipelines.report.pages import environment, write_whole
from pipelines.settings import Settings

PAGE = "data-quality.html"  # in the reports folder, beside index.html
GX_INDEX = "index.html"  # GX's own site index, in Settings.data_quality_dir
WORST_DAYS = 3

TABLES_SQL = """
with expectations as (
    select table_name, expectation, count(*) as n_days, sum(element_count) as n_rows,
        bool_and(success) as success
    from data_quality group by all
),

tables as (
    select table_name, count(*) as n_expectations,
        count(*) filter (where not success) as n_failing_expectations,
        max(n_days) as n_days, max(n_rows) as n_validated_rows
    from expectations group by all
),

quarantined as (
    select table_name, count(*) as n_quarantined_rows from lake_quarantine group by all
)

select table_name, tables.* exclude (table_name),
    coalesce(quarantined.n_quarantined_rows, 0) as n_quarantined_rows
from tables full join quarantined using (table_name)
order by table_name
"""


def tables(con) -> pl.DataFrame:
    """Per table: expectations (failing), days and rows validated, rows quarantined."""
    return con.sql(TABLES_SQL).pl()


EXPECTATIONS_SQL = """
with failed_days as (
    select * from data_quality where not success
    qualify row_number() over (partition by table_name, expectation
                               order by unexpected_count desc, day) <= $top
),

worst as (
    select table_name, expectation,
        list(struct_pack(day := day, unexpected_count := unexpected_count,
                         element_count := element_count)
             order by unexpected_count desc, day) as worst_days
    from failed_days group by all
),

expectations as (
    select table_name, expectation, bool_and(success) as success, count(*) as n_days,
        count(*) filter (where not success) as n_failed_days,
        sum(batches) as n_batches, sum(failed_batches) as n_failed_batches,
        sum(element_count) as element_count, sum(unexpected_count) as unexpected_count,
        sum(unexpected_count) / nullif(sum(element_count), 0) as unexpected_share,
        min(day) as first_day, max(day) as last_day
    from data_quality group by all
)

select expectations.*, coalesce(worst.worst_days, []) as worst_days
from expectations left join worst using (table_name, expectation)
order by success, unexpected_count desc, table_name, expectation
"""


def expectations(con) -> pl.DataFrame:
    """Per table and expectation over every day validated: days and batches (failed),
    rows checked and unexpected, its WORST_DAYS failed days; failing ones first."""
    return con.sql(EXPECTATIONS_SQL, params={"top": WORST_DAYS}).pl()


def render_data_quality(settings: Settings) -> Path:
    """Write `reports/data-quality.html` from the built warehouse; returns its path."""
    con = connect(local_copy(settings.warehouse_path), read_only=True)
    try:
        found = {
            "tables": tables(con).to_dicts(),
            "expectations": expectations(con).to_dicts(),
            "quarantine": queries.quarantine(con).to_dicts(),
        }
    finally:
        con.close()
    gx_index = settings.data_quality_dir / GX_INDEX
    gx_docs = gx_index.relative_to(settings.reports_dir).as_posix() if gx_index.exists() else None
    generated_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    template = environment().get_template("data_quality.html.j2")
    html = template.render(
        **found, worst_days=WORST_DAYS, generated_at=generated_at, gx_docs=gx_docs
    )
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    target = settings.reports_dir / PAGE
    write_whole(target, html)
    return target
