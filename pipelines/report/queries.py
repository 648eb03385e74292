"""What the report reads from the warehouse: one function per question, month-bound, each
one query over all agents (the report splits per agent in memory)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

TREND_WEEKS = 13  # weekly trends show the quarter that ends with the month
TOP_CASES = 10


def month_bounds(month: str) -> tuple[date, date]:
    """('2026-10') → (2026-10-01, 2026-11-01)."""
    year, number = (int(part) for part in month.split("-"))
    start = date(year, number, 1)
    end = date(year + number // 12, number % 12 + 1, 1)
    return start, end


def months_before(month: str, n: int) -> list[date]:
    """The first days of the n months ending with `month`, oldest first."""
    start, _ = month_bounds(month)
    firsts = [start]
    for _ in range(n - 1):
        firsts.insert(0, (firsts[0] - timedelta(days=1)).replace(day=1))
    return firsts


def _params(month: str) -> dict:
    start, end = month_bounds(month)
    return {"month_start": start, "month_end": end}


AGENT_MONTHS_SQL = """
select m.*, a.team, a.owner, a.risk_tier, a.lifecycle, a.monthly_budget_usd,
    a.agent_name is not null as is_registered
from agent_monthly as m left join agents as a using (agent_name)
where m.month_start >= $first and m.month_start < $month_end
order by m.agent_name, m.month_start
"""


def agent_months(con, month: str, n: int) -> pl.DataFrame:
    """agent_monthly + registry facts for the n months ending with `month`."""
    params = {"first": months_before(month, n)[0], "month_end": month_bounds(month)[1]}
    return con.sql(AGENT_MONTHS_SQL, params=params).pl()


def registry(con) -> pl.DataFrame:
    """The registered agents with what the review shows of them."""
    return con.sql(
        "select agent_name, team, owner, risk_tier, lifecycle, monthly_budget_usd, "
        "human_baseline_usd_per_case, quality_target from agents"
    ).pl()


FLEET_MONTHS_SQL = """
with cases as (
    select month_start, sum(n_cases) as n_cases, sum(n_resolved_cases) as n_resolved_cases,
        sum(cost_usd) as computed_usd
    from agent_monthly group by month_start
), bills as (
    select date_trunc('month', day)::date as month_start,
        sum(billed_cost_usd)::double as billed_usd,
        sum(computed_cost_usd) as reconciled_computed_usd,
        sum(traced_tokens) / nullif(sum(billed_tokens), 0) as trace_coverage
    from billing_reconciliation_daily group by all
), unattributed as (
    select billing_month as month_start, sum(allocated_cost)::double as unattributed_usd
    from cost_allocation_monthly where is_unattributed group by all
)
select month_start, cases.n_cases, cases.n_resolved_cases, cases.computed_usd,
    cases.computed_usd / nullif(cases.n_resolved_cases, 0) as cost_per_resolved_case_usd,
    bills.billed_usd, bills.reconciled_computed_usd, bills.trace_coverage,
    coalesce(unattributed.unattributed_usd, 0) as unattributed_usd
from cases
left join bills using (month_start)
left join unattributed using (month_start)
where month_start < $month_end
order by month_start
"""


def fleet_months(con, month: str) -> pl.DataFrame:
    """Fleet totals per month up to `month`: cases, computed and billed spend, coverage."""
    return con.sql(FLEET_MONTHS_SQL, params={"month_end": month_bounds(month)[1]}).pl()


AGENT_WEEKS_SQL = """
select week_start, agent_name, n_cases, quality_mean, quality_target, cost_usd,
    cost_per_resolved_case_usd, human_baseline_usd_per_case
from agent_weekly
where week_start >= $first and week_start < $month_end
order by agent_name, week_start
"""


def _trend_params(month: str) -> dict:
    """From the Monday TREND_WEEKS weeks before the month's end, to that end."""
    end = month_bounds(month)[1]
    first = end - timedelta(weeks=TREND_WEEKS)
    return {"first": first - timedelta(days=first.weekday()), "month_end": end}


def agent_weeks(con, month: str) -> pl.DataFrame:
    """Weekly volume, quality and cost per agent: the TREND_WEEKS ending with the month."""
    return con.sql(AGENT_WEEKS_SQL, params=_trend_params(month)).pl()


SPEND_WEEKS_SQL = """
select date_trunc('week', day)::date as week_start, agent_name, model,
    sum(cost_usd) as cost_usd, sum(n_llm_calls) as n_llm_calls
from llm_calls_daily
where day >= $first and day < $month_end
group by all order by all
"""


def spend_weeks(con, month: str) -> pl.DataFrame:
    """Computed spend per week, agent and model over the trend weeks."""
    return con.sql(SPEND_WEEKS_SQL, params=_trend_params(month)).pl()


SLO_SQL = """
select week_start, agent_name, slo, objective, target, actual, is_met
from slo_weekly
where week_start >= $month_start - 6 and week_start < $month_end
    and week_start + 6 >= $month_start
order by agent_name, week_start, slo
"""


def slo_weeks(con, month: str) -> pl.DataFrame:
    """Every SLO week that overlaps the month."""
    return con.sql(SLO_SQL, params=_params(month)).pl()


DRIFT_SQL = """
select 'daily' as granularity, * from drift_daily
where verdict = 'alert' and window_start >= $month_start and window_start < $month_end
union all by name
select 'weekly' as granularity, * from drift_weekly
where verdict = 'alert' and window_start >= $month_start and window_start < $month_end
order by agent_name, metric, granularity, window_start
"""


def drift_alerts(con, month: str) -> pl.DataFrame:
    """Drift windows of the month whose verdict is alert (daily and weekly)."""
    return con.sql(DRIFT_SQL, params=_params(month)).pl()


DRIFT_AGENT_SQL = """
select 'daily' as granularity, * from drift_daily
where verdict in ('alert', 'warn') and window_start >= $month_start
    and window_start < $month_end
union all by name
select 'weekly' as granularity, * from drift_weekly
where verdict in ('alert', 'warn') and window_start >= $month_start
    and window_start < $month_end
order by agent_name, granularity, window_start, metric
"""


def drift_details(con, month: str) -> pl.DataFrame:
    """Every warning or alert window of the month, for the agent pages."""
    return con.sql(DRIFT_AGENT_SQL, params=_params(month)).pl()


MODELS_SQL = """
select agent_name, provider, model, min(day) as first_day, max(day) as last_day,
    sum(n_llm_calls) as n_llm_calls, sum(cost_usd) as cost_usd,
    sum(n_unpriced_calls) as n_unpriced_calls,
    sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
    sum(cache_read_tokens) as cache_read_tokens, sum(cache_write_tokens) as cache_write_tokens,
    sum(reasoning_tokens) as reasoning_tokens
from llm_calls_daily
where day >= $month_start and day < $month_end
group by all order by agent_name, cost_usd desc
"""


def models_used(con, month: str) -> pl.DataFrame:
    """Per agent and model in the month: calls, cost, unpriced calls, tokens by type."""
    return con.sql(MODELS_SQL, params=_params(month)).pl()


HISTORY_SQL = """
select agent_name, 'version' as kind, agent_version as name, min(day) as first_day,
    max(day) as last_day, count(*) as n
from fct_cases where day < $month_end group by all
union all
select agent_name, 'model', model, min(day), max(day), sum(n_llm_calls)
from llm_calls_daily where day < $month_end group by all
order by agent_name, kind, first_day, name
"""


def history(con, month: str) -> pl.DataFrame:
    """Each agent's versions and models with the first and last day seen, up to the month."""
    return con.sql(HISTORY_SQL, params={"month_end": month_bounds(month)[1]}).pl()


INTENTS_SQL = """
select agent_name, coalesce(intent, '(none)') as intent, count(*) as n_cases,
    sum(cost_usd) as cost_usd, avg(is_resolved::int) as resolution_rate,
    avg(quality_score) as quality_mean
from fct_cases
where day >= $month_start and day < $month_end
group by all order by agent_name, cost_usd desc nulls last
"""


def intents(con, month: str) -> pl.DataFrame:
    """Cost and outcome per agent and intent in the month."""
    return con.sql(INTENTS_SQL, params=_params(month)).pl()


EXTREME_CASES_SQL = """
with month as (
    select agent_name, conversation_id, day, agent_version, intent, outcome, cost_usd,
        quality_score, duration_ms, n_llm_calls
    from fct_cases where day >= $month_start and day < $month_end
)
select 'costliest' as kind, * from month
qualify row_number() over (partition by agent_name
                           order by cost_usd desc nulls last, conversation_id) <= $top
union all
select 'worst scored', * from month
where quality_score is not null
qualify row_number() over (partition by agent_name
                           order by quality_score, conversation_id) <= $top
order by agent_name, kind, cost_usd desc
"""


def extreme_cases(con, month: str) -> pl.DataFrame:
    """Per agent, the TOP_CASES cases that cost most and that scored worst (ids, numbers)."""
    return con.sql(EXTREME_CASES_SQL, params={**_params(month), "top": TOP_CASES}).pl()


def governance_gaps(con) -> pl.DataFrame:
    """Agents seen in traces or the registry that miss a registry entry or field."""
    return con.sql("select * from governance_gaps where not is_compliant order by agent_name").pl()


QUARANTINE_SQL = """
select table_name, reason, count(*) as n_rows, count(distinct source_file) as n_files
from lake_quarantine group by all order by n_rows desc, reason
"""


def quarantine(con) -> pl.DataFrame:
    """Rows held back at ingest, by table and reason (all time: files are not dated)."""
    return con.sql(QUARANTINE_SQL).pl()


COVERAGE_SQL = """
select provider, sum(billed_cost_usd)::double as billed_usd, sum(computed_cost_usd) as computed_usd,
    sum(traced_tokens) / nullif(sum(billed_tokens), 0) as trace_coverage
from billing_reconciliation_daily
where day >= $month_start and day < $month_end
group by all order by provider
"""


def coverage(con, month: str) -> pl.DataFrame:
    """Billed vs computed spend and traced share of billed tokens, per provider."""
    return con.sql(COVERAGE_SQL, params=_params(month)).pl()


def months_with_data(con) -> list[str]:
    sql = "select distinct strftime(day, '%Y-%m') as month from agent_daily order by month"
    return [row[0] for row in con.sql(sql).fetchall()]
