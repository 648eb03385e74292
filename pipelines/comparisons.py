"""Canary and shadow comparison's I/O: each side's cases from the warehouse (fct_cases,
fct_shadow_cases), `fleetledger compare`'s JSON + HTML under reports/compare/, and the
`version_comparison` mart (built by `fleetledger build` after the drift marts). The
statistics and the ship/hold decision are in `pipelines/evals/compare.py`.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import plotly.graph_objects as go
import polars as pl
import pyarrow as pa

from pipelines.db import connect
from pipelines.evals import compare
from pipelines.evals.compare import DIMENSIONS, PRODUCTION, SHADOW, CompareError
from pipelines.evals.runs import DiffOutput
from pipelines.increments import built_warehouse
from pipelines.names import file_stem
from pipelines.policy import EvalDiffPolicy, eval_diff_policy
from pipelines.report.figures import LAYOUT
from pipelines.report.pages import (
    chart_html,
    ensure_plotly,
    environment,
    write_whole,
)
from pipelines.schemas import documented_schema
from pipelines.settings import Settings

COMPARE_DIR = "compare"
MART = "version_comparison"
GRAIN = ("agent_name", "dimension", "baseline", "candidate")
TABLES = {PRODUCTION: "fct_cases", SHADOW: "fct_shadow_cases"}
# {table} is one of TABLES (a constant, never data); values are bound parameters
CASES_SQL = """
select day, agent_version, model, variant, duration_ms, cost_usd, outcome, is_resolved,
    quality_score
from {table}
where agent_name = $agent
    and day between coalesce($start, date '0001-01-01') and coalesce($end, date '9999-12-31')
    and ($days is null or list_contains($days, day))
"""
DAILY_SQL = " union all ".join(
    [f"select agent_name, '{d}' as dimension, {d} as value, day, count(*) as n_cases "
     f"from fct_cases where {d} is not null group by all" for d in DIMENSIONS]
    + [f"select agent_name, '{SHADOW}' as dimension, '{side}' as value, day, "
       f"count(*) as n_cases from {table} group by all" for side, table in TABLES.items()]
)  # fmt: skip


def _metric_columns(name: str, unit: str, doc: str) -> list[tuple]:
    suffix = f"_{unit}" if unit else ""
    return [
        (f"baseline_{name}{suffix}", pa.float64(), f"The baseline's {doc}."),
        (f"candidate_{name}{suffix}", pa.float64(), f"The candidate's {doc}."),
        (f"{name}_difference{suffix}", pa.float64(), "candidate − baseline."),
        (f"{name}_ci_low{suffix}", pa.float64(),
         "Unpaired bootstrap 95 % interval of the difference, low end."),
        (f"{name}_ci_high{suffix}", pa.float64(), "Its high end."),
    ]  # fmt: skip


MART_METRICS = (  # compare.METRICS name → column stem, unit, what it is
    ("quality", "quality", "", "mean quality_score of its scored cases"),
    ("resolution_rate", "resolution_rate", "", "share of its cases resolved"),
    ("cost_per_case_usd", "cost_per_case", "usd", "mean cost_usd of its priced cases"),
    ("latency_p95_ms", "latency_p95", "ms", "95th percentile case duration (linear)"),
)
OUTCOME = pa.struct([(name, kind) for name, kind in (
    ("outcome", pa.string()), ("baseline_cases", pa.int64()), ("candidate_cases", pa.int64()),
    ("baseline_share", pa.float64()), ("candidate_share", pa.float64()),
    ("difference", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()),
)])  # fmt: skip
SCHEMA = documented_schema(
    "Canary and shadow comparison: for every agent, every two values of agent_version, "
    "model or variant that served production on the same days (and its shadow traffic "
    "against production), compared over those shared days only, with unpaired bootstrap "
    "95 % intervals of candidate − baseline and the eval diff's ship/hold rule "
    "(config/policy.yaml `eval_diff:`).",
    ("agent_name", pa.string(), "Agent."),
    ("dimension", pa.string(), "agent_version, model, variant (fct_cases columns; NULL "
     "values left out) or shadow (fct_shadow_cases against fct_cases)."),
    ("baseline", pa.string(), "The incumbent: the value with more cases over the shared days "
     "(then the one seen first); production in the shadow dimension."),
    ("candidate", pa.string(), "The other value (shadow in the shadow dimension)."),
    ("first_day", pa.date32(), "First day both served."),
    ("last_day", pa.date32(), "Last day both served."),
    ("n_days", pa.int64(), "Days both served (the only days compared)."),
    ("n_baseline_cases", pa.int64(), "Baseline cases over the shared days."),
    ("n_candidate_cases", pa.int64(), "Candidate cases over the shared days."),
    ("n_baseline_scored_cases", pa.int64(), "Of them, with a quality score."),
    ("n_candidate_scored_cases", pa.int64(), "Of them, with a quality score."),
    ("n_baseline_unpriced_cases", pa.int64(), "Baseline cases without a cost (left out of "
     "cost per case)."),
    ("n_candidate_unpriced_cases", pa.int64(), "Candidate cases without a cost."),
    *[column for _, stem, unit, doc in MART_METRICS for column in _metric_columns(stem, unit, doc)],
    ("outcomes", pa.list_(OUTCOME), "Outcome mix: per outcome (resolved, escalated, abandoned, "
     "fallback, unknown) each side's cases and share, the share's difference and interval."),
    ("outcome_chi2_p_value", pa.float64(), "Pearson chi-square p-value that the two outcome "
     "mixes are the same."),
    ("decision", pa.string(), "ship or hold (the eval diff's rule, per case)."),
    ("reasons", pa.list_(pa.string()), "Every check of the rule, in words."),
)  # fmt: skip


def load_cases(con, table: str, agent: str, *, start=None, end=None, days=None) -> pl.DataFrame:
    """An agent's cases from `table` (fct_cases or fct_shadow_cases), within start/end
    and on `days` when given."""
    if table not in TABLES.values():
        raise ValueError(f"{table}: not a case table ({', '.join(TABLES.values())})")
    params = {"agent": agent, "start": start, "end": end, "days": days}
    return con.sql(CASES_SQL.format(table=table), params=params).pl()


def run_compare(
    settings: Settings,
    agent: str,
    baseline: str,
    candidate: str,
    start: date | None = None,
    end: date | None = None,
    dimension: str | None = None,
) -> DiffOutput:
    """Compare two values of agent_version, model or variant of `agent` (or its shadow
    traffic, candidate `shadow`) over the production days both ran, within start/end;
    write reports/compare/<name>.{json,html}."""
    if start and end and start > end:
        raise CompareError(f"--start {start} is after --end {end}")
    warehouse = built_warehouse(settings.warehouse_path, CompareError)
    policy = eval_diff_policy(settings.config_dir)
    con = connect(warehouse, read_only=True)
    try:
        cases = load_cases(con, TABLES[PRODUCTION], agent, start=start, end=end)
        shadow = (
            load_cases(con, TABLES[SHADOW], agent, start=start, end=end)
            if candidate == SHADOW
            else cases.clear()
        )
        if cases.is_empty():
            agents = con.sql("select distinct agent_name from fct_cases").fetchall()
            raise CompareError(f"no production cases of {agent!r}{_period(start, end)}; "
                               f"agents: {compare.listed(a for (a,) in agents)}")  # fmt: skip
    finally:
        con.close()
    where = f"production cases{_period(start, end)}"
    found, base, cand = compare.select_sides(
        cases, shadow, baseline, candidate, agent, dimension, where
    )
    base, cand = compare.on_shared_days(base, cand, (baseline, candidate))
    result = {
        "agent": agent, "baseline_value": baseline, "candidate_value": candidate,
        "dimension": found, "start": start, "end": end,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **compare.compare(base, cand, policy), "policy": policy.__dict__,
    }  # fmt: skip
    period = f"--{start or ''}--{end or ''}" if start or end else ""
    name = file_stem(f"{agent}--{baseline}--vs--{candidate}{period}", limit=150)
    return write_reports(settings, name, result, daily_figure(base, cand, baseline, candidate))


def write_reports(settings: Settings, name: str, result: dict, figure: go.Figure) -> DiffOutput:
    """reports/compare/<name>.json and .html (plotly.js beside them, no CDN)."""
    out = settings.reports_dir / COMPARE_DIR
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / f"{name}.json", out / f"{name}.html"
    write_whole(json_path, json.dumps(result, indent=2, default=str))
    page = environment().get_template("compare.html.j2")
    chart = chart_html(figure, "chart-compare")
    write_whole(html_path, page.render(r=result, chart=chart, plotly_src=ensure_plotly(out)))
    return DiffOutput(result, html_path, json_path)


def _period(start, end) -> str:
    return f" from {start or 'the first day'} to {end or 'the last day'}" if start or end else ""


def daily_figure(baseline: pl.DataFrame, candidate: pl.DataFrame, *names: str) -> go.Figure:
    """Each side's daily mean quality over the shared days (cases per day on hover)."""
    fig = go.Figure()
    colors = ("#2f5d8a", "#c0392b")
    for name, cases, color in zip(names, (baseline, candidate), colors, strict=True):
        days = cases.group_by("day").agg(pl.col("quality_score").mean().round(4),
                                         pl.len().alias("n")).sort("day")  # fmt: skip
        fig.add_trace(go.Scatter(
            x=days["day"].to_list(), y=days["quality_score"].to_list(), name=name,
            customdata=days["n"].to_list(), mode="lines+markers", line_color=color,
            hovertemplate="%{x}: %{y:.3f} over %{customdata} cases",
        ))  # fmt: skip
    fig.update_layout(title="Daily mean quality on the shared days", height=320,
                      yaxis_title="mean quality", **LAYOUT)  # fmt: skip
    return fig


def build_mart(con, policy: EvalDiffPolicy) -> pa.Table:
    """version_comparison from the warehouse's fct_cases and fct_shadow_cases: one row
    per agent, dimension and pair of values that served on the same days."""
    found = pairs(con.sql(DAILY_SQL).pl())
    rows = []
    for (agent,), agent_pairs in found.partition_by("agent_name", as_dict=True).items():
        sides = {
            kind: load_cases(con, table, agent, days=_days(agent_pairs, kind == SHADOW))
            for kind, table in TABLES.items()
        }
        for pair in agent_pairs.iter_rows(named=True):
            dimension = None if pair["dimension"] == SHADOW else pair["dimension"]
            _, base, cand = compare.select_sides(sides[PRODUCTION], sides[SHADOW],
                                                 pair["baseline"], pair["candidate"], agent,
                                                 dimension)  # fmt: skip
            on_days = pl.col("day").is_in(pair["days"])
            rows.append(_row(pair, compare.compare(base.filter(on_days), cand.filter(on_days),
                                                   policy)))  # fmt: skip
    rows.sort(key=lambda row: tuple(row[key] for key in GRAIN))
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _days(pairs: pl.DataFrame, shadow: bool) -> list[date]:
    """The days any of an agent's pairs compares (only those of its shadow pair)."""
    chosen = pairs.filter(pl.col("dimension") == SHADOW) if shadow else pairs
    return sorted({day for days in chosen["days"] for day in days})


def _row(pair: dict, result: dict) -> dict:
    row = {key: pair[key] for key in GRAIN}
    row |= {"first_day": result["first_day"], "last_day": result["last_day"],
            "n_days": result["n_days"]}  # fmt: skip
    for side in ("baseline", "candidate"):
        counts = result[side]
        row[f"n_{side}_cases"] = counts["n_cases"]
        row[f"n_{side}_scored_cases"] = counts["n_scored_cases"]
        row[f"n_{side}_unpriced_cases"] = counts["n_unpriced_cases"]
    for metric, stem, unit, _ in MART_METRICS:
        suffix, values = f"_{unit}" if unit else "", result["metrics"][metric]
        row |= {f"baseline_{stem}{suffix}": values["baseline"],
                f"candidate_{stem}{suffix}": values["candidate"],
                f"{stem}_difference{suffix}": values["difference"],
                f"{stem}_ci_low{suffix}": values["ci_low"],
                f"{stem}_ci_high{suffix}": values["ci_high"]}  # fmt: skip
    return row | {"outcomes": result["outcomes"],
                  "outcome_chi2_p_value": result["outcome_chi2_p_value"],
                  "decision": result["decision"], "reasons": result["reasons"]}  # fmt: skip


def pairs(daily: pl.DataFrame) -> pl.DataFrame:
    """Every two values of one dimension of an agent that served on the same days: their
    shared days and cases there. The baseline is the value with more cases there (the
    incumbent; then the one seen first, then by name); in the shadow dimension it is always
    production. `daily`: agent_name, dimension, value, day, n_cases (one row each)."""
    keys = ["agent_name", "dimension", "value"]
    first = daily.group_by(keys).agg(pl.col("day").min().alias("first_seen"))
    dated = daily.join(first, on=keys)
    both = dated.join(dated, on=["agent_name", "dimension", "day"], suffix="_2").filter(
        pl.col("value") < pl.col("value_2")
    )
    grouped = both.group_by([*keys, "value_2"]).agg(
        pl.col("day").sort().alias("days"),
        pl.col("n_cases").sum(),
        pl.col("n_cases_2").sum(),
        pl.col("first_seen").first(),
        pl.col("first_seen_2").first(),
    )
    first_is_baseline = pl.when(pl.col("dimension") == SHADOW).then(
        pl.col("value") == PRODUCTION
    ).otherwise(
        (pl.col("n_cases") > pl.col("n_cases_2"))
        | ((pl.col("n_cases") == pl.col("n_cases_2"))
           & (pl.col("first_seen") <= pl.col("first_seen_2")))
    )  # fmt: skip

    def pick(first: str, second: str) -> pl.Expr:
        return pl.when(first_is_baseline).then(pl.col(first)).otherwise(pl.col(second))

    return grouped.select(
        "agent_name", "dimension", pick("value", "value_2").alias("baseline"),
        pick("value_2", "value").alias("candidate"), "days",
        pick("n_cases", "n_cases_2").alias("n_baseline_cases"),
        pick("n_cases_2", "n_cases").alias("n_candidate_cases"),
    ).sort("agent_name", "dimension", "baseline", "candidate")  # fmt: skip
