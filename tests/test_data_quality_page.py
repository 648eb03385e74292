"""The offline data-quality page (`reports/data-quality.html`): hand-made validation
results shown exactly, the demo's results and quarantine, and a real browser offline."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pytest

from pipelines.db import create_tables
from pipelines.models import load_models
from pipelines.report.data_quality import PAGE, render_data_quality
from pipelines.report.render import render_month
from pipelines.schemas import DATA_QUALITY, LAKE_TABLES, QUARANTINE
from pipelines.validate import expectations
from tests import browser

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
AT = datetime(2026, 10, 6, tzinfo=UTC)
NOT_NULL, REGEX = "column_values_to_not_be_null(trace_id)", "column_values_to_match_regex(span_id)"
# (file, day, rows, rows breaking NOT_NULL): REGEX holds everywhere
SPAN_RUNS = [
    ("a.jsonl", "2026-10-01", 100, 1),
    ("a.jsonl", "2026-10-02", 50, 6),
    ("b.jsonl", "2026-10-02", 30, 0),
    ("b.jsonl", "2026-10-03", 20, 3),
    ("b.jsonl", "2026-10-04", 40, 1),
]


def _result(table, day, expectation, rows, unexpected, source):
    return {"table_name": table, "day": day, "expectation": expectation,
            "success": unexpected == 0, "element_count": rows,
            "unexpected_count": unexpected, "source_file": source, "validated_at": AT}  # fmt: skip


def _quarantined(table, reason, source, line_no):
    return {"table_name": table, "line_no": line_no, "record_index": 0, "field": None,
            "reason": reason, "raw": "{}", "source_file": source}  # fmt: skip


def hand_made_warehouse(path):
    """A warehouse holding only hand-written GX results and quarantine, and the real
    `data_quality` mart built over them."""
    results = [_result("spans", d, NOT_NULL, n, bad, f) for f, d, n, bad in SPAN_RUNS]
    results += [_result("spans", d, REGEX, n, 0, f) for f, d, n, _ in SPAN_RUNS]
    results.append(_result("evaluations", "2026-10-05", "column_values_to_not_be_null(name)",
                           10, 0, "c.jsonl"))  # fmt: skip
    quarantine = [
        _quarantined("spans", "invalid JSON (truncated or corrupt line)", "a.jsonl", 7),
        _quarantined("spans", "invalid JSON (truncated or corrupt line)", "a.jsonl", 9),
        _quarantined("evaluations", "value must be >= 0, got -1", "c.jsonl", 2),
        _quarantined("billing_costs", "<script>no</script>", "d.csv", 3),
    ]
    columns = pa.schema([f for f in QUARANTINE.arrow_schema if f.name in quarantine[0]])
    lake = {
        "lake_data_quality": pa.Table.from_pylist(results, schema=DATA_QUALITY.arrow_schema),
        "lake_quarantine": pa.Table.from_pylist(quarantine, schema=columns),
    }
    mart = next(m for m in load_models() if m.name == "data_quality")
    with duckdb.connect(str(path)) as con:
        create_tables(con, lake)
        con.execute(f"create table data_quality as {mart.sql}")


def _cells(page: str, section: str) -> list[list[str]]:
    """The body rows of a section's table, as cell texts (a <br> becomes ' | ')."""
    part = page.split(f'<section id="{section}">')[1].split("</section>")[0]
    body = part.split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    text = [[re.sub(r"<[^>]+>", "", c.replace("<br>", " | ")).strip() for c in r] for r in cells]
    return [[html.unescape(c) for c in row] for row in text]


def test_hand_made_results_are_shown_exactly_failing_first(settings):
    hand_made_warehouse(settings.warehouse_path)
    page = render_data_quality(settings).read_text()
    assert _cells(page, "dq-tables") == [
        ["billing_costs", "—", "—", "—", "—", "1"],
        ["evaluations", "1", "0", "1", "10", "1"],
        ["spans", "2", "1", "4", "240", "2"],
    ]
    worst = "2026-10-02: 6 of 80 | 2026-10-03: 3 of 20 | 2026-10-01: 1 of 100"  # ties by day
    assert _cells(page, "dq-expectations") == [
        ["spans", NOT_NULL, "failing", "4", "4", "5", "4", "240", "11", "4.6%", worst,
         "2026-10-01 – | 2026-10-04"],
        ["evaluations", "column_values_to_not_be_null(name)", "ok", "1", "0", "1", "0", "10",
         "0", "0.0%", "—", "2026-10-05 – | 2026-10-05"],
        ["spans", REGEX, "ok", "4", "0", "5", "0", "240", "0", "0.0%", "—",
         "2026-10-01 – | 2026-10-04"],
    ]  # fmt: skip
    assert "1 of 3 expectations failed" in page
    assert _cells(page, "dq-quarantine") == [
        ["spans", "invalid JSON (truncated or corrupt line)", "2", "1"],
        ["billing_costs", "<script>no</script>", "1", "1"],
        ["evaluations", "value must be >= 0, got -1", "1", "1"],
    ]
    assert "<script>no" not in page  # escaped
    assert re.findall(r'href="([^"]+)"', page) == ["index.html"]  # no GX docs built here


def test_gx_data_docs_are_linked_when_built(settings):
    hand_made_warehouse(settings.warehouse_path)
    settings.data_quality_dir.mkdir(parents=True)
    (settings.data_quality_dir / "index.html").write_text("GX")
    page = render_data_quality(settings).read_text()
    link = '<a href="data-quality/index.html">Great Expectations Data Docs (needs network'
    assert link in page


@pytest.fixture(scope="module")
def demo_reports(demo, tmp_path_factory):
    """The demo's October rendered into a reports folder of this module's own."""
    settings = replace(demo, reports_dir=tmp_path_factory.mktemp("dq") / "reports")
    render_month(settings, "2026-10")
    return settings


def test_rendering_a_month_writes_the_page_and_links_it(demo_reports):
    index = (demo_reports.reports_dir / "index.html").read_text()
    assert f'<a href="{PAGE}">' in index
    page = (demo_reports.reports_dir / PAGE).read_text()
    suite = sum(len(expectations(table)) for table in LAKE_TABLES)  # 41, from schemas.py
    assert f"All {suite} expectations held on every day validated." in page
    spans = next(r for r in _cells(page, "dq-tables") if r[0] == "spans")
    with duckdb.connect(str(demo_reports.warehouse_path), read_only=True) as con:
        n_spans = con.sql("select count(*) from lake_spans").fetchall()[0][0]
    # 4 demo days; every span in the lake validated; the demo's 2 bad span lines held back
    assert spans == ["spans", str(len(expectations(LAKE_TABLES[0]))), "0", "4",
                     f"{n_spans:,}", "2"]  # fmt: skip
    assert len(_cells(page, "dq-expectations")) == suite


def test_page_loads_offline_with_an_empty_console(demo_reports, tmp_path):
    page = demo_reports.reports_dir / PAGE
    text = page.read_text()
    assert EXTERNAL.findall(text) == []
    assert re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"' >]+)""", text) == ["index.html"]
    dom, console = browser.load(page, tmp_path / "profile")
    assert console == []
    rows = _cells(dom, "dq-expectations")
    assert len(rows) == sum(len(expectations(table)) for table in LAKE_TABLES)
    assert {row[2] for row in rows} == {"ok"}
