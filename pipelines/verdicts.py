"""Each agent's verdict for a month (retire / watch / keep / insufficient data), the rules
that decided it, and the evidence: policy.yaml `portfolio:`. Pure: rows in, verdict out.

Cost and quality are judged on their 95 % intervals (agent_monthly): a month is evidence
only when the interval lies entirely on one side of the human baseline / quality target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.policy import PortfolioPolicy

VERDICTS = ("retire", "watch", "keep", "insufficient data")

# what the evidence of one month says about cost (per resolved case, against the baseline)
# and quality (against the target)
ABOVE, BELOW, MEETS, UNCLEAR, UNKNOWN, TOO_FEW = (
    "above", "below", "meets", "unclear", "unknown", "too few cases")  # fmt: skip


@dataclass(frozen=True)
class Flags:
    """What else the month says about the agent (from the warehouse's other marts)."""

    is_registered: bool = True
    drift_metrics: tuple[str, ...] = ()  # metrics whose drift alerted during the month
    retiring_models: tuple[str, ...] = ()  # "model (retires 2027-01-31)"
    slo_missed: tuple[str, ...] = ()  # SLOs missed in at least one week of the month
    slo_weeks_missed: int = 0  # weeks of the month with any SLO missed
    governance_missing: tuple[str, ...] = ()  # registry fields the agent lacks
    ungated_changes: tuple[str, ...] = ()  # "version v4 (from v3, 2026-09-23)"
    guardrail_breaches: tuple[str, ...] = ()  # evaluators breached, "hallucination (v2)"


@dataclass(frozen=True)
class Verdict:
    verdict: str
    rule: str  # the findings that decided it, with the agent's numbers
    decided_by: tuple[str, ...] = field(default=())  # the rules' keys
    cost_evidence: str = UNKNOWN
    quality_evidence: str = UNKNOWN


def rules_in_words(policy: PortfolioPolicy) -> list[tuple[str, str]]:
    """The rules as the report shows them, most severe first."""
    n = policy.months_running
    effects = {
        "governance_gaps": "missing owner, team, purpose, risk tier or data lineage",
        "slo_misses": f"an SLO missed in {policy.slo_miss_weeks}+ weeks of the month",
        "ungated_changes": "a version, model or variant shipped without an eval diff",
    }
    by_effect = {
        effect: [text for key, text in effects.items() if getattr(policy, key) == effect]
        for effect in ("retire", "watch")
    }
    return [
        (
            "retire",
            "; ".join(
                [
                    f"cost per resolved case clearly above the human baseline (95 % interval "
                    f"entirely above) {n} months running",
                    f"quality clearly below target {n} months running, and up by less than "
                    f"{policy.min_quality_improvement:g} on the month before",
                    *by_effect["retire"],
                ]
            ),
        ),
        (
            "watch",
            "; ".join(
                [
                    "one month clearly above the baseline or below the target",
                    "a drift alert during the month",
                    "a guardrail evaluator breached its threshold",
                    "spend above the monthly budget",
                    f"calls a model retiring within {policy.model_retirement_days} days",
                    f"cost known for under {policy.min_priced_share:.0%} of calls",
                    "not in the registry, whatever its volume",
                    *by_effect["watch"],
                ]
            ),
        ),
        (
            "insufficient data",
            f"none of the above, and fewer than {policy.min_cases:,} cases, or an interval "
            "that straddles the baseline or target",
        ),
        ("keep", "none of the above: cost and quality clearly on the good side"),
    ]


def cost_evidence(row: dict | None, policy: PortfolioPolicy) -> str:
    """above / below the baseline (interval entirely on one side), unclear, unknown (no
    baseline or cost), or too few cases. A partial cost is a lower bound: it can show
    `above`, never `below`."""
    if row is None or row["n_cases"] < policy.min_cases:
        return TOO_FEW
    baseline = row.get("human_baseline_usd_per_case")
    if baseline is None or row.get("cost_usd") is None:
        return UNKNOWN
    if not row["n_resolved_cases"]:
        return ABOVE if row["cost_usd"] > 0 else UNKNOWN  # spends, resolves nothing
    low, high = row.get("cost_per_resolved_case_ci_low"), row.get("cost_per_resolved_case_ci_high")
    if low is not None and low > baseline:
        return ABOVE
    if high is not None and high <= baseline and not row.get("is_cost_partial"):
        return BELOW
    return UNCLEAR


def quality_evidence(row: dict | None, policy: PortfolioPolicy) -> str:
    """below / meets the target (interval entirely on one side), unclear, unknown (no
    target or no score), or too few cases."""
    if row is None or row["n_cases"] < policy.min_cases:
        return TOO_FEW
    target = row.get("quality_target")
    if target is None or row.get("quality_mean") is None:
        return UNKNOWN
    low, high = row.get("quality_ci_low"), row.get("quality_ci_high")
    if high is not None and high < target:
        return BELOW
    if low is not None and low >= target:
        return MEETS
    return UNCLEAR


def _usd(value) -> str:
    """Dollars to the cent; amounts under 10 cents to 4 decimals (a cost per case)."""
    if value is None:
        return "unknown"
    return f"${value:,.2f}" if abs(value) >= 0.1 else f"${value:,.4f}"


def _cost_words(row: dict) -> str:
    partial = " (partial: some calls unpriced)" if row.get("is_cost_partial") else ""
    low, high = row.get("cost_per_resolved_case_ci_low"), row.get("cost_per_resolved_case_ci_high")
    interval = f", 95 % interval [{_usd(low)}, {_usd(high)}]" if low is not None else ""
    if not row["n_resolved_cases"]:
        return f"cost {_usd(row['cost_usd'])}{partial} and no resolved case"
    return f"cost per resolved case {_usd(row['cost_per_resolved_case_usd'])}{interval}{partial}"


def _quality_words(row: dict) -> str:
    low, high = row.get("quality_ci_low"), row.get("quality_ci_high")
    interval = f", 95 % interval [{low:.3f}, {high:.3f}]" if low is not None else ""
    return f"quality {row['quality_mean']:.3f}{interval}"


def decide(months: list[dict | None], flags: Flags, policy: PortfolioPolicy) -> Verdict:
    """`months`: the agent's agent_monthly rows, oldest first, the month judged last, one
    per calendar month (None for a month without data); needs policy.months_running of
    them. Every finding is collected; the most severe decides."""
    now = months[-1]
    running = months[-policy.months_running :]
    full = len(running) == policy.months_running
    cost = [cost_evidence(row, policy) for row in running]
    quality = [quality_evidence(row, policy) for row in running]
    retire: list[tuple[str, str]] = []
    watch: list[tuple[str, str]] = []
    baseline = f"the {_usd((now or {}).get('human_baseline_usd_per_case'))} human baseline"
    if full and all(e == ABOVE for e in cost):
        retire.append(("cost_above_baseline", f"{_cost_words(now)} above {baseline} "
                       f"{policy.months_running} months running"))  # fmt: skip
    elif cost[-1] == ABOVE:
        watch.append(("cost_above_baseline", f"{_cost_words(now)} above {baseline}"))
    if quality[-1] == BELOW:
        target = f"the {now['quality_target']:.2f} target"
        rise = (
            now["quality_mean"] - running[-2]["quality_mean"]
            if len(running) > 1 and running[-2] and running[-2].get("quality_mean") is not None
            else 0.0
        )
        if full and all(e == BELOW for e in quality) and rise < policy.min_quality_improvement:
            retire.append(("quality_below_target", f"{_quality_words(now)} below {target} "
                           f"{policy.months_running} months running, {rise:+.3f} on the month "
                           "before (no upward trend)"))  # fmt: skip
        else:
            watch.append(("quality_below_target", f"{_quality_words(now)} below {target}"))
    if flags.drift_metrics:
        watch.append(("drift", f"drift alert on {', '.join(flags.drift_metrics)}"))
    budget = (now or {}).get("monthly_budget_usd")
    spend = (now or {}).get("cost_usd")
    if budget is not None and spend is not None and spend > budget:
        watch.append(("over_budget", f"spend {_usd(spend)} above the {_usd(budget)} budget"))
    if flags.retiring_models:
        watch.append(("model_retiring", f"calls {', '.join(flags.retiring_models)}"))
    share = (now or {}).get("priced_share")
    if share is not None and share < policy.min_priced_share:
        watch.append(("cost_unpriced", f"cost known for only {share:.1%} of LLM calls "
                      "(unpriced models: cost is a lower bound)"))  # fmt: skip
    if not flags.is_registered:
        watch.append(("not_registered", "not in the registry (no owner, baseline or target)"))
    findings = {"retire": retire, "watch": watch, "ignore": []}
    if flags.guardrail_breaches:
        watch.append(("guardrail_breach", f"guardrail breached: "
                      f"{', '.join(flags.guardrail_breaches)}"))  # fmt: skip
    if flags.is_registered and flags.governance_missing:
        findings[policy.governance_gaps].append(
            ("governance_gaps", f"registry entry lacks {', '.join(flags.governance_missing)}")
        )
    if flags.slo_missed and flags.slo_weeks_missed >= policy.slo_miss_weeks:
        findings[policy.slo_misses].append(
            ("slo_missed", f"missed {', '.join(flags.slo_missed)} in "
             f"{flags.slo_weeks_missed} week(s) of the month"))  # fmt: skip
    if flags.ungated_changes:
        findings[policy.ungated_changes].append(
            ("ungated_change", f"changed without a shipped eval diff: "
             f"{', '.join(flags.ungated_changes)}"))  # fmt: skip
    evidence = {"cost_evidence": cost[-1], "quality_evidence": quality[-1]}
    for verdict, found in (("retire", retire), ("watch", watch)):
        if found:
            keys = tuple(key for key, _ in found)
            return Verdict(verdict, "; ".join(text for _, text in found), keys, **evidence)
    n = 0 if now is None else now["n_cases"]
    if n < policy.min_cases:
        rule = f"{n:,} cases < {policy.min_cases:,} (min_cases)"
        return Verdict("insufficient data", rule, ("min_cases",), **evidence)
    unclear = []
    if cost[-1] == UNCLEAR:
        unclear.append(f"{_cost_words(now)} straddles {baseline}")
    if quality[-1] == UNCLEAR:
        unclear.append(f"{_quality_words(now)} straddles the {now['quality_target']:.2f} target")
    if unclear:
        return Verdict("insufficient data", "; ".join(unclear), ("interval_straddles",),
                       **evidence)  # fmt: skip
    judged = [
        f"{_cost_words(now)} below {baseline}" if cost[-1] == BELOW else "cost not judged "
        "(no baseline or no priced call)",
        f"{_quality_words(now)} meets the {now['quality_target']:.2f} target"
        if quality[-1] == MEETS else "quality not judged (no target or no score)",
    ]  # fmt: skip
    return Verdict("keep", "; ".join(judged), ("keep",), **evidence)
