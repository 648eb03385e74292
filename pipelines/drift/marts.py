"""`drift_daily` and `drift_weekly`: every agent's metrics, window by window, against a
reference window, with the statistics, thresholds, sample sizes and the verdict.

DuckDB does the counting (`sql/drift/*.sql`: daily histograms and category counts, and
for the categorical mixes the JS distance and chi-square); `numeric.py` turns the daily
histograms into each window's PSI, KS and means, and serves the alert evidence; this
module picks the windows (`windows.py`), adds the p-values, the bootstrap interval and
change point of alerting rows, and judges each row by config/policy.yaml.

A daily window holds at least min_current_cases cases when max_window_days allow: one
day for a busy agent, a few days ending on each day for a quiet one, so consecutive daily
windows may share days. Persistence counts evidence, not windows (see _apply_persistence).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import polars as pl
import pyarrow as pa
from scipy.stats import chi2, kstwo

from pipelines.drift import stats
from pipelines.drift.numeric import add_numeric_evidence, daily_histograms, numeric_stats
from pipelines.drift.windows import AgentDay, Window, agent_windows, disjoint_running
from pipelines.models import SQL_DIR
from pipelines.policy import DriftPolicy
from pipelines.schemas import documented_schema

DRIFT_SQL_DIR = SQL_DIR / "drift"
MARTS = {"daily": "drift_daily", "weekly": "drift_weekly"}
# daily windows of a quiet agent may start on the same day; every window ends on its own
GRAIN = ("agent_name", "metric", "window_end")  # of each drift mart
INSUFFICIENT = "insufficient data"

DRIFT_SCHEMA = documented_schema(
    "Drift: one row per agent, metric and window, against its reference window.",
    ("agent_name", pa.string(), "Agent."),
    (
        "metric",
        pa.string(),
        "quality, latency_ms, cost_per_case_usd, input_tokens, "
        "output_tokens (numeric); outcome, intent, tool, model (categorical mixes).",
    ),
    ("metric_kind", pa.string(), "numeric or categorical."),
    ("window_start", pa.date32(), "First day of the current window (UTC)."),
    ("window_end", pa.date32(), "Last day of the current window."),
    (
        "window_days",
        pa.int64(),
        "Days the current window spans: weekly 7 (fewer for the last, partial week); "
        "daily, the fewest days ending on window_end that hold min_current_cases cases "
        "(1 for a busy agent), at most max_window_days (policy.yaml).",
    ),
    ("reference_start", pa.date32(), "First day of the reference window."),
    ("reference_end", pa.date32(), "Last day of the reference window."),
    (
        "reference_kind",
        pa.string(),
        "trailing: the days before the window; previous_version: "
        "the last days before the agent's latest version or model change.",
    ),
    ("n_current", pa.int64(), "Values in the current window (cases; tool or LLM calls)."),
    ("n_reference", pa.int64(), "Values in the reference window."),
    ("current_mean", pa.float64(), "Mean in the current window (numeric)."),
    ("reference_mean", pa.float64(), "Mean in the reference window (numeric)."),
    ("mean_shift", pa.float64(), "current_mean − reference_mean."),
    (
        "mean_shift_low",
        pa.float64(),
        "Bootstrap 95 % interval of the shift, low end (numeric: the first window of each alert).",
    ),
    ("mean_shift_high", pa.float64(), "Bootstrap 95 % interval, high end."),
    (
        "change_point_day",
        pa.date32(),
        "The first day after the change, from reference_start to window_end (alerting "
        "rows): numeric, the CUSUM change point of the daily means; categorical, the "
        "least-squares change point of the moved category's daily share.",
    ),
    ("psi", pa.float64(), "Population stability index, 10 bins at reference deciles."),
    ("psi_warn", pa.float64(), "PSI warning threshold (policy.yaml drift.psi_warn)."),
    ("psi_alert", pa.float64(), "PSI alert threshold (drift.psi_alert)."),
    ("ks_statistic", pa.float64(), "Two-sample Kolmogorov–Smirnov statistic."),
    ("ks_p_value", pa.float64(), "Its two-sided p-value (asymptotic)."),
    ("ks_p_threshold", pa.float64(), "KS flags when p is below this (drift.ks_p_value)…"),
    ("ks_min_statistic", pa.float64(), "…and the statistic at least this."),
    ("js_distance", pa.float64(), "Jensen–Shannon distance of the mixes, base 2 (categorical)."),
    ("js_alert", pa.float64(), "JS alert threshold (drift.js_alert)."),
    ("chi2_p_value", pa.float64(), "Chi-square test p-value of the two mixes."),
    ("chi2_p_threshold", pa.float64(), "JS flags only when chi2_p_value is below this."),
    ("moved_category", pa.string(), "The category whose share moved most (categorical)."),
    ("moved_reference_share", pa.float64(), "Its share in the reference window."),
    ("moved_current_share", pa.float64(), "Its share in the current window."),
    ("crosses_alert", pa.bool_(), "The alert thresholds are crossed in this window."),
    (
        "windows_running",
        pa.int64(),
        "Windows that cross, running (insufficient ones skipped), counting only windows "
        "that share no day: daily windows of several days overlap.",
    ),
    (
        "verdict",
        pa.string(),
        "ok; warn (a warning threshold, or the alert thresholds not yet "
        "crossed for long enough); alert; insufficient data (too few values to judge).",
    ),
    ("is_new_alert", pa.bool_(), "The first alert window of an episode (the one alerts name)."),
    ("reason", pa.string(), "Why: the statistics against their thresholds, in words."),
)


def _sql(name: str) -> str:
    return (DRIFT_SQL_DIR / f"{name}.sql").read_text()


def build_marts(con, policy: DriftPolicy) -> dict[str, pa.Table]:
    """drift_daily and drift_weekly from the warehouse's fct_cases and fct_llm_calls."""
    configs = con.sql(_sql("daily_configs")).pl()
    windows = _windows(configs, policy) if not configs.is_empty() else []
    if not windows:  # no agent has a day with data before another
        return {name: DRIFT_SCHEMA.empty_table() for name in MARTS.values()}
    since = min(w.reference_start for w in windows)
    histograms = daily_histograms(con.sql(_sql("numeric_values"), params={"since": since}).pl())
    con.register("drift_windows", _windows_table(windows))
    con.execute(f"create or replace temp table drift_categorical as "
                f"{_sql('categorical_values')}", {"since": since})  # fmt: skip
    try:
        categorical = con.sql(_sql("categorical_stats")).pl()
        rows = judge(windows, numeric_stats(histograms, windows), categorical, policy)
        add_numeric_evidence(histograms, rows)
        _date_categorical_changes(con, rows)
    finally:
        con.unregister("drift_windows")
        con.execute("drop table if exists drift_categorical")
    return {
        MARTS[granularity]: pa.Table.from_pylist(
            [r for r in rows if windows[r["window_id"]].granularity == granularity],
            schema=DRIFT_SCHEMA,
        )
        for granularity in MARTS
    }


def _windows(configs: pl.DataFrame, policy: DriftPolicy) -> list[Window]:
    last_day = configs["day"].max()
    by_agent: dict[str, list[AgentDay]] = defaultdict(list)
    for row in configs.iter_rows(named=True):
        by_agent[row["agent_name"]].append(
            AgentDay(row["day"], row["agent_version"], row["model"], row["n_cases"])
        )
    return [
        window
        for agent, days in by_agent.items()
        for window in agent_windows(agent, days, last_day, policy)
    ]


def _windows_table(windows: list[Window]) -> pa.Table:
    return pa.table(
        {
            "window_id": list(range(len(windows))),
            "agent_name": [w.agent_name for w in windows],
            "window_start": [w.window_start for w in windows],
            "window_end": [w.window_end for w in windows],
            "reference_start": [w.reference_start for w in windows],
            "reference_end": [w.reference_end for w in windows],
        }
    )


def judge(
    windows: list[Window], numeric: pl.DataFrame, categorical: pl.DataFrame, policy: DriftPolicy
) -> list[dict]:
    """One row per window and metric, with p-values, thresholds and the verdict."""
    rows = _with_p_values(numeric, categorical, policy).to_dicts()
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
    _apply_persistence(rows, windows, policy)
    return rows


def _with_p_values(numeric: pl.DataFrame, categorical: pl.DataFrame, policy) -> pl.DataFrame:
    """KS p-values (only where there are enough values to judge: scipy's kstwo.sf is
    slow for large samples) and chi-square p-values."""
    n, m = numeric["n_current"].to_numpy(), numeric["n_reference"].to_numpy()
    judged = (n >= policy.min_current_cases) & (m >= policy.min_reference_cases)
    effective = np.round(n[judged] * m[judged] / (n[judged] + m[judged]))
    ks_p = np.full(len(n), np.nan)
    ks_p[judged] = np.clip(kstwo.sf(numeric["ks_statistic"].to_numpy()[judged], effective), 0, 1)
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


def _apply_persistence(rows: list[dict], windows: list[Window], policy: DriftPolicy) -> None:
    """An alert needs the alert thresholds crossed in N windows running, or in
    strong_windows_running windows running with p < strong_p_value (windows with too few
    values are skipped, not counted); `is_new_alert` marks an episode's first.

    Daily windows of several days overlap, and overlapping windows share their evidence:
    one odd day would cross in every window holding it. So `windows_running` counts the
    most windows sharing no day among the crossing windows running (for one-day windows,
    all of them, as before max_window_days). The strong rule counts every window running:
    a p-value below strong_p_value is its own guard (chance would give one in a million
    windows, overlapping or not), and it is what lets a quiet agent alert within days."""
    needed = {"daily": policy.daily_windows_running, "weekly": policy.weekly_windows_running}
    for series in _series(rows, windows):
        granularity = windows[series[0]["window_id"]].granularity
        judged = [row for row in series if row["crosses_alert"] is not None]
        disjoint = iter(disjoint_running([windows[row["window_id"]] for row in judged],
                                         [row["crosses_alert"] for row in judged]))  # fmt: skip
        running = strong = 0
        alerting = False
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


def _series(rows: list[dict], windows: list[Window]) -> list[list[dict]]:
    """`rows` (sorted) cut into runs of one granularity, agent and metric."""
    series: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (windows[row["window_id"]].granularity, row["agent_name"], row["metric"])
        series.setdefault(key, []).append(row)
    return list(series.values())


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


def _date_categorical_changes(con, rows: list[dict]) -> None:
    """The change point of every alerting categorical row: where the daily share of its
    moved category changed, from reference_start to window_end (`drift_categorical` holds
    the daily counts). The CUSUM maximum is pulled toward the middle when the change sits
    in a window's last days; stats.mean_change_point is not."""
    alerting = [r for r in rows if r["metric_kind"] == "categorical" and r["verdict"] == "alert"]
    if not alerting:
        return
    changes = pa.table(
        {
            "change_id": list(range(len(alerting))),
            "agent_name": [r["agent_name"] for r in alerting],
            "metric": [r["metric"] for r in alerting],
            "category": [r["moved_category"] for r in alerting],
            "reference_start": [r["reference_start"] for r in alerting],
            "window_end": [r["window_end"] for r in alerting],
        }
    )
    con.register("drift_changes", changes)
    try:
        daily = con.sql(_sql("categorical_shares")).pl()
    finally:
        con.unregister("drift_changes")
    for (change_id,), shares in daily.partition_by("change_id", as_dict=True).items():
        n = shares["n"].to_numpy()
        point = stats.mean_change_point(shares["n_moved"].to_numpy() / n, weights=n)
        alerting[change_id]["change_point_day"] = None if point is None else shares["day"][point]
