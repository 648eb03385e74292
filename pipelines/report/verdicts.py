"""Each agent's verdict for the month (keep / watch / retire / insufficient data) and the
rule that decided it, from policy.yaml `portfolio:`. Pure: rows in, verdict out."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.policy import PortfolioPolicy

VERDICTS = ("retire", "watch", "keep", "insufficient data")


@dataclass(frozen=True)
class Verdict:
    verdict: str
    rule: str  # the rule that decided it, with the agent's numbers


def rules_in_words(policy: PortfolioPolicy) -> list[tuple[str, str]]:
    """The rules as the report shows them, in the order they are tried."""
    n = policy.months_running
    return [
        ("insufficient data", f"fewer than {policy.min_cases:,} cases in the month"),
        ("retire", f"cost per resolved case above the human baseline {n} months running"),
        (
            "retire",
            f"quality below target {n} months running, and up by less than "
            f"{policy.min_quality_improvement:g} on the month before (no upward trend)",
        ),
        (
            "watch",
            "one month above the human baseline or below the quality target; a drift "
            "alert during the month; spend above the monthly budget; calls a model retiring "
            f"within {policy.model_retirement_days} days; not in the registry",
        ),
        ("keep", "none of the above"),
    ]


def above_baseline(row: dict) -> bool:
    """Cost per resolved case above the human baseline (False when either is unknown)."""
    cost, baseline = row.get("cost_per_resolved_case_usd"), row.get("human_baseline_usd_per_case")
    return cost is not None and baseline is not None and cost > baseline


def below_target(row: dict) -> bool:
    """Mean quality below the quality target (False when either is unknown)."""
    quality, target = row.get("quality_mean"), row.get("quality_target")
    return quality is not None and target is not None and quality < target


def decide(
    months: list[dict | None],
    drift_metrics: list[str],
    policy: PortfolioPolicy,
    retiring_models: list[str] = (),
) -> Verdict:
    """`months`: the agent's monthly rows, oldest first, the report month last, one per
    calendar month (None for a month without data); `drift_metrics`: the metrics whose
    drift alerted during the month; `retiring_models`: models it called that retire
    within policy.model_retirement_days (with their dates)."""
    now = months[-1]
    if now is None or now["n_cases"] < policy.min_cases:
        n = 0 if now is None else now["n_cases"]
        return Verdict("insufficient data", f"{n:,} cases < {policy.min_cases:,} (min_cases)")
    running = months[-policy.months_running :]
    judged = len(running) == policy.months_running and all(
        row is not None and row["n_cases"] >= policy.min_cases for row in running
    )
    cost = f"${now['cost_per_resolved_case_usd']:.2f}" if now["cost_per_resolved_case_usd"] else ""
    baseline = now["human_baseline_usd_per_case"]
    if judged and all(above_baseline(row) for row in running):
        return Verdict(
            "retire",
            f"cost per resolved case {cost} above the ${baseline:.2f} human baseline "
            f"{policy.months_running} months running",
        )
    if judged and all(below_target(row) for row in running):
        rise = now["quality_mean"] - running[-2]["quality_mean"] if len(running) > 1 else 0.0
        if rise < policy.min_quality_improvement:
            return Verdict(
                "retire",
                f"quality {now['quality_mean']:.4f} below the {now['quality_target']:.2f} "
                f"target {policy.months_running} months running, {rise:+.3f} on the month "
                "before (no upward trend)",
            )
    reasons = []
    if above_baseline(now):
        reasons.append(f"cost per resolved case {cost} above the ${baseline:.2f} human baseline")
    if below_target(now):
        reasons.append(
            f"quality {now['quality_mean']:.4f} below the {now['quality_target']:.2f} target"
        )
    if drift_metrics:
        reasons.append(f"drift alert on {', '.join(drift_metrics)}")
    budget = now.get("monthly_budget_usd")
    if budget is not None and now["cost_usd"] > budget:
        reasons.append(f"spend ${now['cost_usd']:,.2f} above the ${budget:,.2f} budget")
    if retiring_models:
        reasons.append(f"calls {', '.join(retiring_models)}")
    if not now.get("is_registered", True):
        reasons.append("not in the registry (no owner, baseline or target)")
    if reasons:
        return Verdict("watch", "; ".join(reasons))
    return Verdict("keep", "within baseline, target and budget; no drift alert")
