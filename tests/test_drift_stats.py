"""Each drift statistic against an independent implementation, to 1e-9."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

from pipelines.drift.stats import (
    cusum_change_point,
    js_distance,
    ks,
    mean_change_point,
    mean_shift,
    psi,
)


def test_psi_by_hand():
    # reference median 2.5 splits two bins: reference 2 | 2, current 0 | 4;
    # + 0.5 smoothing: reference 0.5 | 0.5, current 0.1 | 0.9
    value = psi(np.array([1.0, 2, 3, 4]), np.array([3.0, 4, 5, 6]), bins=2)
    expected = (0.1 - 0.5) * math.log(0.1 / 0.5) + (0.9 - 0.5) * math.log(0.9 / 0.5)
    assert value == pytest.approx(expected, abs=1e-9)
    assert value == pytest.approx(0.878889830, abs=1e-9)


def test_psi_of_a_sample_with_itself_is_zero():
    sample = np.random.default_rng(1).normal(size=500)
    assert psi(sample, sample) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3])
@pytest.mark.parametrize("sizes", [(200, 150), (2000, 3000)])
def test_ks_matches_scipy(shift, sizes):
    rng = np.random.default_rng(7)
    reference = rng.lognormal(7, 0.5, sizes[0])
    current = rng.lognormal(7 + shift, 0.5, sizes[1])
    ours = ks(reference, current)
    theirs = ks_2samp(reference, current, method="asymp")
    assert ours.statistic == pytest.approx(theirs.statistic, abs=1e-9)
    assert ours.p_value == pytest.approx(theirs.pvalue, abs=1e-9)


def test_ks_with_ties_matches_scipy():
    reference = np.array([1.0, 1, 2, 2, 3, 3, 3, 4])
    current = np.array([2.0, 3, 3, 4, 4, 4, 5])
    ours, theirs = ks(reference, current), ks_2samp(reference, current, method="asymp")
    assert (ours.statistic, ours.p_value) == pytest.approx((theirs.statistic, theirs.pvalue),
                                                           abs=1e-9)  # fmt: skip


def test_js_distance_matches_scipy():
    reference = {"refund": 50, "exchange": 30, "complaint": 20}
    current = {"refund": 20, "exchange": 25, "complaint": 10, "chargeback": 45}
    labels = sorted(set(reference) | set(current))
    p = [reference.get(k, 0) for k in labels]
    q = [current.get(k, 0) for k in labels]
    assert js_distance(reference, current) == pytest.approx(
        jensenshannon(p, q, base=2), abs=1e-9)  # fmt: skip
    assert js_distance(reference, reference) == 0.0


def test_mean_shift_interval_brackets_the_shift_and_is_reproducible():
    rng = np.random.default_rng(3)
    reference, current = rng.normal(0.80, 0.1, 400), rng.normal(0.68, 0.1, 400)
    result = mean_shift(reference, current)
    assert result.shift == pytest.approx(current.mean() - reference.mean(), abs=1e-12)
    assert result.low < result.shift < result.high < 0  # a drop, the interval excludes 0
    assert mean_shift(reference, current) == result


def test_cusum_dates_a_step():
    series = np.array([0.8] * 10 + [0.68] * 5)
    assert cusum_change_point(series) == 10
    assert cusum_change_point(np.array([0.8] * 6)) is None


def test_least_squares_change_point_is_not_pulled_away_from_the_end():
    # the day before the change (0.25) is nearer the days before (0.1) than after (0.55):
    # split at 4: left mean 0.1375, squared error 3 × 0.0375² + 0.1125² = 0.016875, right 0
    # split at 3: left 0, right {0.25, 0.55} 2 × 0.15² = 0.045; the CUSUM maximum says 3
    series = np.array([0.1, 0.1, 0.1, 0.25, 0.55])
    assert (mean_change_point(series), cusum_change_point(series)) == (4, 3)
    # weights: a heavy 0.25 day (900) and a light 0.55 one (10) move the split to 3:
    # right mean (225 + 5.5) / 910, error 900 × 0.0033² + 10 × 0.2967² = 0.890; split at 4
    # leaves the left run (30 + 225) / 1200 = 0.2125: 300 × 0.1125² + 900 × 0.0375² = 5.06
    assert mean_change_point(series, weights=np.array([100, 100, 100, 900, 10])) == 3
    assert mean_change_point(np.array([0.8] * 10 + [0.68] * 5)) == 10
    assert mean_change_point(np.array([0.3] * 6)) is None
    assert mean_change_point(np.array([0.1, 0.9])) is None


def _split_error(series: np.ndarray, weights: np.ndarray, t: int) -> float:
    """Weighted squared error left by splitting before index t, each run at its own mean."""
    return sum(
        float(np.sum(w * (x - np.average(x, weights=w)) ** 2))
        for x, w in ((series[:t], weights[:t]), (series[t:], weights[t:]))
    )


@given(
    st.lists(st.tuples(st.floats(0, 1), st.integers(1, 500)), min_size=3, max_size=40).filter(
        lambda days: len({x for x, _ in days}) > 1
    )
)
def test_least_squares_change_point_leaves_the_least_squared_error(days):
    """Against trying every split."""
    series, weights = (np.array(column, dtype=float) for column in zip(*days, strict=True))
    best = min(_split_error(series, weights, t) for t in range(1, len(series)))
    found = _split_error(series, weights, mean_change_point(series, weights))
    assert found == pytest.approx(best, rel=1e-9, abs=1e-12)
