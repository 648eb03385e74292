"""What the report reads from the warehouse: one function per table it needs, month-bound."""

from __future__ import annotations

from datetime import date

import polars as pl

AGENT_MONTH_SQL = """
with days as (
    select * from agent_daily
    where day >= $month_start and day < $month_end
),
latency as (
    select agent_name, quantile_cont(duration_ms, 0.95) as p95_llm_latency_ms
    from fct_llm_calls
    where started_at >= $month_start and started_at < $month_end
    group by agent_name
),
volume as (
    select
        agent_name,
        sum(n_cases) as n_cases,
        sum(n_resolved_cases) as n_resolved_cases,
        sum(n_llm_calls) as n_llm_calls,
        sum(cost_usd) as cost_usd,
        sum(n_unpriced_calls) as n_unpriced_calls,
        sum(quality_mean * n_scored_cases) / nullif(sum(n_scored_cases), 0) as quality_mean,
        sum(n_scored_cases) as n_scored_cases
    from days
    group by agent_name
)
select
    volume.*,
    volume.cost_usd / nullif(volume.n_cases, 0) as cost_per_case_usd,
    volume.cost_usd / nullif(volume.n_resolved_cases, 0) as cost_per_resolved_case_usd,
    volume.n_resolved_cases / nullif(volume.n_cases, 0) as resolution_rate,
    latency.p95_llm_latency_ms,
    agents.team, agents.owner, agents.risk_tier, agents.human_baseline_usd_per_case,
    agents.quality_target, agents.monthly_budget_usd,
    agents.agent_name is not null as is_registered
from volume
left join latency using (agent_name)
left join agents using (agent_name)
order by volume.cost_usd desc, volume.agent_name
"""

AGENT_DAYS_SQL = """
select agent_name, day, n_cases, n_resolved_cases, cost_usd, cost_per_resolved_case_usd,
    quality_mean
from agent_daily
where day >= $month_start and day < $month_end
order by agent_name, day
"""

MONTHS_SQL = "select distinct strftime(day, '%Y-%m') as month from agent_daily order by month"


def month_bounds(month: str) -> tuple[date, date]:
    """('2026-10') → (2026-10-01, 2026-11-01)."""
    year, number = (int(part) for part in month.split("-"))
    start = date(year, number, 1)
    end = date(year + number // 12, number % 12 + 1, 1)
    return start, end


def _params(month: str) -> dict:
    start, end = month_bounds(month)
    return {"month_start": start, "month_end": end}


def agent_month(con, month: str) -> pl.DataFrame:
    """One row per agent active in the month: volume, quality, cost, registry facts."""
    return con.sql(AGENT_MONTH_SQL, params=_params(month)).pl()


def agent_days(con, month: str) -> pl.DataFrame:
    """One row per agent × day of the month."""
    return con.sql(AGENT_DAYS_SQL, params=_params(month)).pl()


def months_with_data(con) -> list[str]:
    return [row[0] for row in con.sql(MONTHS_SQL).fetchall()]
