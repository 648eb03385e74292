"""`portfolio_monthly`: every agent's verdict per month, built into the warehouse by
`fleetledger build` after the drift marts (drift alerts move verdicts). The review and
analysts read the verdicts from here; `pipelines.verdicts` holds the rules.

One row per agent × month with data in agent_monthly: every agent with cases or calls
that month, and every registered agent (0 cases when it had none).
"""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa

from pipelines.periods import month_end, months_ending
from pipelines.policy import PortfolioPolicy
from pipelines.retirements import Retirement
from pipelines.schemas import documented_schema
from pipelines.verdicts import Flags, decide

MART = "portfolio_monthly"
GRAIN = ("month_start", "agent_name")
LIST = pa.list_(pa.string())

# the agent_monthly columns the mart repeats: the numbers each verdict stands on
FIGURES = (
    ("n_cases", pa.int64(), "Cases started in the month."),
    ("n_resolved_cases", pa.int64(), "Cases whose outcome is resolved."),
    ("resolution_rate", pa.float64(), "n_resolved_cases ÷ n_cases."),
    ("cost_usd", pa.float64(), "Computed cost of the month's cases (NULL: none priced)."),
    ("priced_share", pa.float64(), "Priced LLM calls ÷ LLM calls of the cases."),
    ("is_cost_partial", pa.bool_(), "Some calls unpriced: cost figures are lower bounds."),
    ("cost_per_resolved_case_usd", pa.float64(), "cost_usd ÷ n_resolved_cases."),
    ("cost_per_resolved_case_ci_low", pa.float64(), "Its 95 % interval, lower end."),
    ("cost_per_resolved_case_ci_high", pa.float64(), "Its 95 % interval, upper end."),
    ("human_baseline_usd_per_case", pa.float64(), "What a human costs per case (registry)."),
    ("net_saving_usd", pa.float64(), "Net saving against humans (see agent_monthly)."),
    ("break_even_resolution_rate", pa.float64(), "Resolution rate at which it breaks even."),
    ("quality_mean", pa.float64(), "Mean quality of the scored cases."),
    ("quality_ci_low", pa.float64(), "Its 95 % interval, lower end."),
    ("quality_ci_high", pa.float64(), "Its 95 % interval, upper end."),
    ("quality_target", pa.float64(), "Minimum acceptable mean quality (registry)."),
    ("audit_completeness", pa.float64(), "Complete spans ÷ audit events (see agent_monthly)."),
)

SCHEMA = documented_schema(
    "One row per agent × calendar month: the portfolio review's verdict, the rules that "
    "decided it and the numbers and intervals it stands on (config/policy.yaml "
    "`portfolio:`).",
    ("month_start", pa.date32(), "First day of the calendar month (UTC)."),
    ("agent_name", pa.string(), "Agent, as traced or registered."),
    ("is_registered", pa.bool_(), "Listed in config/agents.yaml."),
    ("team", pa.string(), "Owning team (registry)."),
    ("owner", pa.string(), "Accountable person (registry)."),
    ("risk_tier", pa.string(), "low, medium or high (registry)."),
    ("lifecycle", pa.string(), "pilot, production or retiring (registry)."),
    ("monthly_budget_usd", pa.float64(), "Monthly spend budget (registry)."),
    *FIGURES,
    (
        "cost_evidence",
        pa.string(),
        "Cost per resolved case against the baseline: above / "
        "below (95 % interval entirely on that side), unclear (it straddles), unknown (no "
        "baseline or cost), too few cases (under min_cases).",
    ),
    (
        "quality_evidence",
        pa.string(),
        "Quality against the target: below / meets / unclear "
        "/ unknown / too few cases, as cost_evidence.",
    ),
    ("slo_weeks", pa.int64(), "ISO weeks overlapping the month with SLO results."),
    ("slo_weeks_met", pa.int64(), "Of those, weeks with every SLO met."),
    ("slo_missed", LIST, "SLOs missed in at least one of those weeks."),
    ("drift_metrics", LIST, "Metrics whose drift alerted in a window starting in the month."),
    (
        "retiring_models",
        LIST,
        "Models called in the month that retire within "
        "model_retirement_days after it, with their dates.",
    ),
    ("governance_missing", LIST, "What the agent's registry entry lacks (governance_gaps)."),
    (
        "ungated_changes",
        LIST,
        "Versions, models or variants that reached production in the month without an eval "
        "diff that shipped them (change_events.is_gated false).",
    ),
    (
        "guardrail_breaches",
        LIST,
        "Evaluators (with the version) that breached their threshold on a day of the month "
        "(evaluator_daily).",
    ),
    ("verdict", pa.string(), "retire, watch, keep or insufficient data."),
    (
        "decided_by",
        LIST,
        "Keys of the rules that decided the verdict (cost_above_baseline, "
        "quality_below_target, drift, over_budget, model_retiring, cost_unpriced, "
        "not_registered, governance_gaps, slo_missed, ungated_change, guardrail_breach, "
        "min_cases, interval_straddles, keep).",
    ),
    ("rule", pa.string(), "The deciding findings in words, with the agent's numbers."),
)

MONTHS_SQL = f"""
select m.month_start, m.agent_name, {", ".join(f"m.{name}" for name, _, _ in FIGURES)},
    a.team, a.owner, a.risk_tier, a.lifecycle, a.monthly_budget_usd,
    a.agent_name is not null as is_registered
from agent_monthly as m left join agents as a using (agent_name)
where m.agent_name is not null
"""
REGISTRY_SQL = """
select agent_name, team, owner, risk_tier, lifecycle, monthly_budget_usd,
    human_baseline_usd_per_case, quality_target, true as is_registered
from agents
"""
DRIFT_SQL = """
select agent_name, date_trunc('month', window_start)::date as month_start,
    list(distinct metric order by metric) as metrics
from (select * from drift_daily union all by name select * from drift_weekly)
where verdict = 'alert'
group by all
"""
# the weeks overlapping a month: Monday within 6 days before its first day, up to its last
SLO_SQL = """
with months as (select distinct month_start from agent_monthly),
weeks as (
    select months.month_start, slo.agent_name, slo.week_start,
        list(slo.slo order by slo.slo) filter (where not slo.is_met) as missed
    from slo_weekly as slo
    join months on slo.week_start > months.month_start - 7
        and slo.week_start < months.month_start + interval 1 month
    group by all
)
select month_start, agent_name, count(*) as slo_weeks,
    count(*) filter (where missed is null) as slo_weeks_met,
    count(*) filter (where missed is not null) as slo_weeks_missed,
    list_sort(list_distinct(flatten(list(missed) filter (where missed is not null))))
        as slo_missed
from weeks group by all
"""
MODELS_SQL = """
select distinct agent_name, date_trunc('month', day)::date as month_start, provider, model
from llm_calls_daily where agent_name is not null and model is not null
"""
UNGATED_SQL = """
select agent_name, date_trunc('month', first_day)::date as month_start,
    list(dimension || ' ' || to_value || ' (from ' || coalesce(from_value, 'none') || ', '
         || strftime(first_day, '%Y-%m-%d') || ')' order by first_day, dimension, to_value)
        as changes
from change_events where not is_gated
group by all
"""
GUARDRAIL_SQL = """
select agent_name, date_trunc('month', day)::date as month_start,
    list(distinct evaluator || ' (' || coalesce(agent_version, 'no version') || ')'
         order by evaluator || ' (' || coalesce(agent_version, 'no version') || ')')
        as breaches
from evaluator_daily where is_breach
group by all
"""
GOVERNANCE_SQL = """
select agent_name, list_filter(missing, lambda gap: gap <> 'registry entry') as missing
from governance_gaps where agent_name is not null
"""


def build_mart(con, policy: PortfolioPolicy, retirements: dict) -> pa.Table:
    """portfolio_monthly from the warehouse's marts (agent_monthly, slo_weekly,
    drift_daily/weekly, governance_gaps, llm_calls_daily, change_events, evaluator_daily)
    and the registry."""
    rows = con.sql(MONTHS_SQL).pl().to_dicts()
    months = sorted({row["month_start"] for row in rows})
    by_agent: dict[str, dict[date, dict]] = {}
    for row in rows:
        by_agent.setdefault(row["agent_name"], {})[row["month_start"]] = row
    registry = {row["agent_name"]: row for row in con.sql(REGISTRY_SQL).pl().to_dicts()}
    for name in registry:
        by_agent.setdefault(name, {})
    drift = {(r["agent_name"], r["month_start"]): r["metrics"] for r in _dicts(con, DRIFT_SQL)}
    slo = {(r["agent_name"], r["month_start"]): r for r in _dicts(con, SLO_SQL)}
    governance = {r["agent_name"]: r["missing"] for r in _dicts(con, GOVERNANCE_SQL)}
    ungated = {(r["agent_name"], r["month_start"]): r["changes"] for r in _dicts(con, UNGATED_SQL)}
    breaches = {
        (r["agent_name"], r["month_start"]): r["breaches"] for r in _dicts(con, GUARDRAIL_SQL)
    }
    retiring = _retiring(_dicts(con, MODELS_SQL), retirements, policy)
    out = []
    for name in sorted(by_agent):
        agent_months = by_agent[name]
        for month in months:
            row = agent_months.get(month)
            if row is None and name not in registry:
                continue
            window = [agent_months.get(m) for m in months_ending(month, policy.months_running)]
            slo_row = slo.get((name, month), {})
            flags = Flags(
                is_registered=name in registry,
                drift_metrics=tuple(drift.get((name, month)) or ()),
                retiring_models=tuple(retiring.get((name, month), ())),
                slo_missed=tuple(slo_row.get("slo_missed") or ()),
                slo_weeks_missed=slo_row.get("slo_weeks_missed") or 0,
                governance_missing=tuple(governance.get(name) or ()),
                ungated_changes=tuple(ungated.get((name, month)) or ()),
                guardrail_breaches=tuple(breaches.get((name, month)) or ()),
            )
            shown = row or {**registry[name], "n_cases": 0, "n_resolved_cases": 0}
            window[-1] = shown
            verdict = decide(window, flags, policy)
            out.append({
                **{key: shown.get(key) for key in SCHEMA.names},
                "month_start": month, "agent_name": name, "is_registered": flags.is_registered,
                "cost_evidence": verdict.cost_evidence,
                "quality_evidence": verdict.quality_evidence,
                "slo_weeks": slo_row.get("slo_weeks", 0),
                "slo_weeks_met": slo_row.get("slo_weeks_met", 0),
                "slo_missed": list(flags.slo_missed), "drift_metrics": list(flags.drift_metrics),
                "retiring_models": list(flags.retiring_models),
                "governance_missing": list(flags.governance_missing),
                "ungated_changes": list(flags.ungated_changes),
                "guardrail_breaches": list(flags.guardrail_breaches),
                "verdict": verdict.verdict, "decided_by": list(verdict.decided_by),
                "rule": verdict.rule,
            })  # fmt: skip
    return pa.Table.from_pylist(out, schema=SCHEMA)


def _dicts(con, sql: str) -> list[dict]:
    return con.sql(sql).pl().to_dicts()


def _retiring(models: list[dict], retirements: dict[tuple[str, str], Retirement], policy):
    """(agent, month) → the models it called that month retiring within the policy's days
    after the month's end, as "model (retires YYYY-MM-DD)"."""
    found: dict[tuple[str, date], list[str]] = {}
    for row in sorted(models, key=lambda r: (r["provider"] or "", r["model"])):
        retirement = retirements.get((row["provider"], row["model"]))
        if retirement is None:
            continue
        horizon = month_end(row["month_start"]) + timedelta(days=policy.model_retirement_days)
        if retirement.retires_on <= horizon:
            found.setdefault((row["agent_name"], row["month_start"]), []).append(
                f"{row['model']} (retires {retirement.retires_on})"
            )
    return found
