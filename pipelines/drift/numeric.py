"""Numeric drift statistics of every window from the daily histograms DuckDB counted.

Hand-written on purpose: SQL had to expand each day's histogram into every window that
reads it (29 windows per day), 5.7M rows for the 90-day demo and 13 s on 2 cores. Here
each agent and metric gets one (days × distinct values) count matrix and its prefix sums
over days; any window's histogram is then a difference of two rows, and the statistics
are the histogram functions of `stats` (~0.03 s per agent and metric on the demo). The
alert evidence (bootstrap, daily means for CUSUM) reads the same matrices.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import numpy as np
import polars as pl

from pipelines.drift import stats
from pipelines.drift.windows import Window

EPOCH = date(1970, 1, 1)


class DailyHistograms:
    """One agent's metric as a (days × distinct values) count matrix with its prefix sums
    over days: the histogram of any run of days is a difference of two rows."""

    def __init__(self, days: np.ndarray, values: np.ndarray, n: np.ndarray) -> None:
        """One row per day and value: `days` (days since 1970-01-01), `values` (sorted),
        `n` (how many)."""
        distinct = np.concatenate([[True], values[1:] != values[:-1]])
        self.values = values[distinct]
        value_index = np.cumsum(distinct) - 1
        first = int(days.min())
        self.first: date = EPOCH + timedelta(days=first)
        self.n_days = int(days.max()) - first + 1
        # row i + 1 holds the counts of days 0 … i: counts first, then summed in place
        self.through = np.zeros((self.n_days + 1, len(self.values)), dtype=np.int64)
        self.through[days - first + 1, value_index] = n  # (day, value) pairs are distinct
        np.cumsum(self.through, axis=0, out=self.through)

    def _row(self, day: date, offset: int) -> int:
        return min(max((day - self.first).days + offset, 0), self.n_days)

    def counts(self, start: date, end: date) -> np.ndarray:
        """Counts per value over start…end (clipped to the days that have data)."""
        lo, hi = self._row(start, 0), self._row(end, 1)
        return self.through[max(hi, lo)] - self.through[lo]

    def daily_means(self, start: date, end: date) -> tuple[list[date], np.ndarray]:
        """(days with data, their means) from start to end."""
        lo, hi = self._row(start, 0), self._row(end, 1)
        daily = np.diff(self.through[lo : max(hi, lo) + 1], axis=0)
        sizes = daily.sum(axis=1)
        kept = np.flatnonzero(sizes)
        days = [self.first + timedelta(days=int(lo + i)) for i in kept]
        return days, np.array([_mean(self.values, counts) for counts in daily[kept]])


def daily_histograms(histograms: pl.DataFrame) -> dict[tuple[str, str], DailyHistograms]:
    """(agent, metric) → its DailyHistograms; `histograms`: agent_name, metric, day,
    value, n (one row per day and value). One sort, after which each (agent, metric) is a
    run of rows with its values in order (a partition and a sort per pair cost more). The
    sort is numpy's, of the agent's and metric's integer codes and the value: a sort of
    the strings costs ~2.5× more, and only the runs need be together, not in name order."""
    agent_codes, metric_codes = (
        histograms[name].cast(pl.Categorical).to_physical().to_numpy()
        for name in ("agent_name", "metric")
    )
    order = np.lexsort((histograms["value"].to_numpy(), metric_codes, agent_codes))
    agent_codes, metric_codes = agent_codes[order], metric_codes[order]
    changes = (agent_codes[1:] != agent_codes[:-1]) | (metric_codes[1:] != metric_codes[:-1])
    starts = np.flatnonzero(np.concatenate([[True], changes]))
    bounds = np.append(starts, len(order))
    days = histograms["day"].to_physical().to_numpy()[order]
    values, n = histograms["value"].to_numpy()[order], histograms["n"].to_numpy()[order]
    first_rows = pl.Series(order[starts])
    agents = histograms["agent_name"].gather(first_rows)
    metrics = histograms["metric"].gather(first_rows)
    return {
        (agent, metric): DailyHistograms(days[lo:hi], values[lo:hi], n[lo:hi])
        for agent, metric, lo, hi in zip(agents, metrics, bounds[:-1], bounds[1:], strict=True)
    }


def numeric_stats(
    histograms: dict[tuple[str, str], DailyHistograms],
    windows: list[Window],
    window_ids: Iterable[int] | None = None,
) -> pl.DataFrame:
    """One row per window (of `window_ids`, default all) and metric with data: sizes,
    means, PSI and KS statistic."""
    by_agent: dict[str, list[int]] = {}
    for window_id in range(len(windows)) if window_ids is None else window_ids:
        by_agent.setdefault(windows[window_id].agent_name, []).append(window_id)
    rows = []
    for (agent, metric), daily in histograms.items():
        for window_id in by_agent.get(agent, []):
            if row := _window_row(daily, windows[window_id]):
                rows.append((window_id, metric, *row))
    return pl.DataFrame(rows, schema=STATS_SCHEMA, orient="row")


STATS_SCHEMA = {
    "window_id": pl.Int64,
    "metric": pl.String,
    "n_current": pl.Int64,
    "n_reference": pl.Int64,
    "current_mean": pl.Float64,
    "reference_mean": pl.Float64,
    "psi": pl.Float64,
    "ks_statistic": pl.Float64,
}


def _window_row(daily: DailyHistograms, window: Window) -> tuple | None:
    cur = daily.counts(window.window_start, window.window_end)
    ref = daily.counts(window.reference_start, window.reference_end)
    n, m = int(cur.sum()), int(ref.sum())
    if n == 0 and m == 0:
        return None
    both, values = n > 0 and m > 0, daily.values
    return (
        n,
        m,
        _mean(values, cur) if n else None,
        _mean(values, ref) if m else None,
        stats.psi_counts(values, ref, cur) if both else None,
        stats.ks_statistic_counts(ref, cur) if both else None,
    )


def _mean(values: np.ndarray, counts: np.ndarray) -> float:
    """Mean of a histogram, summed over the values it holds only: the matrices of an
    incremental build hold fewer days, so fewer distinct values, and a dot product over
    other zeros may add in another order (its last bit would differ)."""
    held = counts > 0
    return float(values[held] @ counts[held] / counts[held].sum())


def add_mean_shift_intervals(
    histograms: dict[tuple[str, str], DailyHistograms], rows: list[dict]
) -> None:
    """The bootstrap 95 % interval of the mean shift of each (numeric) row: the evidence
    an analyst reads for each alert's first window (a bootstrap costs ~0.1 s, so not for
    every row)."""
    for row in rows:
        daily = histograms[(row["agent_name"], row["metric"])]
        cur = daily.counts(row["window_start"], row["window_end"])
        ref = daily.counts(row["reference_start"], row["reference_end"])
        shift = stats.mean_shift_counts(daily.values[ref > 0], ref[ref > 0],
                                        daily.values[cur > 0], cur[cur > 0])  # fmt: skip
        row["mean_shift_low"], row["mean_shift_high"] = shift.low, shift.high


def add_change_points(histograms: dict[tuple[str, str], DailyHistograms], rows: list[dict]) -> None:
    """The CUSUM change point of the daily means from reference_start to window_end, of
    each (numeric, alerting) row."""
    for row in rows:
        daily = histograms[(row["agent_name"], row["metric"])]
        days, means = daily.daily_means(row["reference_start"], row["window_end"])
        point = stats.cusum_change_point(means)
        row["change_point_day"] = None if point is None else days[point]
