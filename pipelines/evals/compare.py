"""Canary and shadow comparison: two versions (models, variants) of an agent that served
production on the same days, compared on those days only. Pure functions over polars
frames and NumPy arrays; I/O lives in `pipelines/comparisons.py` and the CLI.

Unlike the eval diff (`pipelines/evals/diff.py`) the two sides share no items, so every
interval is an unpaired bootstrap of (candidate − baseline): each side's cases are
resampled with replacement on their own, seeded, `bootstrap_resamples` times. The
ship/hold rule is the eval diff's (config/policy.yaml `eval_diff:`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
from scipy.stats import chi2_contingency

from pipelines.errors import UserError
from pipelines.evals.diff import budget_check, quality_check
from pipelines.policy import EvalDiffPolicy

DIMENSIONS = ("agent_version", "model", "variant")  # the columns a side is selected by
PRODUCTION, SHADOW = "production", "shadow"  # the two sides of the `shadow` dimension
OUTCOMES = ("resolved", "escalated", "abandoned", "fallback", "unknown")
CHUNK_CELLS = 2_000_000  # values drawn at once per bootstrap chunk (16 MB of float64)
FEW_DISTINCT = 16  # a sample with at most n / 16 distinct values is resampled as counts
METRICS = (  # name, fct_cases column, statistic
    ("quality", "quality_score", "mean"),
    ("resolution_rate", "is_resolved", "mean"),
    ("cost_per_case_usd", "cost_usd", "mean"),
    ("latency_p95_ms", "duration_ms", "p95"),
)


class CompareError(UserError, ValueError):
    """The two sides cannot be compared; the message says why."""


def listed(values) -> str:
    return ", ".join(sorted(str(v) for v in values)) or "none"


def _either(words: list[str]) -> str:
    return " or ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def _column_of(
    cases: pl.DataFrame, values: list[str], dimension: str | None, agent: str, where: str
) -> str:
    """The one dimension column holding every value of `values` in `cases`."""
    if dimension is not None and dimension not in DIMENSIONS:
        raise CompareError(f"dimension {dimension!r}: use one of {', '.join(DIMENSIONS)}")
    present = {c: set(cases[c].drop_nulls().unique().to_list()) for c in DIMENSIONS}
    searched = [dimension] if dimension else list(DIMENSIONS)
    found = [c for c in searched if set(values) <= present[c]]
    if len(found) > 1:
        raise CompareError(f"{' and '.join(values)} are values of {' and of '.join(found)} "
                           f"for {agent}: choose one with --dimension")  # fmt: skip
    if found:
        return found[0]
    missing = [v for v in values if not any(v in present[c] for c in searched)]
    quoted = " and ".join(map(repr, values))
    what = (
        f"no {_either(searched)} {_either([repr(v) for v in missing])}"
        if missing
        else f"no one column ({', '.join(searched)}) holding both {quoted}"
    )
    raise CompareError(
        f"{agent} has {what} in {where}; its versions: {listed(present['agent_version'])}; "
        f"models: {listed(present['model'])}; variants: {listed(present['variant'])} "
        f"(--candidate {SHADOW}: its shadow traffic against production)"
    )


def select_sides(
    cases: pl.DataFrame,
    shadow: pl.DataFrame,
    baseline: str,
    candidate: str,
    agent: str,
    dimension: str | None = None,
    where: str = "production cases",
) -> tuple[str, pl.DataFrame, pl.DataFrame]:
    """(dimension, baseline cases, candidate cases): both values from the one column of
    agent_version, model or variant that holds them (or `dimension`); candidate `shadow`
    is the agent's shadow cases, against all production (baseline `production`) or one
    value's production cases."""
    if baseline == candidate:
        raise CompareError(f"baseline and candidate are the same: {baseline!r}")
    if candidate != SHADOW:
        column = _column_of(cases, [baseline, candidate], dimension, agent, where)
        return (
            column,
            cases.filter(pl.col(column) == baseline),
            cases.filter(pl.col(column) == candidate),
        )
    if shadow.is_empty():
        raise CompareError(f"{agent} has no shadow cases (spans with fleet.shadow = true)")
    if baseline == PRODUCTION:
        return SHADOW, cases, shadow
    column = _column_of(cases, [baseline], dimension, agent, where)
    return SHADOW, cases.filter(pl.col(column) == baseline), shadow


def on_shared_days(
    baseline: pl.DataFrame, candidate: pl.DataFrame, names: tuple[str, str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each side's cases on the days both sides have cases: a day only one side ran says
    nothing about the other (traffic, incidents and season differ by day)."""
    days = set(_days(baseline)) & set(_days(candidate))
    if not days:
        spans = [
            f"{name}: {_span(side)}"
            for name, side in zip(names, (baseline, candidate), strict=True)
        ]
        raise CompareError(f"{names[0]} and {names[1]} never ran on the same day "
                           f"({'; '.join(spans)})")  # fmt: skip
    keep = pl.col("day").is_in(sorted(days))
    return baseline.filter(keep), candidate.filter(keep)


def _days(cases: pl.DataFrame) -> list:
    return cases["day"].unique().to_list()


def _span(cases: pl.DataFrame) -> str:
    return f"{cases['day'].min()} … {cases['day'].max()}" if cases.height else "no cases"


def resampled_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `resamples` resamples of `values` (n values drawn with replacement), drawn
    CHUNK_CELLS values at a time. A sample with few distinct values (0/1 flags, scores
    rounded to 0.001) is resampled as multinomial counts of its distinct values, as
    pipelines.drift.stats.mean_shift_counts does: the same distribution, in the time of
    its distinct values instead of n."""
    n = len(values)
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) * FEW_DISTINCT <= n:
        cells = len(distinct)
        draw = lambda size: rng.multinomial(n, counts / n, size=size) @ distinct / n  # noqa: E731
    else:
        cells = n
        kind = np.int32 if n < 2**31 else np.int64  # int32 indices draw ~20 % faster
        draw = lambda size: values[rng.integers(0, n, (size, n), kind)].mean(axis=1)  # noqa: E731
    step = max(1, CHUNK_CELLS // cells)
    return np.concatenate([draw(min(step, resamples - s)) for s in range(0, resamples, step)])


def resampled_quantiles(
    values: np.ndarray, q: float, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """numpy's default (linear) q-quantile of `resamples` resamples of `values` with
    replacement, drawn from order statistics instead of n values per resample.

    Hand-written (neither numpy nor scipy bootstraps a quantile without drawing every
    value; scipy.stats.bootstrap takes ~5 s at 100k cases): a resample is F⁻¹(U₁…Uₙ),
    F⁻¹ the sample's quantile function, so its j-th smallest value is F⁻¹(U₍ⱼ₎) with
    U₍ⱼ₎ ~ Beta(j, n − j + 1), and the next one F⁻¹(U₍ⱼ₎ + (1 − U₍ⱼ₎)·Beta(1, n − j)).
    The tests check it against every resample of a small sample."""
    ordered, n = np.sort(values), len(values)
    position = (n - 1) * q
    j = int(np.floor(position)) + 1  # 1-based rank of the lower neighbour
    weight = position - (j - 1)
    inverse = lambda u: ordered[np.minimum((u * n).astype(np.int64), n - 1)]  # noqa: E731
    u = rng.beta(j, n - j + 1, size=resamples)
    lower = inverse(u).astype(float)
    if j == n or weight == 0:
        return lower
    upper = inverse(u + (1 - u) * rng.beta(1, n - j, size=resamples))
    return lower + weight * (upper - lower)


STATISTICS: dict[str, tuple[Callable, Callable]] = {  # point estimate, resampled estimates
    "mean": (np.mean, resampled_means),
    "p95": (lambda v: np.quantile(v, 0.95),
            lambda v, resamples, rng: resampled_quantiles(v, 0.95, resamples, rng)),
}  # fmt: skip


def interval(
    baseline: np.ndarray, candidate: np.ndarray, statistic: str, resamples: int, seed: int
) -> dict:
    """The statistic of each side, candidate − baseline, and its unpaired bootstrap 95 %
    percentile interval (the baseline's resamples drawn first, then the candidate's, from
    one seeded generator). None where a side has no value."""
    point, resampled = STATISTICS[statistic]
    values = [float(point(side)) if len(side) else None for side in (baseline, candidate)]
    found = {"baseline": values[0], "candidate": values[1], "difference": None,
             "ci_low": None, "ci_high": None}  # fmt: skip
    if None in values:
        return found
    rng = np.random.default_rng(seed)
    base = resampled(baseline, resamples, rng)
    low, high = np.percentile(resampled(candidate, resamples, rng) - base, [2.5, 97.5])
    return found | {"difference": values[1] - values[0], "ci_low": float(low),
                    "ci_high": float(high)}  # fmt: skip


def outcome_counts(cases: pl.DataFrame) -> np.ndarray:
    """Cases per outcome, in OUTCOMES order (a label outside them counts as unknown)."""
    found = dict(cases["outcome"].fill_null("unknown").value_counts().iter_rows())
    counts = [found.pop(outcome, 0) for outcome in OUTCOMES]
    counts[-1] += sum(found.values())
    return np.array(counts)


def chi2_p_value(counts: np.ndarray) -> float:
    """Pearson chi-square test (scipy, no continuity correction) that two outcome mixes
    (rows of `counts`) are the same, over the outcomes either side has; 1.0 when they
    have fewer than two."""
    present = counts[:, counts.sum(axis=0) > 0]
    if present.shape[1] < 2:
        return 1.0
    return float(chi2_contingency(present, correction=False).pvalue)


def outcome_mix(baseline: pl.DataFrame, candidate: pl.DataFrame, resamples: int, seed: int):
    """(per outcome: cases and share of each side, the share's difference and its unpaired
    bootstrap 95 % interval; the chi-square p-value). A resample of a side's outcome mix
    is multinomial(n, its shares): exactly resampling its cases."""
    counts = np.array([outcome_counts(baseline), outcome_counts(candidate)])
    sizes = counts.sum(axis=1)
    shares = counts / sizes[:, None]
    rng = np.random.default_rng(seed)
    base, cand = (
        rng.multinomial(n, p, size=resamples) / n for n, p in zip(sizes, shares, strict=True)
    )
    low, high = np.percentile(cand - base, [2.5, 97.5], axis=0)
    rows = [
        {"outcome": outcome, "baseline_cases": int(counts[0, i]),
         "candidate_cases": int(counts[1, i]), "baseline_share": float(shares[0, i]),
         "candidate_share": float(shares[1, i]),
         "difference": float(shares[1, i] - shares[0, i]), "ci_low": float(low[i]),
         "ci_high": float(high[i])}
        for i, outcome in enumerate(OUTCOMES)
    ]  # fmt: skip
    return rows, chi2_p_value(counts)


def _values(cases: pl.DataFrame, column: str) -> np.ndarray:
    """A column's values, sorted: the seeded bootstrap then depends on the cases, not on
    the order a query returned them in."""
    return np.sort(cases[column].drop_nulls().cast(pl.Float64).to_numpy())


def compare(baseline: pl.DataFrame, candidate: pl.DataFrame, policy: EvalDiffPolicy) -> dict:
    """The whole comparison of two sides' cases (already on their shared days): the days,
    each side's counts, every metric with its interval, the outcome mix, the decision."""
    days = sorted(set(_days(baseline)) | set(_days(candidate)))
    resamples, seed = policy.bootstrap_resamples, policy.seed
    metrics = {
        name: interval(_values(baseline, column), _values(candidate, column), statistic,
                       resamples, seed)
        for name, column, statistic in METRICS
    }  # fmt: skip
    outcomes, p_value = outcome_mix(baseline, candidate, resamples, seed)
    result = {
        "first_day": days[0] if days else None,
        "last_day": days[-1] if days else None,
        "n_days": len(days),
        "baseline": _counts(baseline),
        "candidate": _counts(candidate),
        "metrics": metrics,
        "outcomes": outcomes,
        "outcome_chi2_p_value": p_value,
    }
    result["decision"], result["reasons"] = decide(result, policy)
    return result


def _counts(cases: pl.DataFrame) -> dict:
    return {
        "n_cases": cases.height,
        "n_scored_cases": cases.height - cases["quality_score"].null_count(),
        "n_unpriced_cases": cases["cost_usd"].null_count(),
    }


def _size_check(result: dict, need: int) -> str | None:
    """Why the sides are too small to judge, if they are."""
    sizes = {kind: [result[side][f"n_{kind.replace(' ', '_')}"] for side in ("baseline",
             "candidate")] for kind in ("cases", "scored cases")}  # fmt: skip
    if min(sizes["cases"]) < need:
        kind = "cases"
    elif 0 < min(sizes["scored cases"]) < need:  # none scored: the quality check says so
        kind = "scored cases"
    else:
        return None
    base, cand = sizes[kind]
    return f"too few {kind}: {base} baseline, {cand} candidate (need {need} on each side)"


def decide(result: dict, policy: EvalDiffPolicy) -> tuple[str, list[str]]:
    """The eval diff's rule (pipelines.evals.diff.decide) over cases: ship when quality is
    non-inferior (interval's low end above −margin), cost per case and p95 latency stay
    within their budgets and each side has min_paired_items cases (and scored cases);
    else hold. Reasons name every check."""
    metrics = result["metrics"]
    quality = metrics["quality"]
    ok, reason = quality_check(quality["ci_low"], quality["ci_high"], policy.margin)
    reasons = [reason]
    if too_few := _size_check(result, policy.min_paired_items):
        ok = False
        reasons.append(too_few)
    for name, metric, budget in (
        ("cost per case", "cost_per_case_usd", policy.max_cost_increase),
        ("p95 latency", "latency_p95_ms", policy.max_latency_increase),
    ):
        passed, reason = budget_check(
            name, metrics[metric]["baseline"], metrics[metric]["candidate"], budget
        )
        ok = ok and passed
        reasons.append(reason)
    for side in ("baseline", "candidate"):
        if unpriced := result[side]["n_unpriced_cases"]:
            reasons.append(f"{unpriced} {side} case(s) unpriced, left out of cost per case")
    return ("ship" if ok else "hold"), reasons
