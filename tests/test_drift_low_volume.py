"""Drift for quiet agents: daily windows that reach back over as few days as it takes to
hold min_current_cases cases, persistence that counts only windows sharing no day, and
categorical change points; on fleets generated here (fct_cases and fct_llm_calls built
directly in DuckDB), not by the demo."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from scipy.stats import chi2

from pipelines.drift.marts import DRIFT_SCHEMA, INSUFFICIENT, build_marts, judge
from pipelines.drift.numeric import STATS_SCHEMA
from pipelines.drift.windows import (
    AgentDay,
    Window,
    agent_windows,
    disjoint_running,
    window_lengths,
)
from pipelines.policy import DriftPolicy
from tests.test_drift import categorical_stats

D = date(2026, 3, 2)  # a Monday
DAY = timedelta(days=1)
INTENTS = ("refund", "exchange", "complaint", "question")
STEADY_INTENTS = (0.60, 0.10, 0.20, 0.10)
SHIFTED_INTENTS = (0.15, 0.55, 0.20, 0.10)  # exchange 10 % → 55 %, refund 60 % → 15 %
OUTCOMES = (("resolved", "escalated", "abandoned"), (0.7, 0.2, 0.1))
TOOLS = (("search", "lookup", "refund_api"), (0.5, 0.3, 0.2))
MODELS = (("model-large", "model-small"), (0.7, 0.3))


# --- the window rule ---------------------------------------------------------------


def test_window_lengths_reach_back_until_the_window_holds_enough_cases():
    # min 100 cases, at most 4 days, never before day 0:
    #   60 (1 day allowed) | 30+60 (2 allowed) | 40+30+60 | 50+40+30 | 0+50+40+30
    #   0+0+50+40 (90: longest) | 10+0+0+50 (60: longest) | 200 | 0+200
    cases = np.array([60, 30, 40, 50, 0, 0, 10, 200, 0])
    assert window_lengths(cases, 100, 4).tolist() == [1, 2, 3, 3, 4, 4, 4, 1, 2]
    assert window_lengths(np.array([100, 250, 100]), 100, 7).tolist() == [1, 1, 1]
    assert window_lengths(np.array([], dtype=np.int64), 100, 7).tolist() == []


def test_daily_windows_start_where_the_case_counts_say():
    """Hand-written day counts, with two days without cases (D+5, D+6) and two days after
    the last day with data: each daily window's first day, and its reference."""
    counts = {0: 500, 1: 60, 2: 30, 3: 40, 4: 50, 7: 10, 8: 200}  # day offset → cases
    days = [AgentDay(D + i * DAY, "v1", "m", n) for i, n in counts.items()]
    policy = DriftPolicy(max_window_days=4)
    windows = agent_windows("a", days, D + 10 * DAY, policy)
    daily = [w for w in windows if w.granularity == "daily"]
    starts = {(w.window_end - D).days: (w.window_start - D).days for w in daily}
    # D's 500 cases are never in a window: D is every window's reference
    assert starts == {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 3, 7: 4, 8: 8, 9: 8, 10: 8}
    assert [w.days for w in daily] == [1, 2, 3, 3, 4, 4, 4, 1, 2, 3]
    by_end = {w.window_end: w for w in daily}
    assert (by_end[D + 5 * DAY].reference_start, by_end[D + 5 * DAY].reference_end) == (
        D + 2 * DAY - 28 * DAY,
        D + DAY,
    )  # the 28 days before the window's first day
    weekly = [(w.window_start, w.days) for w in windows if w.granularity == "weekly"]
    assert weekly == [(D + 7 * DAY, 4)]  # weeks are unchanged: Monday D+7 to the last day


def test_windows_running_counts_the_crossing_windows_that_share_no_day():
    spans = [(1, 1), (1, 2), (2, 3), (4, 4), (4, 5), (5, 6), (6, 7), (8, 8)]  # first, last
    crosses = [True, True, True, True, False, True, True, True]
    windows = [Window("daily", "a", D + a * DAY, D + b * DAY, D, D, "trailing") for a, b in spans]
    # 1-1 | 1-2 overlaps it | 2-3 after 1-1 | 4-4 after 2-3 after 1-1 | 4-5 does not cross,
    # a new run: 5-6 | 6-7 (5-6 overlaps) | 8-8 after 6-7
    assert disjoint_running(windows, crosses) == [1, 1, 2, 3, 0, 1, 1, 2]
    one_day = [Window("daily", "a", D + i * DAY, D + i * DAY, D, D, "trailing") for i in range(5)]
    assert disjoint_running(one_day, [True, True, False, True, True]) == [1, 2, 0, 1, 2]


def test_overlapping_windows_count_once_toward_persistence_but_strong_evidence_alerts():
    """Three-day windows ending on days 9 … 16, crossing from day 10: windows sharing a
    day count once, so the weak evidence (p = 0.001) needs the windows ending on days 10,
    13 and 16 (three sharing no day); the strong (p < 1e-6) alerts on the second window."""
    ends = [D + i * DAY for i in range(9, 17)]
    windows = [Window("daily", "a", e - 2 * DAY, e, e - 30 * DAY, e - 3 * DAY, "trailing")
               for e in ends]  # fmt: skip
    rows = []
    for metric, p in (("strong", 1e-12), ("weak", 1e-3)):
        for window_id in range(len(ends)):
            p_value, js = (0.5, 0.02) if window_id == 0 else (p, 0.3)
            rows.append((window_id, metric, 150, 900, js, float(chi2.isf(p_value, 3)), 3))
    categorical = categorical_stats(rows)
    judged = judge(windows, pl.DataFrame(schema=STATS_SCHEMA), categorical, DriftPolicy())
    weak = [(r["verdict"], r["windows_running"]) for r in judged if r["metric"] == "weak"]
    assert weak == [("ok", 0), ("warn", 1), ("warn", 1), ("warn", 1), ("warn", 2),
                    ("warn", 2), ("warn", 2), ("alert", 3)]  # fmt: skip
    strong = [(r["verdict"], r["is_new_alert"]) for r in judged if r["metric"] == "strong"]
    assert strong == [("ok", False), ("warn", False), ("alert", True)] + [("alert", False)] * 5
    assert all(r["window_days"] == 3 for r in judged)


# --- generated fleets ----------------------------------------------------------------


def _choice(rng, options: tuple, size: int) -> np.ndarray:
    names, shares = options
    return np.asarray(names)[rng.choice(len(names), size=size, p=shares)]


def _agent_cases(rng, agent: str, rate: float, days: int, shift_day: int | None) -> dict:
    """One agent's cases, every metric stationary, the intent mix shifted from shift_day."""
    per_day = rng.poisson(rate, days)
    day = np.repeat(np.arange(days), per_day)
    n = len(day)
    intent = _choice(rng, (INTENTS, STEADY_INTENTS), n)
    if shift_day is not None:
        after = day >= shift_day
        intent[after] = _choice(rng, (INTENTS, SHIFTED_INTENTS), int(after.sum()))
    tools_per_case = rng.integers(0, 3, n)
    return {
        "agent_name": [agent] * n,
        "day": [D + int(i) * DAY for i in day],
        "agent_version": ["v1"] * n,
        "intent": intent,
        "outcome": _choice(rng, OUTCOMES, n),
        "tool_names": pa.ListArray.from_arrays(
            np.concatenate([[0], np.cumsum(tools_per_case)]),
            pa.array(_choice(rng, TOOLS, int(tools_per_case.sum()))),
        ),
        "quality_score": np.round(rng.beta(8, 2, n), 3),
        "duration_ms": np.round(rng.lognormal(7.5, 0.5, n)).astype(np.int64),
        "cost_usd": np.round(rng.lognormal(-4, 0.3, n), 6),
        "input_tokens": rng.poisson(2000, n),
        "output_tokens": rng.poisson(300, n),
        "calls_per_case": 1 + rng.poisson(1.0, n),
    }


def fleet(seed: int, rates: dict[str, float], days: int, shifts: dict[str, int] | None = None):
    """An in-memory warehouse holding fct_cases and fct_llm_calls (the columns drift
    reads) for agents with the given mean cases a day (Poisson), `days` days from D."""
    rng = np.random.default_rng(seed)
    agents = [_agent_cases(rng, a, r, days, (shifts or {}).get(a)) for a, r in rates.items()]
    cases = pa.concat_tables(
        pa.table({k: v for k, v in agent.items() if k != "calls_per_case"}) for agent in agents
    )
    calls_per_case = np.concatenate([agent["calls_per_case"] for agent in agents])
    n_calls = int(calls_per_case.sum())
    calls = pa.table(
        {
            "agent_name": np.repeat(cases["agent_name"].to_numpy(), calls_per_case),
            "day": np.repeat(cases["day"].to_numpy(), calls_per_case),
            "model": _choice(rng, MODELS, n_calls),
        }
    )
    con = duckdb.connect()
    con.from_arrow(cases).create("fct_cases")
    con.from_arrow(calls).create("fct_llm_calls")
    return con


def drift(con, policy: DriftPolicy | None = None) -> pl.DataFrame:
    """Both drift marts as one frame, with their granularity."""
    marts = build_marts(con, policy or DriftPolicy())
    return pl.concat(
        pl.from_arrow(table).with_columns(granularity=pl.lit(name.removeprefix("drift_")))
        for name, table in marts.items()
    )


SHIFT = 60  # the intent mix moves on D + 60 days, after 60 days of history


@pytest.fixture(scope="module")
def shifted_agent() -> pl.DataFrame:
    """An agent with ~40 cases a day whose intent mix moves on day SHIFT; 75 days."""
    return drift(fleet(seed=3, rates={"quiet": 40}, days=SHIFT + 15, shifts={"quiet": SHIFT}))


def test_a_quiet_agents_intent_shift_alerts_within_3_days_dated_to_the_day(shifted_agent):
    start = D + SHIFT * DAY
    alerts = shifted_agent.filter(pl.col("is_new_alert"))
    assert alerts.filter(pl.col("window_end") < start).is_empty()  # nothing before the shift
    assert set(alerts["metric"]) == {"intent"}  # and nothing but the intent mix
    (first,) = alerts.filter(pl.col("granularity") == "daily").to_dicts()
    assert start <= first["window_end"] <= start + 2 * DAY
    assert first["change_point_day"] == start
    assert first["moved_category"] in ("exchange", "refund")
    assert 2 <= first["window_days"] <= 4  # ~40 cases a day: about 3 days hold 100
    # every alerting intent row is dated to the shift's day
    alerting = shifted_agent.filter((pl.col("verdict") == "alert") & (pl.col("metric") == "intent"))
    assert alerting["change_point_day"].unique().to_list() == [start]


def test_a_quiet_agent_is_judged_daily_on_windows_of_a_few_days(shifted_agent):
    daily = shifted_agent.filter(
        (pl.col("granularity") == "daily") & (pl.col("metric") == "intent")
    ).sort("window_end")
    assert daily["window_end"].is_unique().all()
    assert daily.schema["window_days"] == pl.Int64
    judged = daily.filter(pl.col("verdict") != INSUFFICIENT)
    # only the first days are not: their reference has fewer than 300 cases (~8 days' worth)
    assert daily.filter(pl.col("verdict") == INSUFFICIENT)["window_end"].max() == D + 9 * DAY
    assert (judged["window_end"] > D + 9 * DAY).all() and judged.height == 74 - 9
    assert (judged["n_current"] >= 100).all() and (judged["window_days"] <= 7).all()
    before = daily.filter(pl.col("window_end") < D + SHIFT * DAY)
    assert before["window_days"].median() == 3


# Volumes from ~15 to ~400 cases a day, geometrically spaced; every metric stationary.
NULL_RATES = {f"agent-{i:02d}": float(r) for i, r in enumerate(np.geomspace(15, 400, 20))}


def test_a_stationary_fleet_raises_no_alert_daily_or_weekly():
    rows = drift(fleet(seed=11, rates=NULL_RATES, days=90))
    assert rows.filter(pl.col("verdict") == "alert").select("agent_name", "metric").rows() == []
    # and it was judged: quiet agents daily on windows of several days
    judged = rows.filter((pl.col("granularity") == "daily") & (pl.col("verdict") != INSUFFICIENT))
    assert judged["agent_name"].n_unique() == 20
    assert judged.filter(pl.col("agent_name") == "agent-00")["window_days"].min() >= 6


def test_every_drift_column_is_documented():
    assert all(field.metadata[b"doc"] for field in DRIFT_SCHEMA)
    assert DRIFT_SCHEMA.field("window_days").type == pa.int64()
