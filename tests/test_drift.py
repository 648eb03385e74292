"""Drift marts: the window rule, the SQL and histogram statistics against scipy, the
policy file, and the demo's injected drifts found (and nothing else) with alerts sent once."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2, chi2_contingency, ks_2samp

from pipelines.drift import stats
from pipelines.drift.marts import _sql, judge
from pipelines.drift.numeric import STATS_SCHEMA, daily_histograms, numeric_stats
from pipelines.drift.windows import AgentDay, Window, agent_windows, change_days, reference
from pipelines.policy import DriftPolicy, PolicyError, drift_policy
from pipelines.synth import GROUND_TRUTH_FILE

D = date(2026, 9, 1)
DAY = timedelta(days=1)


def test_reference_is_trailing_until_a_change_then_the_previous_version():
    days = [AgentDay(D + i * DAY, "v3" if i < 40 else "v4", "m") for i in range(60)]
    changes = change_days(days)
    assert changes == [D + 40 * DAY]
    policy = DriftPolicy()
    assert reference(D + 30 * DAY, changes, policy) == (D + 2 * DAY, D + 29 * DAY, "trailing")
    # 5 days after the change: the 28 days before the change, not the 28 before the window
    assert reference(D + 45 * DAY, changes, policy) == (
        D + 12 * DAY,
        D + 39 * DAY,
        "previous_version",
    )
    # 28 days after it the trailing window holds only v4 again
    assert reference(D + 68 * DAY, changes, policy)[2] == "trailing"
    trailing = DriftPolicy(after_change="trailing")
    assert reference(D + 45 * DAY, changes, trailing) == (D + 17 * DAY, D + 44 * DAY, "trailing")


def test_windows_start_after_the_first_day_and_weeks_on_mondays():
    days = [AgentDay(D + i * DAY, "v1", "m") for i in range(20)]  # D is a Tuesday
    windows = agent_windows("a", days, D + 19 * DAY, DriftPolicy())
    daily = [w for w in windows if w.granularity == "daily"]
    weekly = [w for w in windows if w.granularity == "weekly"]
    assert (daily[0].window_start, len(daily)) == (D + DAY, 19)
    assert [(w.window_start, w.window_end) for w in weekly] == [
        (date(2026, 9, 7), date(2026, 9, 13)),
        (date(2026, 9, 14), date(2026, 9, 20)),  # D + 19 is Sunday 20 September
    ]


def test_numeric_window_statistics_match_raw_value_statistics_and_scipy():
    rng = np.random.default_rng(5)
    raw = {D + i * DAY: np.round(rng.lognormal(6 + 0.02 * i, 0.4, 300)) for i in range(10)}
    histograms = pl.DataFrame(
        [
            {"agent_name": "a", "metric": "latency_ms", "day": day, "value": v, "n": int(n)}
            for day, sample in raw.items()
            for v, n in zip(*np.unique(sample, return_counts=True), strict=True)
        ]
    )
    window = Window("daily", "a", D + 9 * DAY, D + 9 * DAY, D + DAY, D + 8 * DAY, "trailing")
    (row,) = numeric_stats(daily_histograms(histograms), [window]).to_dicts()
    current = raw[D + 9 * DAY]
    ref = np.concatenate([raw[D + i * DAY] for i in range(1, 9)])
    assert (row["n_current"], row["n_reference"]) == (300, 2400)
    assert row["ks_statistic"] == pytest.approx(ks_2samp(ref, current).statistic, abs=1e-12)
    assert row["psi"] == pytest.approx(stats.psi(ref, current), abs=1e-12)
    assert row["current_mean"] == pytest.approx(current.mean(), rel=1e-12)
    assert row["reference_mean"] == pytest.approx(ref.mean(), rel=1e-12)


def test_categorical_sql_matches_scipy():
    ref = {"a": 50, "b": 30, "c": 20}
    cur = {"a": 10, "b": 25, "d": 5}
    con = duckdb.connect()
    con.execute(
        "create table drift_windows as select 0 as window_id, 'x' as agent_name, "
        "date '2026-09-10' as window_start, date '2026-09-10' as window_end, "
        "date '2026-09-01' as reference_start, date '2026-09-09' as reference_end"
    )
    rows = [("x", date(2026, 9, 3), "intent", k, n) for k, n in ref.items()]
    rows += [("x", date(2026, 9, 10), "intent", k, n) for k, n in cur.items()]
    rows += [("x", date(2026, 9, 11), "intent", "a", 99)]  # outside both windows
    con.execute("create table drift_categorical (agent_name text, day date, metric text, "
                "category text, n bigint)")  # fmt: skip
    con.executemany("insert into drift_categorical values (?, ?, ?, ?, ?)", rows)
    (row,) = con.sql(_sql("categorical_stats")).pl().to_dicts()
    labels = ["a", "b", "c", "d"]
    p = np.array([ref.get(k, 0) for k in labels])
    q = np.array([cur.get(k, 0) for k in labels])
    assert (row["n_current"], row["n_reference"]) == (40, 100)
    assert row["js_distance"] == pytest.approx(jensenshannon(p, q, base=2), abs=1e-9)
    assert row["js_distance"] == pytest.approx(stats.js_distance(ref, cur), abs=1e-12)
    chi = chi2_contingency(np.vstack([p, q]), correction=False)
    assert row["chi2_statistic"] == pytest.approx(chi.statistic, abs=1e-9)
    assert row["chi2_dof"] == chi.dof == 3
    # b: 30 % → 62.5 % moved most (a: 50 % → 25 %, c: 20 % → 0, d: 0 → 12.5 %)
    assert (row["moved_category"], row["moved_reference_share"], row["moved_current_share"]) == (
        "b",
        0.3,
        0.625,
    )


def test_drift_policy_defaults_and_errors_name_the_field(tmp_path):
    assert drift_policy(tmp_path) == DriftPolicy()
    (tmp_path / "policy.yaml").write_text("drift:\n  psi_alert: 0.3\n  after_change: trailing\n")
    assert drift_policy(tmp_path) == DriftPolicy(psi_alert=0.3, after_change="trailing")
    for text, message in [
        ("drift:\n  psi_alert: high\n", "policy.yaml: drift.psi_alert: must be a number"),
        ("drift:\n  min_current_cases: 0\n", "drift.min_current_cases: must be a whole number"),
        ("drift:\n  psi_limit: 1\n", "drift: unknown setting 'psi_limit'"),
        ("drift:\n  after_change: never\n", "drift.after_change: one of previous_version"),
        ("drift:\n  psi_warn: 0.5\n", "psi_warn 0.5 is above psi_alert 0.25"),
    ]:
        (tmp_path / "policy.yaml").write_text(text)
        with pytest.raises(PolicyError, match=message):
            drift_policy(tmp_path)


def categorical_stats(rows: list[tuple]) -> pl.DataFrame:
    """categorical_stats.sql's output for hand-set rows (window_id, metric, n_current,
    n_reference, js_distance, chi2_statistic, chi2_dof); category x moved 20 % → 50 %."""
    return pl.DataFrame(
        rows,
        schema=["window_id", "metric", "n_current", "n_reference", "js_distance",
                "chi2_statistic", "chi2_dof"],
        orient="row",
    ).with_columns(moved_category=pl.lit("x"), moved_reference_share=0.2,
                   moved_current_share=0.5)  # fmt: skip


def test_alerts_need_3_crossings_running_or_2_with_strong_evidence():
    """A mix shift starting on a Friday, for an agent with too few weekend cases: Saturday
    and Sunday are skipped; strong evidence (p < 1e-6) alerts on Monday, 3 days after the
    start; weak evidence (p = 0.001) needs Tuesday, its third crossing."""
    days = [date(2026, 10, 22) + i * DAY for i in range(6)]  # Thursday … Tuesday
    windows = [Window("daily", "a", d, d, d - 28 * DAY, d - DAY, "trailing") for d in days]
    sizes = [150, 130, 40, 35, 120, 140]
    rows = []
    for metric, p in (("strong", 1e-12), ("weak", 1e-3)):
        for window_id, n in enumerate(sizes):
            p_value = 0.5 if window_id == 0 else p  # Thursday: no shift yet
            js = 0.02 if window_id == 0 else 0.3
            rows.append((window_id, metric, n, 900, js, float(chi2.isf(p_value, 3)), 3))
    categorical = categorical_stats(rows)
    judged = judge(windows, pl.DataFrame(schema=STATS_SCHEMA), categorical, DriftPolicy())
    verdicts = {
        metric: [(r["verdict"], r["windows_running"], r["is_new_alert"]) for r in judged
                 if r["metric"] == metric]
        for metric in ("strong", "weak")
    }  # fmt: skip
    assert verdicts["strong"] == [
        ("ok", 0, False),
        ("warn", 1, False),
        ("insufficient data", 1, False),
        ("insufficient data", 1, False),
        ("alert", 2, True),  # Monday
        ("alert", 3, False),
    ]
    assert [v[0] for v in verdicts["weak"]] == [
        "ok", "warn", "insufficient data", "insufficient data", "warn", "alert"
    ]  # fmt: skip
    monday = next(r for r in judged if r["metric"] == "strong" and r["window_start"] == days[4])
    assert monday["reason"].endswith("alert thresholds crossed 2 window(s) running with p < 1e-06")


# --- the demo's ground truth: 90 days at the `make demo` volume ----------------------

EVENT_METRICS = {"quality_drift": "quality", "intent_mix_shift": "intent",
                 "model_migration": "model", "low_volume_intent_shift": "intent",
                 "budget_overrun": "output_tokens", "canary": "quality"}  # fmt: skip


def _start(event: dict) -> date:
    """The day the drift reaches all traffic: a canary's full rollout, else its start."""
    return date.fromisoformat(event.get("full_traffic", event["start"]))


@pytest.fixture(scope="module")
def ninety_days(ninety_day_demo):
    """The 90-day demo (conftest) and its injected drift events."""
    truth = json.loads((ninety_day_demo.data_dir / GROUND_TRUTH_FILE).read_text())
    events = [e for e in truth["events"] if e["type"] in EVENT_METRICS]
    return ninety_day_demo, events


def _alerts(settings) -> pl.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return pl.concat(
            con.sql(f"select '{g}' as granularity, * from drift_{g} where is_new_alert").pl()
            for g in ("daily", "weekly")
        )


def test_every_injected_drift_is_flagged_within_3_days_and_nothing_else(ninety_days):
    settings, events = ninety_days
    alerts = _alerts(settings)
    found, true_alerts = 0, 0
    for event in events:
        start = _start(event)
        mine = alerts.filter(pl.col("agent_name") == event["agent"])
        first = mine.filter(
            (pl.col("granularity") == "daily") & (pl.col("metric") == EVENT_METRICS[event["type"]])
        )
        assert first.height == 1, event
        # window_end: a quiet agent's window reaches back before the drift's first day
        assert start <= first["window_end"][0] <= start + 3 * DAY, event
        found += 1
        # every alert of that agent belongs to the event: it ends in the event's window
        in_event = mine.filter(pl.col("window_end").is_between(start, start + 35 * DAY))
        true_alerts += in_event.height
    precision, recall = true_alerts / alerts.height, found / len(events)
    print(f"drift alerts: precision {precision:.2f}, recall {recall:.2f}, {alerts.height} alerts")
    assert (precision, recall) == (1.0, 1.0)
    stable = set(alerts["agent_name"]) - {e["agent"] for e in events}
    assert stable == set()


def test_change_points_are_dated_within_2_days(ninety_days):
    settings, events = ninety_days
    alerts = _alerts(settings).filter(pl.col("granularity") == "daily")
    dated = {"quality_drift": "quality", "model_migration": "cost_per_case_usd"}
    for event in events:
        if event["type"] in dated:
            row = alerts.filter(
                (pl.col("agent_name") == event["agent"])
                & (pl.col("metric") == dated[event["type"]])
            ).to_dicts()[0]
            start = date.fromisoformat(event["start"])
            assert abs((row["change_point_day"] - start).days) <= 2, event
            assert row["mean_shift_low"] <= row["mean_shift"] <= row["mean_shift_high"]
            assert row["mean_shift_high"] < 0  # quality and cost both fell, interval clear of 0


def test_a_quiet_agents_intent_shift_is_judged_on_days_and_dated_to_its_day(ninety_days):
    """policy-checker has ~40 cases a day: its daily windows span several days."""
    settings, events = ninety_days
    (event,) = [e for e in events if e["type"] == "low_volume_intent_shift"]
    (row,) = (
        _alerts(settings)
        .filter(
            (pl.col("granularity") == "daily")
            & (pl.col("agent_name") == event["agent"])
            & (pl.col("metric") == "intent")
        )
        .to_dicts()
    )
    assert row["change_point_day"] == date.fromisoformat(event["start"])
    assert row["window_days"] > 1 and row["n_current"] >= 100


def test_quality_drift_row_explains_itself(ninety_days):
    settings, events = ninety_days
    (event,) = [e for e in events if e["type"] == "quality_drift"]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        row = (
            con.sql(
                "select * from drift_daily where agent_name = $a and metric = 'quality' "
                "and window_start = $d",
                params={"a": event["agent"], "d": date.fromisoformat(event["start"])},
            )
            .pl()
            .to_dicts()[0]
        )
    assert row["reference_kind"] == "previous_version"  # v3 → v4 on that day
    assert row["reference_end"] == date.fromisoformat(event["start"]) - DAY
    assert row["verdict"] == "warn" and row["windows_running"] == 1  # 1 of 3 windows needed
    assert row["mean_shift"] == pytest.approx(event["change"], abs=0.03)
    assert row["psi"] >= row["psi_alert"] and row["ks_p_value"] < row["ks_p_threshold"]
