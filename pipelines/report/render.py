"""Render `reports/<YYYY-MM>/portfolio-review.html`, one page per agent under
`reports/<YYYY-MM>/agents/`, `reports/data-quality.html` and `reports/index.html`.

Self-contained and offline: plotly.js is written once per month folder (`plotly.min.js`,
from the installed plotly package) and loaded by relative path; no CDN, no network.
Every string from data is escaped by Jinja's autoescape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from markupsafe import Markup

from pipelines.db import connect
from pipelines.errors import UserError
from pipelines.increments import built_warehouse, local_copy
from pipelines.names import safe_name
from pipelines.periods import MONTH
from pipelines.policy import portfolio_policy
from pipelines.report import data_quality, figures, queries
from pipelines.report.pages import (
    PLOTLY_FILE,
    chart_html,
    ensure_plotly,
    environment,
    write_whole,
)
from pipelines.settings import Settings
from pipelines.verdicts import VERDICTS, rules_in_words

REPORT_FILE = "portfolio-review.html"
AGENTS_DIR = "agents"


class ReportError(UserError, ValueError):
    """The report cannot be rendered as asked; the message says why."""


@dataclass
class Agent:
    """One agent's month: its portfolio_monthly row (verdict, rule, figures), its page and
    its sparklines."""

    row: dict
    page: str  # agents/<file>.html, relative to the month folder
    cost_spark: str = ""  # inline SVG (Markup)
    quality_spark: str = ""


def page_name(agent: str, taken: set[str]) -> str:
    """A file name for an agent's page: its name with anything unsafe replaced, made
    unique within the month (names come from data)."""
    base = safe_name(agent)[:80] or "agent"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return f"{AGENTS_DIR}/{name}.html"


def _partition(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {key[0]: part for key, part in frame.partition_by("agent_name", as_dict=True).items()}


def _read_month(con, month: str) -> dict[str, pl.DataFrame]:
    """Everything the review and its agent pages show, selected from the warehouse."""
    return {
        "portfolio": queries.portfolio(con, month),
        "fleet": queries.fleet_months(con, month),
        "weeks": queries.agent_weeks(con, month),
        "spend": queries.spend_weeks(con, month),
        "slo": queries.slo_weeks(con, month),
        "drift": queries.drift_alerts(con, month),
        "drift_details": queries.drift_details(con, month),
        "changes": queries.changes(con, month),
        "comparisons": queries.comparisons(con, month),
        "guardrails": queries.guardrail_breaches(con, month),
        "burns": queries.burn_and_budget_alerts(con, month),
        "models": queries.models_used(con, month),
        "history": queries.history(con, month),
        "intents": queries.intents(con, month),
        "cases": queries.extreme_cases(con, month),
        "governance": queries.governance_gaps(con),
        "quarantine": queries.quarantine(con),
        "coverage": queries.coverage(con, month),
    }


def _read_checked(settings: Settings, month: str) -> dict[str, pl.DataFrame]:
    """The month's data, or a ReportError saying why there is none."""
    if not MONTH.match(month):
        raise ReportError(f"month must look like 2026-10, got {month!r}")
    warehouse = built_warehouse(settings.warehouse_path, ReportError)
    con = connect(warehouse, read_only=True)
    try:
        data = _read_month(con, month)
    finally:
        con.close()
    if not data["portfolio"]["n_cases"].sum():
        raise ReportError(f"no data for {month} in {settings.warehouse_path}")
    return data


def month_verdicts(settings: Settings, month: str) -> list[dict]:
    """Every agent with cases in `month`: its verdict and the rule that decided it, as
    portfolio_monthly holds them."""
    portfolio = _read_checked(settings, month)["portfolio"].filter(pl.col("n_cases") > 0)
    return [
        {"agent": row["agent_name"], "verdict": row["verdict"], "why": row["rule"]}
        for row in portfolio.to_dicts()
    ]


def render_month(settings: Settings, month: str) -> Path:
    """Render one month's portfolio review and its agent pages; returns the review's path."""
    data = _read_checked(settings, month)
    policy = portfolio_policy(settings.config_dir)
    agents = _agents(data)
    out_dir = settings.reports_dir / month
    (out_dir / AGENTS_DIR).mkdir(parents=True, exist_ok=True)
    plotly_src = ensure_plotly(out_dir)
    generated_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    templates = environment()
    for agent in agents:
        _render_agent(templates, out_dir, month, agent, data, generated_at)
    summary_frame = data["portfolio"].filter(pl.col("n_cases") > 0)
    html = templates.get_template("portfolio_review.html.j2").render(
        month=month,
        generated_at=generated_at,
        summary=_summary(data["fleet"], month),
        agents=agents,
        verdicts=VERDICTS,
        rules=rules_in_words(policy),
        policy=policy,
        charts={
            "quadrant": chart_html(figures.quadrant(summary_frame), "chart-quadrant"),
            "spend_agent": chart_html(
                figures.spend_over_time(data["spend"], "agent_name"), "chart-spend-agent"
            ),
            "spend_model": chart_html(
                figures.spend_over_time(data["spend"], "model"), "chart-spend-model"
            ),
            "quality": chart_html(figures.quality_trends(data["weeks"]), "chart-quality"),
        },
        drift=_drift_flags(data["drift"]),
        slo_breaches=data["slo"].filter(~pl.col("is_met")).to_dicts(),
        changes=data["changes"].to_dicts(),
        comparisons=data["comparisons"].to_dicts(),
        guardrails=data["guardrails"].to_dicts(),
        burns=data["burns"].to_dicts(),
        retiring=[a.row for a in agents if a.row["retiring_models"]],
        governance=data["governance"].to_dicts(),
        quarantine=data["quarantine"].to_dicts(),
        unpriced=data["models"].filter(pl.col("n_unpriced_calls") > 0).to_dicts(),
        coverage=data["coverage"].to_dicts(),
        plotly_src=plotly_src,
    )
    target = out_dir / REPORT_FILE
    write_whole(target, html)
    data_quality.render_data_quality(settings)
    render_index(settings.reports_dir)
    return target


def _agents(data: dict) -> list[Agent]:
    """The month's agents in portfolio_monthly's order, with their pages and sparklines."""
    weeks = _partition(data["weeks"])
    taken: set[str] = set()
    agents = []
    for row in data["portfolio"].to_dicts():
        name = row["agent_name"]
        agent = Agent(row, page_name(name, taken))
        if name in weeks:
            agent.cost_spark = figures.sparkline(
                weeks[name]["cost_per_resolved_case_usd"].to_list()
            )
            agent.quality_spark = figures.sparkline(weeks[name]["quality_mean"].to_list())
        agents.append(agent)
    return agents


def _drift_flags(drift: pl.DataFrame) -> list[dict]:
    """Per agent, metric and granularity: the month's first alert window (its evidence) and
    how many alert windows the month had."""
    if drift.is_empty():
        return []
    first = (
        drift.sort("window_start")
        .group_by("agent_name", "metric", "granularity")
        .agg(pl.all().first(), pl.len().alias("n_alert_windows"))
    )
    return first.sort("agent_name", "metric", "granularity").to_dicts()


def _summary(fleet: pl.DataFrame, month: str) -> dict:
    """The month's fleet_monthly row, and the months before it for the trend."""
    start = queries.month_bounds(month)[0]
    rows = fleet.to_dicts()
    now = next((r for r in rows if r["month_start"] == start), {})
    return {
        **now,
        "trend": figures.sparkline(fleet["cost_per_resolved_case_usd"].to_list(), 140, 30),
        "trend_months": [
            (f"{r['month_start']:%Y-%m}", r["cost_per_resolved_case_usd"]) for r in rows
        ],
    }


def _render_agent(templates, out_dir: Path, month: str, agent: Agent, data: dict, when: str):
    name = agent.row["agent_name"]

    def rows(key: str) -> list[dict]:
        part = data[key].filter(pl.col("agent_name") == name)
        return part.to_dicts()

    weeks = data["weeks"].filter(pl.col("agent_name") == name)
    chart = (
        chart_html(
            figures.agent_trends(
                weeks, agent.row.get("quality_target"), agent.row.get("human_baseline_usd_per_case")
            ),
            "chart-agent-trends",
        )
        if not weeks.is_empty()
        else Markup("")
    )
    cases = rows("cases")
    html = templates.get_template("agent.html.j2").render(
        month=month,
        generated_at=when,
        agent=agent,
        chart=chart,
        models=rows("models"),
        intents=rows("intents"),
        drift=rows("drift_details"),
        history=rows("history"),
        costliest=[c for c in cases if c["kind"] == "costliest"],
        worst=[c for c in cases if c["kind"] == "worst scored"],
        plotly_src=f"../{PLOTLY_FILE}",
    )
    write_whole(out_dir / agent.page, html)


def render_index(reports_dir: Path) -> Path:
    """`reports/index.html`: every rendered report, newest first, and the data-quality
    page when there is one."""
    months = sorted(
        (p.parent.name for p in reports_dir.glob(f"*/{REPORT_FILE}") if MONTH.match(p.parent.name)),
        reverse=True,
    )
    quality = data_quality.PAGE if (reports_dir / data_quality.PAGE).exists() else None
    template = environment().get_template("index.html.j2")
    html = template.render(months=months, report=REPORT_FILE, data_quality=quality)
    target = reports_dir / "index.html"
    write_whole(target, html)
    return target


def latest_full_month(settings: Settings) -> str:
    """The last calendar month with data whose last day is covered by the data."""
    con = connect(local_copy(settings.warehouse_path), read_only=True)
    try:
        last_day = con.execute("select max(day) from agent_daily").fetchall()[0][0]
    finally:
        con.close()
    if last_day is None:
        raise ReportError("the warehouse has no agent_daily rows; ingest and build first")
    return full_month_before(last_day)


def previous_month(today: date) -> str:
    """The calendar month before `today`'s: what the monthly review renders on the 1st."""
    return f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"


def full_month_before(last_day: date) -> str:
    """The month of `last_day` if it is that month's last day, else the month before."""
    start, end = queries.month_bounds(f"{last_day:%Y-%m}")
    if end - last_day == timedelta(days=1):
        return f"{last_day:%Y-%m}"
    return f"{start - timedelta(days=1):%Y-%m}"
