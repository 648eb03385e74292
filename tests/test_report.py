"""The portfolio review: one chart per agent, self-contained, escaped."""

from __future__ import annotations

import re
from datetime import datetime

import duckdb
import pytest

from pipelines import warehouse
from pipelines.ingest import ingest_file
from pipelines.report.render import ReportError, full_month_before, render_month
from tests.otlp_builder import line, span

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def october(demo):
    return render_month(demo, "2026-10")


def test_report_has_a_chart_per_agent(demo, october):
    with duckdb.connect(str(demo.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select distinct agent_name from agent_daily where day >= '2026-10-01'"
        ).fetchall()
    agents = {row[0] for row in rows}
    html = october.read_text()
    sections = re.findall(r'<section class="agent" id="agent-\d+">\s*<h3>([^<]+) <span', html)
    assert sorted(sections) == sorted(agents)
    assert len(agents) >= 15
    assert html.count("Plotly.newPlot(") == len(agents) + 1  # + the fleet chart


def test_misses_are_marked_in_the_portfolio_table(october):
    rows = re.findall(r"<tr>\s*<td><a[^>]*>([^<]+)</a>(.*?)</tr>", october.read_text(), re.S)
    marked = {agent: cells.count('class="bad"') for agent, cells in rows}
    assert marked["contract-review"] == 1  # $/resolved case above its $0.70 baseline
    assert marked["lead-scorer"] == 1  # quality mean 0.68 against a 0.85 target
    assert marked["crm-cleaner"] == 0


def test_element_ids_are_unique(october):
    ids = re.findall(r'\bid="([^"]+)"', october.read_text())
    assert len(ids) == len(set(ids))


def test_report_loads_nothing_from_the_network(october):
    html = october.read_text()
    assert EXTERNAL.findall(html) == []
    assert '<script src="plotly.min.js"></script>' in html
    assert (october.parent / "plotly.min.js").stat().st_size > 3_000_000


def test_index_lists_reports_newest_first(demo, october):
    index = (demo.reports_dir / "index.html").read_text()
    assert re.findall(r'href="([^"]+)"', index) == ["2026-10/portfolio-review.html"]


def test_strings_from_data_are_escaped(settings):
    hostile = "<script>alert(1)</script>"
    trace, span_id = "33333333333333333333333333333333", "cccccccccccccccc"
    root = span(trace, span_id, datetime(2026, 10, 3), 50,
                gen_ai__operation__name="invoke_agent", gen_ai__agent__name=hostile)  # fmt: skip
    path = settings.raw_dir / "x.jsonl"
    path.write_text(line(root) + "\n")
    ingest_file(path, settings)
    warehouse.build(settings)
    html = render_month(settings, "2026-10").read_text()
    assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_month_is_validated(demo):
    with pytest.raises(ReportError, match="month must look like 2026-10"):
        render_month(demo, "October")
    with pytest.raises(ReportError, match="no data for 2025-01"):
        render_month(demo, "2025-01")


@pytest.mark.parametrize(
    ("last_day", "month"),
    [("2026-10-31", "2026-10"), ("2026-11-20", "2026-10"), ("2026-12-31", "2026-12"),
     ("2027-01-01", "2026-12"), ("2024-02-29", "2024-02")],
)  # fmt: skip
def test_latest_full_month(last_day, month):
    assert full_month_before(datetime.fromisoformat(last_day).date()) == month
