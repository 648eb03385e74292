"""The monthly portfolio review: verdict rules, pages, escaping, offline loading in a
real browser, and the 90-day demo's ground truth showing up."""

from __future__ import annotations

import re
from datetime import date, datetime
from html import escape

import duckdb
import pytest

from pipelines import warehouse
from pipelines.ingest import ingest_file
from pipelines.policy import PolicyError, PortfolioPolicy, portfolio_policy
from pipelines.report.render import (
    PLOTLY_FILE,
    ReportError,
    full_month_before,
    page_name,
    previous_month,
    render_month,
)
from pipelines.retirements import RetirementsError, load_retirements
from pipelines.verdicts import VERDICTS
from tests import browser
from tests.otlp_builder import line, span

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
POLICY = PortfolioPolicy()


def test_portfolio_policy_and_models_file_errors_name_the_field(tmp_path):
    assert portfolio_policy(tmp_path) == POLICY
    (tmp_path / "policy.yaml").write_text("portfolio:\n  months_running: 0\n")
    with pytest.raises(PolicyError, match=r"portfolio\.months_running: must be a whole number"):
        portfolio_policy(tmp_path)
    (tmp_path / "models.yaml").write_text(
        "models:\n- {provider: openai, model: a, retires_on: 2026-12-01}\n"
        "- {provider: openai, model: b, retires_on: soon}\n"
    )
    with pytest.raises(RetirementsError, match=r"models.yaml: models\[1\].retires_on: a date"):
        load_retirements(tmp_path)
    (tmp_path / "models.yaml").write_text(
        "models:\n- {provider: openai, model: a, retires_on: 2026-12-01}\n"
    )
    (tmp_path / "models.local.yaml").write_text(
        "models:\n- {provider: openai, model: a, retires_on: 2026-11-01, note: ours}\n"
    )
    (found,) = load_retirements(tmp_path).values()
    assert (found.retires_on, found.note) == (date(2026, 11, 1), "ours")  # local wins


def test_page_names_are_safe_and_unique():
    taken: set[str] = set()
    assert page_name("kb-answerer", taken) == "agents/kb-answerer.html"
    assert page_name("<script>alert(1)</script>", taken) == "agents/script-alert-1-script.html"
    assert page_name("../../etc", taken) == "agents/etc.html"
    assert page_name("..//etc", taken) == "agents/etc-2.html"


@pytest.mark.parametrize(
    ("last_day", "month"),
    [("2026-10-31", "2026-10"), ("2026-11-20", "2026-10"), ("2026-12-31", "2026-12"),
     ("2027-01-01", "2026-12"), ("2024-02-29", "2024-02")],
)  # fmt: skip
def test_latest_full_month(last_day, month):
    assert full_month_before(datetime.fromisoformat(last_day).date()) == month


def test_previous_month():
    assert previous_month(date(2026, 11, 1)) == "2026-10"
    assert previous_month(date(2027, 1, 15)) == "2026-12"


# --- a small demo: pages, offline, escaping ------------------------------------------


@pytest.fixture(scope="module")
def october(demo):
    return render_month(demo, "2026-10")


def test_every_agent_has_a_page_linked_from_the_table(demo, october):
    with duckdb.connect(str(demo.warehouse_path), read_only=True) as con:
        seen = {r[0] for r in con.sql("select distinct agent_name from agent_monthly").fetchall()}
        registered = {r[0] for r in con.sql("select agent_name from agents").fetchall()}
    html = october.read_text()
    links = re.findall(r'<td><a href="(agents/[^"]+)">([^<]+)</a><br>', html)
    assert {name for _, name in links} == seen | registered
    for page, name in links:
        agent_page = (october.parent / page).read_text()
        assert f"<h1>{name} <span" in agent_page
        assert '<script src="../plotly.min.js"></script>' in agent_page


def test_element_ids_are_unique(october):
    ids = re.findall(r'\bid="([^"]+)"', october.read_text())
    assert len(ids) == len(set(ids))


def test_report_loads_nothing_from_the_network(october):
    pages = [october, *(october.parent / "agents").glob("*.html")]
    for page in pages:
        assert EXTERNAL.findall(page.read_text()) == [], page
    assert '<script src="plotly.min.js"></script>' in october.read_text()
    assert [p.name for p in october.parent.glob("**/*.js")] == [PLOTLY_FILE]  # one copy
    assert (october.parent / PLOTLY_FILE).stat().st_size > 3_000_000


def test_index_lists_reports_newest_first(demo, october):
    (demo.reports_dir / "2026-09").mkdir(exist_ok=True)
    (demo.reports_dir / "2026-09" / "portfolio-review.html").write_text("older")
    render_month(demo, "2026-10")
    index = (demo.reports_dir / "index.html").read_text()
    assert re.findall(r'href="([^"]+)"', index) == [
        "2026-10/portfolio-review.html",
        "2026-09/portfolio-review.html",
        "data-quality.html",
    ]


def test_strings_from_data_are_escaped(settings):
    hostile = "<script>alert(1)</script>"
    trace, span_id = "33333333333333333333333333333333", "cccccccccccccccc"
    root = span(trace, span_id, datetime(2026, 10, 3), 50,
                gen_ai__operation__name="invoke_agent", gen_ai__agent__name=hostile)  # fmt: skip
    path = settings.raw_dir / "x.jsonl"
    path.write_text(line(root) + "\n")
    ingest_file(path, settings)
    warehouse.build(settings)
    review = render_month(settings, "2026-10")
    for page in (review, review.parent / "agents" / "script-alert-1-script.html"):
        html = page.read_text()
        assert hostile not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_month_is_validated(demo):
    with pytest.raises(ReportError, match="month must look like 2026-10"):
        render_month(demo, "October")
    with pytest.raises(ReportError, match="no data for 2025-01"):
        render_month(demo, "2025-01")


# --- the 90-day demo: ground truth, size, a real browser ------------------------------


@pytest.fixture(scope="module")
def september(ninety_day_demo):
    return render_month(ninety_day_demo, "2026-09")


def _portfolio(html: str) -> dict[str, dict]:
    rows = re.findall(r'<tr id="row-\d+">(.*?)</tr>', html, re.S)
    table = {}
    for row in rows:
        name = re.search(r'<a href="[^"]+">([^<]+)</a>', row).group(1)
        verdict = re.search(r'<span class="verdict [^"]+">([^<]+)</span>', row).group(1)
        drift = re.findall(r'<td class="text ?(?:bad)?">([^<]*)</td>', row)
        table[name] = {"verdict": verdict, "row": row, "drift": drift}
    return table


def test_ground_truth_shows_up(september):
    html = september.read_text()
    table = _portfolio(html)
    assert table["contract-review"]["verdict"] == "retire"  # above its $0.70 baseline
    assert "above the $0.70 human baseline 2 months running" in table["contract-review"]["row"]
    assert table["lead-scorer"]["verdict"] in ("watch", "retire")  # 0.68 vs 0.80 target
    for agent, metric in [("support-triage", "quality"), ("billing-disputes", "intent"),
                          ("kb-answerer", "model")]:  # fmt: skip
        assert table[agent]["verdict"] == "watch"
        assert "drift alert on" in table[agent]["row"] and metric in table[agent]["row"]
    assert table["shadow-summarizer"]["verdict"] == "watch"  # unregistered
    governance = html.split('id="flags-governance"')[1].split("<h3")[0]
    assert '<td>shadow-summarizer</td><td class="text">no — unregistered</td>' in governance
    retiring = html.split('id="flags-models"')[1].split("<h3")[0]
    assert '<td>hr-faq</td><td class="text">claude-3-5-haiku-20241022 (retires ' in retiring
    stable = [a for a, r in table.items() if r["verdict"] == "keep"]
    assert len(stable) >= 10


def test_the_review_shows_exactly_what_the_marts_hold(september, ninety_day_demo):
    """Every fleet figure of the summary is fleet_monthly's; every verdict and rule in
    the table is portfolio_monthly's."""
    html = september.read_text()
    with duckdb.connect(str(ninety_day_demo.warehouse_path), read_only=True) as con:
        (fleet,) = (
            con.sql("select * from fleet_monthly where month_start = '2026-09-01'").pl().to_dicts()
        )
        portfolio = con.sql("select * from portfolio_monthly where month_start = '2026-09-01'")
        portfolio = {row["agent_name"]: row for row in portfolio.pl().to_dicts()}

    def kpi(name: str) -> str:
        return re.search(rf'id="kpi-{name}">([^<]+)<', html).group(1)

    assert fleet["gap_usd"] == pytest.approx(fleet["billed_usd"] - fleet["reconciled_computed_usd"])
    assert (kpi("billed"), kpi("computed"), kpi("gap"), kpi("unattributed")) == tuple(
        f"${fleet[c]:,.2f}" for c in ("billed_usd", "reconciled_computed_usd", "gap_usd",
                                      "unattributed_usd"))  # fmt: skip
    assert kpi("coverage") == f"{fleet['trace_coverage']:.1%}"
    assert kpi("cases") == f"{fleet['n_cases']:,}"
    assert kpi("cost-per-resolved") == f"${fleet['cost_per_resolved_case_usd']:,.4f}"
    assert kpi("net-saving") == f"${fleet['net_saving_usd']:,.2f}"
    table = _portfolio(html)
    assert {a: r["verdict"] for a, r in table.items()} == {
        a: r["verdict"] for a, r in portfolio.items()}  # fmt: skip
    for agent, row in portfolio.items():
        assert f'<td class="rule">{escape(row["rule"])}</td>' in table[agent]["row"]
    counts = re.search(r"agents by verdict<b>(.*?)</b>", html, re.S).group(1)
    shown = [int(n) for n in re.findall(r'">(\d+)</span>', counts)]
    assert shown == [fleet[f"n_{v.replace(' ', '_')}"] for v in VERDICTS]


def test_report_folder_is_small(september):
    folder = september.parent
    sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != PLOTLY_FILE]
    assert sum(sizes) < 5_000_000


def test_pages_load_offline_with_no_console_error_and_every_chart_drawn(september, tmp_path):
    for page in (september, september.parent / "agents" / "kb-answerer.html"):
        html = page.read_text()
        charts = re.findall(r'<div id="(chart-[^"]+)" class="plotly-graph-div"', html)
        assert charts
        dom, console = browser.load(page, tmp_path / "profile")
        assert console == [], page
        for chart in charts:
            drawn = re.search(rf'<div id="{chart}" class="([^"]*)"', dom).group(1)
            assert "js-plotly-plot" in drawn, chart
        assert dom.count('class="main-svg"') >= len(charts)
    shot = browser.screenshot(september, tmp_path / "profile", tmp_path / "review.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
