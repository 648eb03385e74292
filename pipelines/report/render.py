"""Render `reports/<YYYY-MM>/portfolio-review.html` and `reports/index.html`.

Self-contained and offline: plotly.js is written once next to each month's report
(`plotly.min.js`, from the installed plotly package) and loaded by relative path; no
CDN, no network. Every string from data is escaped by Jinja's autoescape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import plotly.offline
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from pipelines.db import connect
from pipelines.report import figures, queries
from pipelines.settings import Settings

REPORT_FILE = "portfolio-review.html"
PLOTLY_FILE = "plotly.min.js"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ReportError(ValueError):
    """The report cannot be rendered as asked; the message says why."""


@dataclass(frozen=True)
class AgentSection:
    row: dict
    chart: Markup
    flags: list[str]

    @property
    def is_above_baseline(self) -> bool:
        return is_above_baseline(self.row)

    @property
    def is_below_target(self) -> bool:
        return is_below_target(self.row)


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("pipelines.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )


def _chart(fig, div_id: str) -> Markup:
    html = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )
    return Markup(html)


def is_above_baseline(row: dict) -> bool:
    """Cost per resolved case above the human baseline (False when either is unknown)."""
    baseline, cost = row["human_baseline_usd_per_case"], row["cost_per_resolved_case_usd"]
    return baseline is not None and cost is not None and cost > baseline


def is_below_target(row: dict) -> bool:
    """Mean quality below the registry target (False when either is unknown)."""
    target, quality = row["quality_target"], row["quality_mean"]
    return target is not None and quality is not None and quality < target


def agent_flags(row: dict) -> list[str]:
    """Plain-language flags an agent earns this month."""
    flags = []
    if not row["is_registered"]:
        flags.append("not in the registry")
    if is_above_baseline(row):
        flags.append("costs more per resolved case than the human baseline")
    if is_below_target(row):
        flags.append("quality below target")
    if row["n_unpriced_calls"]:
        flags.append(f"{row['n_unpriced_calls']} unpriced calls (cost unknown)")
    return flags


def render_month(settings: Settings, month: str) -> Path:
    """Render one month's portfolio review; returns the HTML path."""
    if not MONTH.match(month):
        raise ReportError(f"month must look like 2026-10, got {month!r}")
    if not settings.warehouse_path.exists():
        raise ReportError(f"{settings.warehouse_path}: no warehouse yet; run `fleetledger build`")
    con = connect(settings.warehouse_path, read_only=True)
    try:
        agents = queries.agent_month(con, month)
        days = queries.agent_days(con, month)
    finally:
        con.close()
    if agents.is_empty():
        raise ReportError(f"no data for {month} in {settings.warehouse_path}")
    sections = []
    for index, row in enumerate(agents.iter_rows(named=True)):
        fig = figures.agent_trend(days, row["agent_name"], row["human_baseline_usd_per_case"])
        sections.append(AgentSection(row, _chart(fig, f"chart-agent-{index}"), agent_flags(row)))
    totals = {
        "n_agents": agents.height,
        "n_cases": int(agents["n_cases"].sum()),
        "n_resolved_cases": int(agents["n_resolved_cases"].sum()),
        "cost_usd": float(agents["cost_usd"].sum()),
        "n_unpriced_calls": int(agents["n_unpriced_calls"].sum()),
    }
    totals["cost_per_resolved_case_usd"] = totals["cost_usd"] / max(totals["n_resolved_cases"], 1)
    html = (
        _environment()
        .get_template("portfolio_review.html.j2")
        .render(
            month=month,
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            totals=totals,
            sections=sections,
            fleet_chart=_chart(figures.fleet_daily_cost(days), "chart-fleet-cost"),
            plotly_src=PLOTLY_FILE,
        )
    )
    out_dir = settings.reports_dir / month
    out_dir.mkdir(parents=True, exist_ok=True)
    plotly_js = out_dir / PLOTLY_FILE
    if not plotly_js.exists():
        plotly_js.write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    target = out_dir / REPORT_FILE
    target.write_text(html, encoding="utf-8")
    render_index(settings.reports_dir)
    return target


def render_index(reports_dir: Path) -> Path:
    """`reports/index.html`: every rendered report, newest first."""
    months = sorted(
        (p.parent.name for p in reports_dir.glob(f"*/{REPORT_FILE}") if MONTH.match(p.parent.name)),
        reverse=True,
    )
    html = _environment().get_template("index.html.j2").render(months=months, report=REPORT_FILE)
    target = reports_dir / "index.html"
    target.write_text(html, encoding="utf-8")
    return target


def latest_full_month(settings: Settings) -> str:
    """The last calendar month with data whose last day is covered by the data."""
    con = connect(settings.warehouse_path, read_only=True)
    try:
        last_day = con.execute("select max(day) from agent_daily").fetchall()[0][0]
    finally:
        con.close()
    if last_day is None:
        raise ReportError("the warehouse has no agent_daily rows; ingest and build first")
    return full_month_before(last_day)


def full_month_before(last_day: date) -> str:
    """The month of `last_day` if it is that month's last day, else the month before."""
    start, end = queries.month_bounds(f"{last_day:%Y-%m}")
    if end - last_day == timedelta(days=1):
        return f"{last_day:%Y-%m}"
    return f"{start - timedelta(days=1):%Y-%m}"
