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


def _params(month: str) -> dict:
    start, end = month_bounds(month)
    return {"month_start": start, "month_end": end}


PORTFOLIO_SQL = """
select * from portfolio_monthly where month_start = $month_start
order by cost_usd desc nulls last, agent_name
"""


def portfolio(con, month: str) -> pl.DataFrame:
    """Every agent's verdict, rule and figures for the month (portfolio_monthly), the
    costliest first."""
    return con.sql(PORTFOLIO_SQL, params={"month_start": month_bounds(month)[0]}).pl()


def fleet_months(con, month: str) -> pl.DataFrame:
    """fleet_monthly up to `month`: cases, computed and billed spend, gap, coverage, verdicts."""
    sql = "select * from fleet_monthly where month_start < $month_end order by month_start"
    return con.sql(sql, params={"month_end": month_bounds(month)[1]}).pl()


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


CHANGES_SQL = """
select * from change_events where first_day >= $month_start and first_day < $month_end
order by is_gated, first_day, agent_name, dimension
"""


def changes(con, month: str) -> pl.DataFrame:
    """Versions, models and variants that reached production in the month (change_events):
    the ungated first."""
    return con.sql(CHANGES_SQL, params=_params(month)).pl()


COMPARISONS_SQL = """
select * from version_comparison where first_day < $month_end and last_day >= $month_start
order by decision, agent_name, dimension, first_day
"""


def comparisons(con, month: str) -> pl.DataFrame:
    """Canary and shadow comparisons (version_comparison) whose shared days touch the month:
    the held first."""
    return con.sql(COMPARISONS_SQL, params=_params(month)).pl()


GUARDRAIL_SQL = """
select *, count(*) over (partition by agent_name, agent_version, evaluator) as n_breach_days
from evaluator_daily
where is_breach and day >= $month_start and day < $month_end
qualify row_number() over (partition by agent_name, agent_version, evaluator order by day) = 1
order by agent_name, evaluator, agent_version
"""


def guardrail_breaches(con, month: str) -> pl.DataFrame:
    """Per agent, version and evaluator: its first breaching day of the month
    (evaluator_daily) and how many days of the month breached."""
    return con.sql(GUARDRAIL_SQL, params=_params(month)).pl()


BURN_AND_BUDGET_SQL = """
select 'SLO burn' as kind, agent_name, slo as subject, day, reason
from slo_burn_daily where is_new_alert and day >= $month_start and day < $month_end
union all
select 'budget forecast', agent_name, 'monthly budget', day, reason
from budget_forecast_daily where is_new_alert and day >= $month_start and day < $month_end
order by day, agent_name, kind, subject
"""


def burn_and_budget_alerts(con, month: str) -> pl.DataFrame:
    """The month's SLO burn-rate alerts (slo_burn_daily) and budget forecast alerts
    (budget_forecast_daily), each episode's first day."""
    return con.sql(BURN_AND_BUDGET_SQL, params=_params(month)).pl()


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
    sum(cost_usd) as cost_usd, sum(cost_usd) / count(*) as cost_per_case_usd,
    avg(is_resolved::int) as resolution_rate,
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
