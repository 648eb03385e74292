"""Incremental drift: which windows a build recomputes, and what it carries over from the
previous warehouse's drift marts.

A window's statistics are a function of its key (granularity, agent, current and
reference days, reference kind) and of the facts of the days from reference_start to
window_end (its current and reference days, and for a previous_version reference the days
between, which the change points read). So a window whose key the previous marts hold and
none of whose days the build touched has the same statistics, and the same alert evidence
when its row alerted then as now: both are carried. Every other window with data is
recomputed. A window without data (no case and no LLM call of its agent on its current
and reference days) has no row, in either build, and is neither.

Judging a row (persistence, is_new_alert) reads the rows before it in its series
(granularity, agent, metric), never after. So each series' rows before its first change
(a recomputed window, or a previous row not carried) are the previous rows, judged and
all, and are kept as they are; the rest are judged again, starting from the state the
kept rows leave (`seeds`: the kept rows of the crossing run they end with). A build of one
new day judges a row or two per series, not the whole history.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from pipelines.db import sql_identifier
from pipelines.drift.windows import Window

KEY = ("granularity", "agent_name", "window_start", "window_end", "reference_start",
       "reference_end", "reference_kind")  # fmt: skip
# what the statistics of a window and metric are, before judging: carried as they were
STATISTICS = ("metric_kind", "n_current", "n_reference", "current_mean", "reference_mean",
              "psi", "ks_statistic", "ks_p_value", "js_distance", "chi2_p_value",
              "moved_category", "moved_reference_share", "moved_current_share")  # fmt: skip
WINDOW_KEYS_SCHEMA = {"window_id": pl.Int64, "granularity": pl.String, "agent_name": pl.String,
                      "window_start": pl.Date, "window_end": pl.Date, "reference_start": pl.Date,
                      "reference_end": pl.Date, "reference_kind": pl.String}  # fmt: skip
EVIDENCE = ("verdict", "is_new_alert", "mean_shift_low", "mean_shift_high", "change_point_day")


SERIES = ("granularity", "agent_name", "metric")


@dataclass
class Plan:
    recompute: list[int]  # ids (indexes into the windows) whose statistics are computed
    # window_id, metric and STATISTICS of the carried rows to judge again
    carried: pl.DataFrame | None = None
    # (window_id, metric) of a carried row to judge again → its EVIDENCE in the previous marts
    evidence: dict[tuple[int, str], dict] = field(default_factory=dict)
    # the previous rows kept as they are (all their columns, and granularity)
    kept: pl.DataFrame | None = None
    # series → the kept rows the persistence state after them depends on, in order
    seeds: dict[tuple[str, str, str], list[dict]] = field(default_factory=dict)


def data_days(configs: pl.DataFrame) -> dict[str, np.ndarray]:
    """Agent → the sorted ordinals of its days with a case or an LLM call (`configs`:
    daily_configs.sql, one row per agent and such day)."""
    return {
        agent: np.sort(np.array([d.toordinal() for d in frame["day"]], dtype=np.int64))
        for (agent,), frame in configs.partition_by("agent_name", as_dict=True).items()
    }


def plan(
    con,
    windows: list[Window],
    days_with_data: dict[str, np.ndarray],
    marts: dict[str, str],
    previous: str | None,
    touched_days: Collection[date],
) -> Plan:
    """Which windows to recompute and which rows to carry; all windows with data are
    recomputed without a previous catalog. `marts`: granularity → mart name."""
    with_data = [i for i, window in enumerate(windows) if _has_data(window, days_with_data)]
    if previous is None:
        return Plan(with_data)
    touched = np.sort(np.array([d.toordinal() for d in touched_days], dtype=np.int64))
    untouched = [i for i in with_data if not _is_touched(windows[i], touched)]
    rows = _previous_rows(con, previous, marts).join(
        window_keys(windows, untouched), on=KEY, how="left"
    )
    carried_ids = set(rows["window_id"].drop_nulls().to_list())
    recompute = [i for i in with_data if i not in carried_ids]
    rows = _with_changes(rows, _first_recomputed(windows, recompute))
    is_kept = pl.col("window_end") < pl.col("first_change")
    carried = rows.filter(pl.col("window_id").is_not_null() & ~is_kept)
    kept = rows.filter(is_kept)
    return Plan(
        recompute=recompute,
        carried=carried.select("window_id", "metric", *STATISTICS),
        evidence={
            (row["window_id"], row["metric"]): {name: row[name] for name in EVIDENCE}
            for row in carried.filter(pl.col("verdict") == "alert").to_dicts()
        },
        kept=kept.drop("window_id", "first_change"),
        seeds=_seeds(kept),
    )


def _first_recomputed(windows: list[Window], recompute: list[int]) -> pl.DataFrame:
    """granularity, agent_name → the first window_end of its recomputed windows."""
    first: dict[tuple[str, str], date] = {}
    for i in recompute:
        key = (windows[i].granularity, windows[i].agent_name)
        first[key] = min(first.get(key, windows[i].window_end), windows[i].window_end)
    return pl.DataFrame(
        [(*key, end) for key, end in first.items()],
        schema={"granularity": pl.String, "agent_name": pl.String, "recomputed": pl.Date},
        orient="row",
    )


def _with_changes(rows: pl.DataFrame, recomputed: pl.DataFrame) -> pl.DataFrame:
    """`rows` (the previous rows, window_id null where not carried) with first_change: the
    first window_end of their series where the series changes, a previous row not carried
    or a recomputed window of its granularity and agent (a date after all when none)."""
    dropped = (
        rows.filter(pl.col("window_id").is_null())
        .group_by(SERIES)
        .agg(dropped=pl.col("window_end").min())
    )
    return (
        rows.join(dropped, on=SERIES, how="left")
        .join(recomputed, on=["granularity", "agent_name"], how="left")
        .with_columns(first_change=pl.min_horizontal("dropped", "recomputed").fill_null(date.max))
        .drop("dropped", "recomputed")
    )


def _seeds(kept: pl.DataFrame) -> dict[tuple[str, str, str], list[dict]]:
    """Series → its kept rows judged (crosses_alert not null) after the last one that did
    not cross (all of them when there is none): the persistence state the kept rows leave
    is theirs, as a window that does not cross ends a run (running 0, strong 0, not
    alerting), and persistence skips a row not judged (too few values). So a series'
    seeds are its crossing run, not its history: a grouping and a join find them, with
    no sort of every kept row (there are as many as the lake has days)."""
    crosses = pl.col("crosses_alert")
    last_calm = (
        kept.filter(crosses.not_()).group_by(SERIES).agg(last_calm=pl.col("window_end").max())
    )
    tail = (
        kept.filter(crosses.is_not_null())
        .join(last_calm, on=SERIES, how="left")
        .filter(pl.col("last_calm").is_null() | (pl.col("window_end") > pl.col("last_calm")))
        .sort(*SERIES, "window_end")
    )
    seeds: dict[tuple[str, str, str], list[dict]] = {}
    for row in tail.select(*SERIES, "window_id", *_SEED_COLUMNS).to_dicts():
        seeds.setdefault((row["granularity"], row["agent_name"], row["metric"]), []).append(row)
    return seeds


# what _apply_persistence reads of a row judged before
_SEED_COLUMNS = ("window_end", "crosses_alert", "verdict", "metric_kind", "ks_p_value",
                 "chi2_p_value")  # fmt: skip


def _has_data(window: Window, days_with_data: dict[str, np.ndarray]) -> bool:
    days = days_with_data.get(window.agent_name)
    if days is None:
        return False
    return _holds(days, window.window_start, window.window_end) or _holds(
        days, window.reference_start, window.reference_end
    )


def _is_touched(window: Window, touched: np.ndarray) -> bool:
    """Whether a touched day falls from reference_start to window_end."""
    return _holds(touched, window.reference_start, window.window_end)


def _holds(ordinals: np.ndarray, start: date, end: date) -> bool:
    """Whether the sorted day ordinals hold a day from start to end."""
    i = np.searchsorted(ordinals, start.toordinal(), side="left")
    return bool(i < len(ordinals) and ordinals[i] <= end.toordinal())


def window_keys(windows: list[Window], window_ids: list[int]) -> pl.DataFrame:
    """window_id and the KEY of each of the given windows: what the previous rows are
    matched on, and the `drift_windows` table the categorical SQL reads."""
    chosen = [windows[i] for i in window_ids]
    return pl.DataFrame(
        {
            "window_id": window_ids,
            **{name: [getattr(w, name) for w in chosen] for name in KEY},
        },
        schema=WINDOW_KEYS_SCHEMA,
    )


def _previous_rows(con, previous: str, marts: dict[str, str]) -> pl.DataFrame:
    """The previous warehouse's drift rows, with their granularity."""
    catalog = sql_identifier(previous)
    return con.sql(
        " union all ".join(
            f"select '{granularity}' as granularity, * from {catalog}.main.{mart}"
            for granularity, mart in marts.items()
        )
    ).pl()


def reuse_evidence(rows: list[dict], evidence: dict[tuple[int, str], dict]):
    """Give the alerting rows of carried windows the evidence they had (a carried window's
    data is unchanged, so is its evidence): the bootstrap interval when the row was an
    episode's first then and is now, the change point when it alerted then and does now.
    Returns the alerting rows still needing (bootstrap intervals, change points)."""
    intervals, change_points = [], []
    for row in rows:
        if row["verdict"] != "alert":
            continue
        before = evidence.get((row["window_id"], row["metric"]))
        if row["metric_kind"] == "numeric" and row["is_new_alert"]:
            if before is not None and before["is_new_alert"]:
                row["mean_shift_low"] = before["mean_shift_low"]
                row["mean_shift_high"] = before["mean_shift_high"]
            else:
                intervals.append(row)
        if before is not None:  # it alerted: `evidence` holds the alerting rows only
            row["change_point_day"] = before["change_point_day"]
        else:
            change_points.append(row)
    return intervals, change_points
