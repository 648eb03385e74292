"""The eval diff: a candidate against a baseline on the items both ran. Pure functions over
polars frames and NumPy arrays; I/O lives in `pipelines/evals/runs.py` and the CLI.

Per item, repeated trials are averaged first; the comparison is paired (candidate −
baseline, item by item). scipy gives the Wilcoxon signed-rank and sign tests; the paired
bootstrap is a few lines of NumPy (resampling items with replacement, seeded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import binomtest, wilcoxon

from pipelines.errors import UserError
from pipelines.policy import EvalDiffPolicy

TIE = 1e-9  # |difference| at or below this is a tie
WORST = 10  # regressions listed by item id
BOOTSTRAP_CHUNK = 100  # resamples drawn at once (bounds memory at 100k items)


class DiffError(UserError, ValueError):
    """The two sides cannot be compared; the message says why."""


def per_item(rows: pl.DataFrame, score: str) -> pl.DataFrame:
    """One row per item: the score, cost, latency and tokens averaged over its trials.
    `rows`: eval_results rows of one side."""
    scored = rows.filter(pl.col("score_name") == score)
    if scored.is_empty():
        names = ", ".join(sorted(rows["score_name"].unique().drop_nulls().to_list())) or "none"
        raise DiffError(f"no {score!r} scores (scores present: {names})")
    missing = scored.filter(pl.col("score_value").is_null())
    if not missing.is_empty():
        first = missing.row(0, named=True)
        raise DiffError(
            f"{missing.height} {score!r} score(s) are missing, e.g. run {first['run_id']} "
            f"item {first['item_id']} trial {first['trial']} ({first['source_file']})"
        )
    return (
        scored.group_by("item_id")
        .agg(
            pl.col("dataset").first(),
            (pl.col("intent") if "intent" in scored.columns else pl.lit(None, pl.String))
            .first()
            .alias("intent"),
            pl.col("score_value").mean().alias("score"),
            pl.col("cost_usd").mean().alias("cost_usd"),
            pl.col("latency_ms").mean().alias("latency_ms"),
            pl.col("input_tokens").mean().alias("input_tokens"),
            pl.col("output_tokens").mean().alias("output_tokens"),
            pl.len().alias("n_trials"),
        )
        .sort("item_id")
    )


@dataclass(frozen=True)
class Pairs:
    paired: pl.DataFrame  # item_id, dataset, <column>_baseline, <column>_candidate
    only_baseline: list[str]
    only_candidate: list[str]


def pair(baseline: pl.DataFrame, candidate: pl.DataFrame) -> Pairs:
    """Items both sides ran, and the ids only one side ran (reported, never dropped)."""
    shared = ("item_id", "dataset", "intent")
    paired = baseline.join(candidate, on="item_id", suffix="_candidate").rename(
        {c: f"{c}_baseline" for c in baseline.columns if c not in shared}
    )
    only_baseline = sorted(set(baseline["item_id"]) - set(candidate["item_id"]))
    only_candidate = sorted(set(candidate["item_id"]) - set(baseline["item_id"]))
    if paired.is_empty():
        raise DiffError(
            f"no item in common ({baseline.height} baseline, {candidate.height} candidate items)"
        )
    return Pairs(
        paired.drop("dataset_candidate", "intent_candidate"), only_baseline, only_candidate
    )


def paired_bootstrap(diffs: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """Percentile 95 % interval of the mean difference, resampling items with replacement."""
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, BOOTSTRAP_CHUNK):
        size = min(BOOTSTRAP_CHUNK, resamples - start)
        picks = rng.integers(0, len(diffs), size=(size, len(diffs)))
        means[start : start + size] = diffs[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def quality(diffs: np.ndarray, policy: EvalDiffPolicy) -> dict:
    """Mean difference, its paired bootstrap interval, wins / ties / losses, and tests."""
    low, high = paired_bootstrap(diffs, policy.bootstrap_resamples, policy.seed)
    wins, losses = int((diffs > TIE).sum()), int((diffs < -TIE).sum())
    untied = diffs[np.abs(diffs) > TIE]
    return {
        "n_items": len(diffs),
        "mean_difference": float(diffs.mean()),
        "ci_low": low,
        "ci_high": high,
        "wins": wins,
        "ties": len(diffs) - wins - losses,
        "losses": losses,
        "wilcoxon_p": float(wilcoxon(untied).pvalue) if len(untied) else 1.0,
        "sign_test_p": float(binomtest(wins, wins + losses).pvalue) if wins + losses else 1.0,
    }


def _side_stats(paired: pl.DataFrame, side: str) -> dict:
    cost = paired[f"cost_usd_{side}"]
    latency = paired[f"latency_ms_{side}"].drop_nulls()
    return {
        "score_mean": float(paired[f"score_{side}"].mean()),
        "cost_per_item_usd": None if cost.null_count() else float(cost.mean()),
        "unpriced_items": int(cost.null_count()),
        "latency_p50_ms": float(latency.quantile(0.5, "linear")) if len(latency) else None,
        "latency_p95_ms": float(latency.quantile(0.95, "linear")) if len(latency) else None,
        "input_tokens_per_item": float(paired[f"input_tokens_{side}"].mean() or 0),
        "output_tokens_per_item": float(paired[f"output_tokens_{side}"].mean() or 0),
    }


def slices(paired: pl.DataFrame) -> list[dict]:
    """Per dataset, and per intent where items carry one: items, mean difference, wins
    and losses."""
    with_difference = paired.with_columns(
        difference=pl.col("score_candidate") - pl.col("score_baseline")
    )
    found = []
    for kind in ("dataset", "intent"):
        if with_difference[kind].null_count() == with_difference.height:
            continue
        found += (
            with_difference.group_by(pl.col(kind).alias("slice"))
            .agg(
                pl.len().alias("n_items"),
                pl.col("difference").mean().alias("mean_difference"),
                (pl.col("difference") > TIE).sum().alias("wins"),
                (pl.col("difference") < -TIE).sum().alias("losses"),
            )
            .with_columns(kind=pl.lit(kind))
            .sort("slice", nulls_last=True)
            .to_dicts()
        )
    return found


def worst_regressions(paired: pl.DataFrame) -> list[dict]:
    return (
        paired.with_columns(difference=pl.col("score_candidate") - pl.col("score_baseline"))
        .filter(pl.col("difference") < -TIE)
        .sort("difference", "item_id")
        .head(WORST)
        .select("item_id", "dataset", "score_baseline", "score_candidate", "difference")
        .to_dicts()
    )


def compare(pairs: Pairs, monthly_cases: int | None, policy: EvalDiffPolicy) -> dict:
    """The whole diff: quality, cost (per item and per projected month at the agent's
    production volume), latency, tokens, slices, worst regressions, and the decision."""
    paired = pairs.paired
    diffs = (paired["score_candidate"] - paired["score_baseline"]).to_numpy()
    result = {
        "quality": quality(diffs, policy),
        "baseline": _side_stats(paired, "baseline"),
        "candidate": _side_stats(paired, "candidate"),
        "monthly_cases": monthly_cases,
        "slices": slices(paired),
        "worst_regressions": worst_regressions(paired),
        "only_baseline": pairs.only_baseline,
        "only_candidate": pairs.only_candidate,
    }
    for side in ("baseline", "candidate"):
        cost = result[side]["cost_per_item_usd"]
        result[side]["projected_month_usd"] = (
            cost * monthly_cases if cost is not None and monthly_cases is not None else None
        )
    result["decision"], result["reasons"] = decide(result, policy)
    return result


def relative_change(candidate: float | None, baseline: float | None) -> float | None:
    if candidate is None or baseline is None or baseline == 0:
        return None
    return candidate / baseline - 1


def quality_check(ci_low: float | None, ci_high: float | None, margin: float) -> tuple[bool, str]:
    """Non-inferiority: the 95 % interval of (candidate − baseline) lies above −margin."""
    if ci_low is None:
        return False, "quality unscored on one side: cannot check non-inferiority"
    ci = f"95 % CI [{ci_low:+.4f}, {ci_high:+.4f}]"
    if ci_low > -margin:
        return True, f"quality non-inferior: {ci} lies above −{margin:g}"
    return False, f"quality may be worse: {ci} reaches below −{margin:g}"


def budget_check(name: str, before: float | None, after: float | None,
                 budget: float) -> tuple[bool, str]:  # fmt: skip
    """The candidate's `name` at most `budget` (relative) above the baseline's."""
    change = relative_change(after, before)
    if change is None:
        return False, f"{name} unknown on one side: cannot check its budget"
    if change > budget:
        return False, f"{name} {change:+.1%} exceeds the +{budget:.0%} budget"
    return True, f"{name} {change:+.1%} within the +{budget:.0%} budget"


def decide(result: dict, policy: EvalDiffPolicy) -> tuple[str, list[str]]:
    """ship when quality is non-inferior (interval's lower bound above −margin) and the
    cost and latency budgets hold; hold otherwise. Reasons name every check."""
    q, base, cand = result["quality"], result["baseline"], result["candidate"]
    ok, reason = quality_check(q["ci_low"], q["ci_high"], policy.margin)
    reasons = [reason]
    if q["n_items"] < policy.min_paired_items:
        ok = False
        reasons.append(f"only {q['n_items']} paired items (need {policy.min_paired_items})")
    checks = [
        budget_check("cost per item", base["cost_per_item_usd"], cand["cost_per_item_usd"],
                     policy.max_cost_increase),
        budget_check("p95 latency", base["latency_p95_ms"], cand["latency_p95_ms"],
                     policy.max_latency_increase),
    ]  # fmt: skip
    ok = ok and all(passed for passed, _ in checks)
    reasons += [reason for _, reason in checks]
    if cand["unpriced_items"]:
        reasons.append(f"{cand['unpriced_items']} candidate item(s) unpriced")
    return ("ship" if ok else "hold"), reasons
