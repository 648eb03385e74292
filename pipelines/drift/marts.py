"""`drift_daily` and `drift_weekly`: every agent's metrics, window by window, against a
reference window, with the statistics, thresholds, sample sizes and the verdict.

DuckDB does the counting (the warehouse's rollups int_drift_values_daily and
int_drift_categories_daily: daily histograms and category counts, each day counted once;
`sql/drift/*.sql`: for the categorical mixes the JS distance and chi-square; `facts.py`
loads them); `numeric.py` turns the daily histograms into each window's PSI, KS and
means, and serves the alert evidence; `judging.py` adds the p-values and judges each row by
config/policy.yaml; this module picks the windows (`windows.py`), and adds the bootstrap
interval and change point of alerting rows. An incremental build (`carry.py`) recomputes
only the windows that are new or read a touched day, and keeps the rest.

A daily window holds at least min_current_cases cases when max_window_days allow: one
day for a busy agent, a few days ending on each day for a quiet one, so consecutive daily
windows may share days. Persistence counts evidence, not windows (see
judging._apply_persistence).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date

import polars as pl
import pyarrow as pa

from pipelines.drift import carry, facts, judging, stats
from pipelines.drift.facts import DriftFacts, daily_configs, first_days
from pipelines.drift.numeric import (
    add_change_points,
    add_mean_shift_intervals,
    numeric_stats,
)
from pipelines.drift.windows import AgentDay, Window, agent_windows
from pipelines.policy import DriftPolicy
from pipelines.schemas import documented_schema

MARTS = {"daily": "drift_daily", "weekly": "drift_weekly"}
# daily windows of a quiet agent may start on the same day; every window ends on its own
GRAIN = ("agent_name", "metric", "window_end")  # of each drift mart
INSUFFICIENT, judge = judging.INSUFFICIENT, judging.judge  # the tests read them here

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
    (
        "ks_p_value",
        pa.float64(),
        "Its two-sided p-value: the exact Kolmogorov distribution at the effective size "
        f"en = n·m/(n+m) (scipy kstwo) when en < {stats.KS_ASYMPTOTIC_MIN_EN}, the "
        "asymptotic one (kstwobign at statistic·√en) from there on.",
    ),
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


_sql = facts.sql  # the tests read the drift SQL by this name


def build_marts(
    con, policy: DriftPolicy, *, previous: str | None = None, touched_days: Collection[date] = ()
) -> dict[str, pa.Table]:
    """drift_daily and drift_weekly from the warehouse's fct_cases and fct_llm_calls.

    Incremental when `previous` names an attached catalog holding the previous warehouse
    (built by the same code and policy) and `touched_days` are the fact days rewritten
    since: the statistics of windows neither new nor touched are carried from its drift
    marts, with their alert evidence, and each series is judged again only from its first
    change on (carry.py); each agent's facts are loaded from the first day its recomputed
    windows read. The rows are those of a full recompute, to the last bit
    (tests/test_drift_incremental.py)."""
    configs = daily_configs(con)
    windows = _windows(configs, policy) if not configs.is_empty() else []
    if not windows:  # no agent has a day with data before another
        return {name: DRIFT_SCHEMA.empty_table() for name in MARTS.values()}
    plan = carry.plan(con, windows, carry.data_days(configs), MARTS, previous, touched_days)
    data = DriftFacts(con)
    try:
        statistics = _statistics(data, windows, plan.recompute, policy)
        if plan.carried is not None:
            statistics = pl.concat([statistics, plan.carried], how="diagonal_relaxed")
        rows = judging.judge_statistics(windows, statistics, policy, plan.seeds)
        intervals, change_points = carry.reuse_evidence(rows, plan.evidence)
        data.load(first_days(intervals + change_points))
        add_mean_shift_intervals(data.histograms, intervals)
        add_change_points(data.histograms, _of_kind(change_points, "numeric"))
        _date_categorical_changes(con, _of_kind(change_points, "categorical"))
    finally:
        data.close()
    return {
        MARTS[granularity]: _mart(
            [r for r in rows if windows[r["window_id"]].granularity == granularity],
            None if plan.kept is None else plan.kept.filter(pl.col("granularity") == granularity),
        )
        for granularity in MARTS
    }


def _mart(rows: list[dict], kept: pl.DataFrame | None) -> pa.Table:
    """One drift mart: the rows judged here and the previous rows kept, in GRAIN order."""
    judged = pa.Table.from_pylist(rows, schema=DRIFT_SCHEMA)
    if kept is None or kept.is_empty():
        return judged
    kept_rows = kept.select(DRIFT_SCHEMA.names).to_arrow().cast(DRIFT_SCHEMA)
    return pa.concat_tables([judged, kept_rows]).sort_by([(name, "ascending") for name in GRAIN])


def _statistics(
    data: DriftFacts, windows: list[Window], window_ids: list[int], policy: DriftPolicy
) -> pl.DataFrame:
    """The statistics (with p-values) of each window of `window_ids` and metric with data."""
    if not window_ids:
        return pl.DataFrame()
    data.load(first_days([windows[i] for i in window_ids]))
    con = data.con
    con.register("drift_windows", carry.window_keys(windows, window_ids).to_arrow())
    try:
        categorical = con.sql(_sql("categorical_stats")).pl()
    finally:
        con.unregister("drift_windows")
    numeric = numeric_stats(data.histograms, windows, window_ids)
    return judging.with_p_values(numeric, categorical, policy)


def _of_kind(rows: list[dict], kind: str) -> list[dict]:
    return [row for row in rows if row["metric_kind"] == kind]


def _windows(configs: pl.DataFrame, policy: DriftPolicy) -> list[Window]:
    """Every window of every agent, sized and started by its days with cases (configs'
    days with LLM calls only are left out)."""
    configs = configs.filter(pl.col("n_cases").is_not_null())
    if configs.is_empty():
        return []
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


def _date_categorical_changes(con, alerting: list[dict]) -> None:
    """The change point of each alerting categorical row: where the daily share of its
    moved category changed, from reference_start to window_end (`drift_categorical` holds
    the daily counts). The CUSUM maximum is pulled toward the middle when the change sits
    in a window's last days; stats.mean_change_point is not."""
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
