"""The verdict rules (pipelines.verdicts), pure: hand-made agent_monthly rows in, verdict out.

Defaults: 200 cases, 100 resolved, cost per resolved case $0.50 with its 95 % interval
[$0.40, $0.60] against a $1.00 baseline; quality 0.90 [0.85, 0.95] against a 0.80 target.
"""

from __future__ import annotations

from dataclasses import replace

from pipelines.policy import PortfolioPolicy
from pipelines.verdicts import Flags, decide

POLICY = PortfolioPolicy()
REGISTERED = Flags()


def month(n_cases=200, cost=0.5, low=0.4, high=0.6, quality=0.9, q_low=0.85, q_high=0.95,
          **extra):  # fmt: skip
    row = {
        "n_cases": n_cases, "n_resolved_cases": n_cases // 2,
        "cost_per_resolved_case_usd": cost, "cost_per_resolved_case_ci_low": low,
        "cost_per_resolved_case_ci_high": high, "human_baseline_usd_per_case": 1.0,
        "cost_usd": cost * (n_cases // 2), "is_cost_partial": False, "priced_share": 1.0,
        "quality_mean": quality, "quality_ci_low": q_low, "quality_ci_high": q_high,
        "quality_target": 0.8, "monthly_budget_usd": 500.0,
    }  # fmt: skip
    return row | extra


OVER = month(cost=1.25, low=1.10, high=1.40)


def test_a_small_agent_clearly_above_its_baseline_two_months_running_retires():
    """~200 cases a month (under the old fixed 300), both intervals above $1.00."""
    verdict = decide([OVER, OVER], REGISTERED, POLICY)
    assert verdict.verdict == "retire"
    assert verdict.decided_by == ("cost_above_baseline",)
    assert verdict.rule == (
        "cost per resolved case $1.25, 95 % interval [$1.10, $1.40] above the $1.00 human "
        "baseline 2 months running"
    )
    assert verdict.cost_evidence == "above"
    # one month clearly over: watch; the month before missing or straddling: watch too
    assert decide([month(), OVER], REGISTERED, POLICY).verdict == "watch"
    assert decide([None, OVER], REGISTERED, POLICY).verdict == "watch"
    assert decide([month(low=0.9, high=1.1), OVER], REGISTERED, POLICY).verdict == "watch"


def test_insufficient_data_only_when_an_interval_straddles_or_under_the_floor():
    straddles = decide([month(), month(cost=1.05, low=0.95, high=1.15)], REGISTERED, POLICY)
    assert (straddles.verdict, straddles.decided_by) == ("insufficient data",
                                                         ("interval_straddles",))  # fmt: skip
    assert straddles.rule == (
        "cost per resolved case $1.05, 95 % interval [$0.95, $1.15] straddles the $1.00 "
        "human baseline"
    )
    unclear_quality = decide([month(), month(q_low=0.78)], REGISTERED, POLICY)
    assert unclear_quality.rule == (
        "quality 0.900, 95 % interval [0.780, 0.950] straddles the 0.80 target"
    )
    tiny = decide([month(), month(n_cases=29, cost=5.0, low=4.0, high=6.0)], REGISTERED, POLICY)
    assert (tiny.verdict, tiny.rule) == ("insufficient data", "29 cases < 30 (min_cases)")
    # a partial cost is a lower bound: below the baseline proves nothing
    partial = month(is_cost_partial=True, priced_share=0.97)
    assert decide([month(), partial], REGISTERED, POLICY).verdict == "insufficient data"
    keep = decide([month(), month()], REGISTERED, POLICY)
    assert keep.verdict == "keep"
    assert keep.rule == (
        "cost per resolved case $0.50, 95 % interval [$0.40, $0.60] below the $1.00 human "
        "baseline; quality 0.900, 95 % interval [0.850, 0.950] meets the 0.80 target"
    )


def test_quality_clearly_below_target_retires_unless_it_is_rising():
    under = month(quality=0.70, q_low=0.65, q_high=0.75)
    flat = decide([month(quality=0.705, q_low=0.66, q_high=0.75), under], REGISTERED, POLICY)
    assert flat.verdict == "retire" and "-0.005 on the month before" in flat.rule
    rising = month(quality=0.68, q_low=0.63, q_high=0.73)
    assert decide([rising, under], REGISTERED, POLICY).verdict == "watch"  # +0.02


def test_unregistered_agents_are_watched_whatever_their_volume():
    unregistered = Flags(is_registered=False)
    bare = {"n_cases": 5, "n_resolved_cases": 5, "cost_usd": 0.1, "priced_share": 1.0}
    for row in (bare, bare | {"n_cases": 5000, "n_resolved_cases": 4000}):
        verdict = decide([None, row], unregistered, POLICY)
        assert (verdict.verdict, verdict.decided_by) == ("watch", ("not_registered",))
        assert verdict.rule == "not in the registry (no owner, baseline or target)"


def test_governance_gaps_and_slo_misses_move_the_verdict_as_policy_says():
    gaps = Flags(governance_missing=("owner", "risk_tier"))
    assert decide([month(), month()], gaps, POLICY).rule == (
        "registry entry lacks owner, risk_tier"
    )
    assert decide([month(), month()], gaps, POLICY).verdict == "watch"
    strict = replace(POLICY, governance_gaps="retire", slo_misses="retire")
    assert decide([month(), month()], gaps, strict).verdict == "retire"
    lenient = replace(POLICY, governance_gaps="ignore")
    assert decide([month(), month()], gaps, lenient).verdict == "keep"
    slo = Flags(slo_missed=("fallback_rate", "p95_case_latency_ms"), slo_weeks_missed=2)
    assert decide([month(), month()], slo, POLICY).rule == (
        "missed fallback_rate, p95_case_latency_ms in 2 week(s) of the month"
    )
    assert decide([month(), month()], slo, strict).verdict == "retire"
    once = Flags(slo_missed=("fallback_rate",), slo_weeks_missed=1)  # under slo_miss_weeks
    assert decide([month(), month()], once, POLICY).verdict == "keep"


def test_ungated_changes_and_guardrail_breaches_move_the_verdict():
    ungated = Flags(ungated_changes=("agent_version v4 (from v3, 2026-09-23)",))
    verdict = decide([month(), month()], ungated, POLICY)
    assert (verdict.verdict, verdict.decided_by) == ("watch", ("ungated_change",))
    assert verdict.rule == (
        "changed without a shipped eval diff: agent_version v4 (from v3, 2026-09-23)"
    )
    assert (
        decide([month(), month()], ungated, replace(POLICY, ungated_changes="ignore")).verdict
        == "keep"
    )
    assert (
        decide([month(), month()], ungated, replace(POLICY, ungated_changes="retire")).verdict
        == "retire"
    )
    breach = decide([month(), month()], Flags(guardrail_breaches=("hallucination (v2)",)), POLICY)
    assert (breach.verdict, breach.rule) == ("watch", "guardrail breached: hallucination (v2)")


def test_other_watch_findings_are_all_listed():
    flags = Flags(drift_metrics=("intent",), retiring_models=("m (retires 2026-12-01)",))
    busy = month(cost_usd=600.0, priced_share=0.5, is_cost_partial=True)
    verdict = decide([month(), busy], flags, POLICY)
    assert verdict.verdict == "watch"
    assert verdict.decided_by == ("drift", "over_budget", "model_retiring", "cost_unpriced")
    assert verdict.rule == (
        "drift alert on intent; spend $600.00 above the $500.00 budget; calls m (retires "
        "2026-12-01); cost known for only 50.0% of LLM calls (unpriced models: cost is a "
        "lower bound)"
    )
