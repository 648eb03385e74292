"""The drift statistics, as small pure functions over NumPy arrays.

Each is a textbook formula; the tests check each against an independent implementation
(scipy.stats.ks_2samp, scipy.spatial.distance.jensenshannon, a hand-computed PSI).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import kstwo

PSI_BINS = 10
# An empty bin would make PSI infinite: every bin's count gets this much added before
# the proportions are taken (additive smoothing), in reference and current alike.
PSI_SMOOTHING = 0.5


def quantile_edges(reference: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (ties merged): bins - 1 edges at most."""
    inner = np.quantile(reference, np.arange(1, bins) / bins)
    return np.unique(inner)


def binned_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Smoothed share of values per bin; bin i holds edges[i-1] < v ≤ edges[i]."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    smoothed = counts + PSI_SMOOTHING
    return smoothed / smoothed.sum()


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index over bins at the reference's quantiles."""
    edges = quantile_edges(reference, bins)
    ref, cur = binned_shares(reference, edges), binned_shares(current, edges)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


@dataclass(frozen=True)
class KsResult:
    statistic: float
    p_value: float


def ks(reference: np.ndarray, current: np.ndarray) -> KsResult:
    """Two-sample Kolmogorov–Smirnov: the largest gap between the two ECDFs, and its
    two-sided p-value from the Kolmogorov distribution at the effective sample size
    n·m/(n+m) (what scipy calls the asymptotic method)."""
    pooled = np.sort(np.concatenate([reference, current]))
    ref_cdf = np.searchsorted(np.sort(reference), pooled, side="right") / len(reference)
    cur_cdf = np.searchsorted(np.sort(current), pooled, side="right") / len(current)
    statistic = float(np.max(np.abs(ref_cdf - cur_cdf)))
    n, m = len(reference), len(current)
    effective = round(n * m / (n + m))
    return KsResult(statistic, float(np.clip(kstwo.sf(statistic, effective), 0, 1)))


def js_distance(reference_counts: dict[str, int], current_counts: dict[str, int]) -> float:
    """Jensen–Shannon distance (base 2, so 0…1) between two category mixes."""
    labels = sorted(set(reference_counts) | set(current_counts))
    p = np.array([reference_counts.get(k, 0) for k in labels], dtype=float)
    q = np.array([current_counts.get(k, 0) for k in labels], dtype=float)
    p, q = p / p.sum(), q / q.sum()
    middle = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        present = a > 0
        return float(np.sum(a[present] * np.log2(a[present] / middle[present])))

    return float(np.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


@dataclass(frozen=True)
class MeanShift:
    shift: float  # mean(current) − mean(reference)
    low: float  # bootstrap 95 % percentile interval
    high: float


def mean_shift(
    reference: np.ndarray, current: np.ndarray, *, resamples: int = 1000, seed: int = 0
) -> MeanShift:
    """Difference of means with a percentile bootstrap 95 % interval (both samples
    resampled with replacement; a fixed seed, so a rebuild gives the same interval)."""
    rng = np.random.default_rng(seed)
    ref_means = rng.choice(reference, (resamples, len(reference))).mean(axis=1)
    cur_means = rng.choice(current, (resamples, len(current))).mean(axis=1)
    low, high = np.percentile(cur_means - ref_means, [2.5, 97.5])
    return MeanShift(float(current.mean() - reference.mean()), float(low), float(high))


def cusum_change_point(series: np.ndarray) -> int | None:
    """Index of the first day after the change, by CUSUM of deviations from the series
    mean: the change sits where the cumulative sum is furthest from zero. None when the
    series is constant or shorter than 3 days."""
    if len(series) < 3 or np.all(series == series[0]):
        return None
    cumulative = np.cumsum(series - series.mean())
    return int(np.argmax(np.abs(cumulative[:-1]))) + 1
