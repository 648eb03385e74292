"""Judging drift rows: p-values, thresholds crossed, the reason in words, and persistence
(windows running, is_new_alert, the verdict) along each series of windows, by
config/policy.yaml. Pure Python over rows: the statistics come from marts.py."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import chi2

from pipelines.drift import stats
from pipelines.drift.windows import Window, disjoint_running
from pipelines.policy import DriftPolicy

INSUFFICIENT = "insufficient data"


def judge(
    windows: list[Window], numeric: pl.DataFrame, categorical: pl.DataFrame, policy: DriftPolicy
) -> list[dict]:
    """One row per window and metric, with p-values, thresholds and the verdict."""
    return judge_statistics(windows, with_p_values(numeric, categorical, policy), policy)


def judge_statistics(
    windows: list[Window], statistics: pl.DataFrame, policy: DriftPolicy, seeds=None
) -> list[dict]:
    """One row per window and metric of `statistics` (with p-values), with thresholds,
    persistence and the verdict; `seeds` (carry.Plan.seeds): rows of each series judged
    before these, which persistence continues from."""
    rows = statistics.to_dicts()
    for row in rows:
        window = windows[row["window_id"]]
        row |= {
            "agent_name": window.agent_name,
            "window_start": window.window_start,
            "window_end": window.window_end,
            "window_days": window.days,
            "reference_start": window.reference_start,
            "reference_end": window.reference_end,
            "reference_kind": window.reference_kind,
            "mean_shift": _difference(row["current_mean"], row["reference_mean"]),
            "psi_warn": policy.psi_warn,
            "psi_alert": policy.psi_alert,
            "ks_p_threshold": policy.ks_p_value,
            "ks_min_statistic": policy.ks_min_statistic,
            "js_alert": policy.js_alert,
            "chi2_p_threshold": policy.chi2_p_value,
        }
        row["reason"], row["crosses_alert"], crosses_warn = _crossings(row, policy)
        row["verdict"] = (
            INSUFFICIENT
            if row["crosses_alert"] is None
            else ("warn" if row["crosses_alert"] or crosses_warn else "ok")
        )
    rows.sort(key=lambda r: (windows[r["window_id"]].granularity, r["agent_name"], r["metric"],
                             r["window_end"]))  # fmt: skip
    _apply_persistence(rows, windows, policy, seeds or {})
    return rows


def with_p_values(numeric: pl.DataFrame, categorical: pl.DataFrame, policy) -> pl.DataFrame:
    """KS p-values (only where there are enough values to judge; stats.ks_p_values) and
    chi-square p-values."""
    n, m = numeric["n_current"].to_numpy(), numeric["n_reference"].to_numpy()
    judged = (n >= policy.min_current_cases) & (m >= policy.min_reference_cases)
    ks_p = np.full(len(n), np.nan)
    statistic = numeric["ks_statistic"].to_numpy()
    ks_p[judged] = stats.ks_p_values(statistic[judged], n[judged], m[judged])
    numeric = numeric.with_columns(
        metric_kind=pl.lit("numeric"), ks_p_value=pl.Series(ks_p).fill_nan(None)
    )
    statistic = categorical["chi2_statistic"].fill_null(0).to_numpy()
    dof = categorical["chi2_dof"].fill_null(0).to_numpy()
    chi2_p = np.where(dof > 0, chi2.sf(statistic, np.maximum(dof, 1)), 1.0)
    categorical = categorical.with_columns(
        metric_kind=pl.lit("categorical"),
        chi2_p_value=pl.Series(chi2_p).fill_nan(None),
    ).drop("chi2_statistic", "chi2_dof")
    return pl.concat([numeric, categorical], how="diagonal_relaxed")


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _crossings(row: dict, policy: DriftPolicy) -> tuple[str, bool | None, bool]:
    """(reason, alert thresholds crossed — None when too few values, warn crossed)."""
    n, m = row["n_current"], row["n_reference"]
    if n < policy.min_current_cases or m < policy.min_reference_cases:
        return (
            f"{INSUFFICIENT}: {n} current (need {policy.min_current_cases}), "
            f"{m} reference (need {policy.min_reference_cases})",
            None,
            False,
        )
    if row["metric_kind"] == "numeric":
        psi, d, p = row["psi"], row["ks_statistic"], row["ks_p_value"]
        ks_flags = p < policy.ks_p_value and d >= policy.ks_min_statistic
        alert = psi >= policy.psi_alert or ks_flags
        warn = psi >= policy.psi_warn
        reason = (
            f"PSI {psi:.3f} ({_against(psi, policy.psi_warn, policy.psi_alert)}); "
            f"KS {d:.3f} p={p:.2g} ({'flags' if ks_flags else 'does not flag'}: needs "
            f"p < {policy.ks_p_value:g} and ≥ {policy.ks_min_statistic:g}); "
            f"mean {row['reference_mean']:.4g} → {row['current_mean']:.4g}"
        )
        return reason, alert, warn
    js, p = row["js_distance"], row["chi2_p_value"]
    alert = js >= policy.js_alert and p < policy.chi2_p_value
    reason = (
        f"JS {js:.3f} ({'≥' if js >= policy.js_alert else '<'} {policy.js_alert:g}), "
        f"chi-square p={p:.2g} ({'<' if p < policy.chi2_p_value else '≥'} "
        f"{policy.chi2_p_value:g}); {row['moved_category']} "
        f"{row['moved_reference_share']:.0%} → {row['moved_current_share']:.0%}"
    )
    return reason, alert, False


def _against(value: float, warn: float, alert: float) -> str:
    if value >= alert:
        return f"≥ alert {alert:g}"
    if value >= warn:
        return f"≥ warn {warn:g}"
    return f"< warn {warn:g}"


def _apply_persistence(
    rows: list[dict], windows: list[Window], policy: DriftPolicy, seeds: dict
) -> None:
    """An alert needs the alert thresholds crossed in N windows running, or in
    strong_windows_running windows running with p < strong_p_value (windows with too few
    values are skipped, not counted); `is_new_alert` marks an episode's first.

    Daily windows of several days overlap, and overlapping windows share their evidence:
    one odd day would cross in every window holding it. So `windows_running` counts the
    most windows sharing no day among the crossing windows running (for one-day windows,
    all of them, as before max_window_days). The strong rule counts every window running:
    a p-value below strong_p_value is its own guard (chance would give one in a million
    windows, overlapping or not), and it is what lets a quiet agent alert within days.

    `seeds`: (granularity, agent, metric) → rows judged before (each series' first rows
    follow them): they set the state and are left as they are."""
    needed = {"daily": policy.daily_windows_running, "weekly": policy.weekly_windows_running}
    for (granularity, _, _), series in _series(rows, windows).items():
        before = seeds.get((granularity, series[0]["agent_name"], series[0]["metric"]), [])
        judged = [row for row in (*before, *series) if row["crosses_alert"] is not None]
        disjoint = iter(disjoint_running([windows[row["window_id"]] for row in judged],
                                         [row["crosses_alert"] for row in judged]))  # fmt: skip
        running = strong = 0
        alerting = False
        for row in before:  # judged already: only the state
            if row["crosses_alert"] is not None:
                running = next(disjoint)
                strong = strong + 1 if row["crosses_alert"] and _is_strong(row, policy) else 0
                alerting = row["verdict"] == "alert"
        for row in series:
            row["windows_running"] = running
            row["is_new_alert"] = False
            if row["crosses_alert"] is None:
                continue
            running = row["windows_running"] = next(disjoint)
            strong = strong + 1 if row["crosses_alert"] and _is_strong(row, policy) else 0
            row["reason"] += _persistence_reason(
                running, strong, needed[granularity], granularity, row, policy
            )
            if running >= needed[granularity] or strong >= policy.strong_windows_running:
                row["verdict"] = "alert"
                row["is_new_alert"] = not alerting
            alerting = row["verdict"] == "alert"


def _series(rows: list[dict], windows: list[Window]) -> dict[tuple, list[dict]]:
    """`rows` (sorted) cut into runs of one granularity, agent and metric."""
    series: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (windows[row["window_id"]].granularity, row["agent_name"], row["metric"])
        series.setdefault(key, []).append(row)
    return series


def _persistence_reason(
    running: int, strong: int, needed: int, granularity: str, row: dict, policy: DriftPolicy
) -> str:
    # daily windows of several days overlap: say that the count is of windows sharing no day
    disjoint = " sharing no day" if row["window_days"] > 1 and granularity == "daily" else ""
    if running >= needed:
        return f"; alert thresholds crossed {running} window(s){disjoint} running"
    if strong >= policy.strong_windows_running:
        return (
            f"; alert thresholds crossed {strong} window(s) running with p < "
            f"{policy.strong_p_value:g}"
        )
    if row["crosses_alert"]:
        return f"; alert thresholds crossed {running} of {needed} window(s){disjoint} needed"
    return ""


def _is_strong(row: dict, policy: DriftPolicy) -> bool:
    p = row["ks_p_value"] if row["metric_kind"] == "numeric" else row["chi2_p_value"]
    return p is not None and p < policy.strong_p_value
