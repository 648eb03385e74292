"""Canary and shadow comparison: hand-checked statistics on hand-made cases, the bootstrap
against every resample of small samples, the ship/hold rule, the shared-days restriction,
shadow against production, the version_comparison mart and `fleetledger compare`."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy.stats import chi2
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.comparisons import GRAIN, MART, SCHEMA, build_mart, pairs, run_compare
from pipelines.evals import compare
from pipelines.evals.compare import CompareError
from pipelines.policy import EvalDiffPolicy
from tests import browser

POLICY = EvalDiffPolicy()
AGENT = "refund-assistant"
D1 = date(2026, 10, 1)
runner = CliRunner()
COLUMNS = {
    "day": pl.Date,
    "agent_name": pl.String,
    "conversation_id": pl.String,
    "agent_version": pl.String,
    "model": pl.String,
    "variant": pl.String,
    "duration_ms": pl.Int64,
    "cost_usd": pl.Float64,
    "outcome": pl.String,
    "is_resolved": pl.Boolean,
    "quality_score": pl.Float64,
}


def cases(
    version,
    n,
    *,
    day=D1,
    quality=0.8,
    cost=0.01,
    duration=None,
    outcomes=None,
    agent=AGENT,
    model="gpt-4o-mini",
    variant=None,
    tag="",
) -> pl.DataFrame:
    """n cases of one version on one day; quality, cost, duration and outcome a constant,
    a list (one value per case) or, for duration, 1000 + 10·i by default."""

    def each(value, i):
        return value[i] if isinstance(value, list | np.ndarray) else value

    duration = [1000 + 10 * i for i in range(n)] if duration is None else duration
    outcomes = ["resolved"] * n if outcomes is None else outcomes
    return pl.DataFrame(
        [
            {
                "day": day,
                "agent_name": agent,
                "conversation_id": f"{version}{tag}-{day}-{i}",
                "agent_version": version,
                "model": model,
                "variant": variant,
                "duration_ms": int(each(duration, i)),
                "cost_usd": each(cost, i),
                "outcome": each(outcomes, i),
                "is_resolved": each(outcomes, i) == "resolved",
                "quality_score": each(quality, i),
            }
            for i in range(n)
        ],
        schema=COLUMNS,
    )


def mix(**counts: int) -> list[str]:
    return [outcome for outcome, n in counts.items() for _ in range(n)]


BASELINE = cases(
    "v1", 40, quality=0.80, cost=0.010, outcomes=mix(resolved=30, escalated=6, abandoned=4)
)
CANDIDATE = cases(
    "v2",
    40,
    quality=0.79,
    cost=0.0105,
    duration=[1100 + 10 * i for i in range(40)],
    outcomes=mix(resolved=28, escalated=8, fallback=2, unknown=2),
)


# --- hand-checked statistics --------------------------------------------------------------


def test_hand_made_cases_give_hand_checked_values_and_decision():
    result = compare.compare(BASELINE, CANDIDATE, POLICY)
    m = result["metrics"]
    assert (result["first_day"], result["last_day"], result["n_days"]) == (D1, D1, 1)
    assert result["baseline"] == {"n_cases": 40, "n_scored_cases": 40, "n_unpriced_cases": 0}
    # every case of a side has the same quality and cost: every resample too
    assert m["quality"] == pytest.approx(
        {
            "baseline": 0.80,
            "candidate": 0.79,
            "difference": -0.01,
            "ci_low": -0.01,
            "ci_high": -0.01,
        },
        abs=1e-12,
    )
    assert m["cost_per_case_usd"] == pytest.approx(
        {
            "baseline": 0.010,
            "candidate": 0.0105,
            "difference": 0.0005,
            "ci_low": 0.0005,
            "ci_high": 0.0005,
        },
        abs=1e-12,
    )
    assert m["resolution_rate"]["baseline"] == 30 / 40
    assert m["resolution_rate"]["candidate"] == 28 / 40
    # p95 of 1000, 1010, …, 1390: position 39 × 0.95 = 37.05 → 1370 + 0.05 × 10
    assert m["latency_p95_ms"]["baseline"] == pytest.approx(1370.5)
    assert m["latency_p95_ms"]["candidate"] == pytest.approx(1470.5)
    shares = {o["outcome"]: (o["baseline_share"], o["candidate_share"]) for o in result["outcomes"]}
    assert shares == (  # counts ÷ 40, exact in floating point
        {
            "resolved": (0.75, 0.70),
            "escalated": (0.15, 0.20),
            "abandoned": (0.10, 0.0),
            "fallback": (0.0, 0.05),
            "unknown": (0.0, 0.05),
        }
    )
    for row in result["outcomes"]:
        assert row["ci_low"] <= row["difference"] <= row["ci_high"]
    # expected counts 40 × column total / 80 = 29, 7, 2, 1, 1 → chi² = 2/29 + 2/7 + 4 + 2 + 2
    assert result["outcome_chi2_p_value"] == pytest.approx(chi2.sf(2 / 29 + 2 / 7 + 8, 4))
    assert result["decision"] == "ship"
    assert result["reasons"] == [
        "quality non-inferior: 95 % CI [-0.0100, -0.0100] lies above −0.02",
        "cost per case +5.0% within the +10% budget",
        "p95 latency +7.3% within the +10% budget",  # 1470.5 / 1370.5 − 1
    ]


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (
            cases("v2", 40, quality=0.77),
            "quality may be worse: 95 % CI [-0.0300, -0.0300] reaches below −0.02",
        ),
        (
            cases("v2", 40, quality=None),
            "quality unscored on one side: cannot check non-inferiority",
        ),
        (cases("v2", 29), "too few cases: 40 baseline, 29 candidate (need 30 on each side)"),
        (
            cases("v2", 40, quality=[0.8] * 29 + [None] * 11),
            "too few scored cases: 40 baseline, 29 candidate (need 30 on each side)",
        ),
        (cases("v2", 40, cost=0.0111), "cost per case +11.0% exceeds the +10% budget"),
        (cases("v2", 40, cost=None), "cost per case unknown on one side: cannot check its budget"),
        (
            cases("v2", 40, duration=[1200 + 10 * i for i in range(40)]),
            "p95 latency +14.6% exceeds the +10% budget",
        ),  # 1570.5 / 1370.5 − 1
    ],
)
def test_each_check_of_the_rule(candidate, reason):
    result = compare.compare(cases("v1", 40), candidate, POLICY)
    assert reason in result["reasons"]
    assert result["decision"] == ("ship" if "within" in reason else "hold")


def test_unpriced_cases_are_named_and_left_out_of_cost_per_case():
    candidate = cases("v2", 40, cost=[None] * 4 + [0.0108] * 36)
    result = compare.compare(cases("v1", 40), candidate, POLICY)
    assert result["metrics"]["cost_per_case_usd"]["candidate"] == pytest.approx(0.0108)
    assert result["candidate"]["n_unpriced_cases"] == 4
    assert result["reasons"][-1] == "4 candidate case(s) unpriced, left out of cost per case"
    assert result["reasons"][1] == "cost per case +8.0% within the +10% budget"


# --- the bootstrap ------------------------------------------------------------------------


def _every_resample(values, statistic) -> dict[float, float]:
    """The exact bootstrap distribution: the statistic of every resample, equally likely."""
    found = [
        round(float(statistic(np.array(r))), 9)
        for r in itertools.product(values, repeat=len(values))
    ]
    return {v: found.count(v) / len(found) for v in sorted(set(found))}


def _drawn(draws) -> dict[float, float]:
    values, counts = np.unique(np.round(draws, 9), return_counts=True)
    return dict(zip(values.tolist(), (counts / len(draws)).tolist(), strict=True))


@pytest.mark.parametrize(
    ("values", "q"),
    [
        ([1.0, 2.0, 4.0, 8.0], 0.95),
        ([3.0, 1.0, 4.0, 1.0, 5.0], 0.5),
        ([3.0, 1.0, 4.0, 1.0, 5.0], 0.95),
    ],
)
def test_resampled_quantiles_follow_every_resample(values, q):
    exact = _every_resample(values, lambda r: np.quantile(r, q))
    drawn = _drawn(
        compare.resampled_quantiles(np.array(values), q, 200_000, np.random.default_rng(1))
    )
    assert set(drawn) <= set(exact)
    assert {v: drawn.get(v, 0.0) for v in exact} == pytest.approx(exact, abs=0.004)


@pytest.mark.parametrize(
    "values",
    [
        [0.0, 1.0, 1.0, 3.0],  # as many distinct values as cases: indices drawn
        [0.0] * 20 + [1.0] * 12,
    ],  # 2 distinct values in 32 cases: multinomial counts drawn
)
def test_resampled_means_follow_every_resample(values):
    values = np.array(values)
    draws = compare.resampled_means(values, 200_000, np.random.default_rng(2))
    if len(values) <= 5:
        exact = _every_resample(values, np.mean)
        assert {v: _drawn(draws).get(v, 0.0) for v in exact} == pytest.approx(exact, abs=0.004)
    # a resampled mean has the sample's mean and variance σ² / n (σ with ddof 0)
    assert draws.mean() == pytest.approx(values.mean(), abs=0.005)
    assert draws.var() == pytest.approx(values.var() / len(values), rel=0.02)


def test_resamples_are_chunked_and_the_interval_reproducible(monkeypatch):
    rng = np.random.default_rng(3)
    baseline, candidate = rng.lognormal(-5, 0.5, 500), rng.lognormal(-4.9, 0.5, 300)
    first = compare.interval(baseline, candidate, "mean", 2000, 7)
    assert compare.interval(baseline, candidate, "mean", 2000, 7) == first
    assert compare.interval(baseline, candidate, "mean", 2000, 8) != first
    monkeypatch.setattr(compare, "CHUNK_CELLS", 1000)  # two resamples of 500 at a time
    chunked = compare.interval(baseline, candidate, "mean", 2000, 7)
    width = first["ci_high"] - first["ci_low"]
    assert chunked["ci_low"] == pytest.approx(first["ci_low"], abs=0.05 * width)
    assert chunked["ci_high"] == pytest.approx(first["ci_high"], abs=0.05 * width)
    assert len(compare.resampled_means(baseline, 2001, np.random.default_rng(1))) == 2001
    assert first["ci_low"] < first["difference"] < first["ci_high"]
    assert first["difference"] == pytest.approx(candidate.mean() - baseline.mean())


def test_the_comparison_does_not_depend_on_the_order_of_the_cases():
    production = canary()
    shuffled = production.sample(fraction=1.0, shuffle=True, seed=11)
    results = [
        compare.compare(*compare.select_sides(frame, frame.clear(), "v1", "v2", AGENT)[1:], POLICY)
        for frame in (production, shuffled)
    ]
    assert results[0] == results[1]


# --- sides, shared days, pairs -----------------------------------------------------------


def test_only_the_days_both_sides_served_are_compared():
    baseline = pl.concat(
        [cases("v1", 40, day=D1, quality=0.5), cases("v1", 40, day=D1 + timedelta(1), quality=0.8)]
    )
    candidate = pl.concat(
        [
            cases("v2", 40, day=D1 + timedelta(1), quality=0.8),
            cases("v2", 40, day=D1 + timedelta(2), quality=0.2),
        ]
    )
    base, cand = compare.on_shared_days(baseline, candidate, ("v1", "v2"))
    result = compare.compare(base, cand, POLICY)
    assert (result["first_day"], result["n_days"]) == (D1 + timedelta(1), 1)
    assert (result["baseline"]["n_cases"], result["candidate"]["n_cases"]) == (40, 40)
    assert result["metrics"]["quality"]["difference"] == 0.0
    with pytest.raises(
        CompareError,
        match=r"v1 and v2 never ran on the same day \(v1: "
        r"2026-10-01 … 2026-10-01; v2: 2026-10-03 … 2026-10-03\)",
    ):
        compare.on_shared_days(
            baseline.filter(pl.col("day") == D1),
            candidate.filter(pl.col("day") > D1 + timedelta(1)),
            ("v1", "v2"),
        )


def test_sides_are_found_in_the_column_holding_both_values():
    production = pl.concat(
        [cases("v1", 3, variant="a"), cases("v2", 3, model="gpt-4.1", variant="b")]
    )
    shadow = cases("v3", 2, tag="s")
    dimension, base, cand = compare.select_sides(production, shadow, "a", "b", AGENT)
    assert (dimension, base.height, cand.height) == ("variant", 3, 3)
    dimension, base, cand = compare.select_sides(
        production, shadow, "gpt-4o-mini", "gpt-4.1", AGENT
    )
    assert (dimension, base["agent_version"].unique().to_list()) == ("model", ["v1"])
    dimension, base, cand = compare.select_sides(production, shadow, "production", "shadow", AGENT)
    assert (dimension, base.height, cand.height) == ("shadow", 6, 2)
    _, base, _ = compare.select_sides(production, shadow, "v2", "shadow", AGENT)
    assert base["agent_version"].unique().to_list() == ["v2"]
    with pytest.raises(CompareError) as error:
        compare.select_sides(production, shadow, "v1", "v9", AGENT)
    assert str(error.value) == (
        "refund-assistant has no agent_version, model or variant 'v9' in production cases; its "
        "versions: v1, v2; models: gpt-4.1, gpt-4o-mini; variants: a, b (--candidate shadow: "
        "its shadow traffic against production)"
    )
    with pytest.raises(
        CompareError,
        match=r"has no one column \(agent_version, model, "
        r"variant\) holding both 'v1' and 'a' in production cases",
    ):
        compare.select_sides(production, shadow, "v1", "a", AGENT)
    labelled = pl.concat([cases("v1", 3, variant="v1"), cases("v2", 4, variant="v2")])
    with pytest.raises(
        CompareError,
        match="v1 and v2 are values of agent_version and of "
        "variant for refund-assistant: choose one with --dimension",
    ):
        compare.select_sides(labelled, shadow, "v1", "v2", AGENT)
    dimension, _, cand = compare.select_sides(labelled, shadow, "v1", "v2", AGENT, "variant")
    assert (dimension, cand.height) == ("variant", 4)
    with pytest.raises(CompareError, match="has no shadow cases"):
        compare.select_sides(production, shadow.clear(), "production", "shadow", AGENT)


def test_pairs_share_days_and_the_incumbent_is_the_baseline():
    rows = [
        (AGENT, "agent_version", "v1", D1, 50),
        (AGENT, "agent_version", "v1", D1 + timedelta(1), 40),
        (AGENT, "agent_version", "v2", D1 + timedelta(1), 10),
        (AGENT, "agent_version", "v2", D1 + timedelta(2), 90),
        (AGENT, "agent_version", "v3", D1 + timedelta(5), 9),  # never with another: no pair
        (AGENT, "shadow", "production", D1, 50),
        (AGENT, "shadow", "shadow", D1, 80),
        ("other", "model", "m-b", D1, 5),
        ("other", "model", "m-a", D1 + timedelta(1), 5),
        ("other", "model", "m-b", D1 + timedelta(1), 5),
    ]
    daily = pl.DataFrame(
        rows, schema=["agent_name", "dimension", "value", "day", "n_cases"], orient="row"
    )
    assert pairs(daily).to_dicts() == [
        {
            "agent_name": "other",
            "dimension": "model",
            "baseline": "m-b",
            "candidate": "m-a",
            "days": [D1 + timedelta(1)],
            "n_baseline_cases": 5,
            "n_candidate_cases": 5,
        },  # tie: seen first
        {
            "agent_name": AGENT,
            "dimension": "agent_version",
            "baseline": "v1",
            "candidate": "v2",
            "days": [D1 + timedelta(1)],
            "n_baseline_cases": 40,
            "n_candidate_cases": 10,
        },
        {
            "agent_name": AGENT,
            "dimension": "shadow",
            "baseline": "production",
            "candidate": "shadow",
            "days": [D1],
            "n_baseline_cases": 50,
            "n_candidate_cases": 80,
        },
    ]


# --- the mart ---------------------------------------------------------------------------


def warehouse(con, production: pl.DataFrame, shadow: pl.DataFrame | None = None):
    shadow = production.clear() if shadow is None else shadow
    for name, frame in (("fct_cases", production), ("fct_shadow_cases", shadow)):
        con.register("frame", frame.to_arrow())
        con.execute(f"create or replace table {name} as select * from frame")
        con.unregister("frame")
    return con


def canary(seed: int = 5) -> pl.DataFrame:
    """v1 serves 95 % of 200 cases a day for 10 days, v2 5 % with quality 0.08 lower; then
    v2 alone (ramped to 100 %, at a quality it never had as a canary) for 5 days."""
    rng = np.random.default_rng(seed)

    def day_cases(version, day, n, quality):
        scores = np.round(np.clip(rng.normal(quality, 0.07, n), 0, 1), 3).tolist()
        return cases(
            version,
            n,
            day=day,
            quality=scores,
            cost=0.01,
            duration=rng.integers(800, 3000, n).tolist(),
        )

    days = [D1 + timedelta(i) for i in range(15)]
    return pl.concat(
        [day_cases("v1", d, 190, 0.85) for d in days[:10]]
        + [day_cases("v2", d, 10, 0.77) for d in days[:10]]
        + [day_cases("v2", d, 200, 0.99) for d in days[10:]]
    )


def test_canary_with_lower_quality_is_held_on_its_shared_days():
    production = canary()
    table = build_mart(warehouse(duckdb.connect(), production), POLICY)
    assert table.schema == SCHEMA and MART == "version_comparison"
    assert GRAIN == ("agent_name", "dimension", "baseline", "candidate")
    (row,) = table.to_pylist()  # one model, no variant, no shadow: one pair
    assert {
        k: row[k]
        for k in (
            *GRAIN,
            "first_day",
            "last_day",
            "n_days",
            "n_baseline_cases",
            "n_candidate_cases",
            "decision",
        )
    } == {
        "agent_name": AGENT,
        "dimension": "agent_version",
        "baseline": "v1",
        "candidate": "v2",
        "first_day": D1,
        "last_day": D1 + timedelta(9),
        "n_days": 10,
        "n_baseline_cases": 1900,
        "n_candidate_cases": 100,
        "decision": "hold",
    }
    canary_days = production.filter(pl.col("day") < D1 + timedelta(10))
    means = canary_days.group_by("agent_version").agg(pl.col("quality_score").mean())
    expected = dict(means.iter_rows())
    assert row["baseline_quality"] == pytest.approx(expected["v1"])
    assert row["candidate_quality"] == pytest.approx(expected["v2"])  # the ramped days left out
    assert row["quality_ci_low"] < row["quality_difference"] < row["quality_ci_high"] < -0.02
    assert row["reasons"][0].startswith("quality may be worse: 95 % CI [")
    assert [o["outcome"] for o in row["outcomes"]] == list(compare.OUTCOMES)


def test_two_equal_versions_ship():
    same = pl.concat(
        [
            cases(
                "v1",
                100,
                day=D1 + timedelta(d),
                quality=[0.7 + 0.002 * i for i in range(100)],
                cost=[0.01 + 0.0001 * i for i in range(100)],
            )
            for d in range(2)
        ]
    )
    production = pl.concat(
        [
            same,
            same.with_columns(
                agent_version=pl.lit("v2"), conversation_id=pl.col("conversation_id") + "b"
            ),
        ]
    )
    (row,) = build_mart(warehouse(duckdb.connect(), production), POLICY).to_pylist()
    assert (row["baseline"], row["candidate"], row["decision"]) == ("v1", "v2", "ship")
    assert row["quality_difference"] == 0.0 and row["cost_per_case_difference_usd"] == 0.0
    assert row["quality_ci_low"] < 0 < row["quality_ci_high"]
    assert row["reasons"][1:] == [
        "cost per case +0.0% within the +10% budget",
        "p95 latency +0.0% within the +10% budget",
    ]
    assert row["outcome_chi2_p_value"] == 1.0  # all resolved on both sides


def test_shadow_traffic_is_compared_with_production_on_shared_days(tmp_path):
    production = pl.concat([cases("v1", 30, day=D1 + timedelta(d)) for d in range(3)])
    shadow = pl.concat(
        [cases("v2", 30, day=D1 + timedelta(d), quality=0.81, tag="s") for d in (1, 2, 3)]
    )
    (row,) = build_mart(warehouse(duckdb.connect(), production, shadow), POLICY).to_pylist()
    assert {
        k: row[k]
        for k in (
            *GRAIN,
            "first_day",
            "n_days",
            "n_baseline_cases",
            "n_candidate_cases",
            "decision",
        )
    } == {
        "agent_name": AGENT,
        "dimension": "shadow",
        "baseline": "production",
        "candidate": "shadow",
        "first_day": D1 + timedelta(1),
        "n_days": 2,
        "n_baseline_cases": 60,
        "n_candidate_cases": 60,
        "decision": "ship",
    }
    assert row["baseline_quality"] == pytest.approx(0.8)
    assert row["candidate_quality"] == pytest.approx(0.81)


def test_an_empty_warehouse_gives_an_empty_mart():
    assert build_mart(warehouse(duckdb.connect(), cases("v1", 0)), POLICY).num_rows == 0


# --- run_compare and `fleetledger compare` ---------------------------------------------------


def _warehouse_file(settings, production, shadow=None):
    with duckdb.connect(str(settings.warehouse_path)) as con:
        warehouse(con, production, shadow)


def _cli(settings, *args):
    return runner.invoke(
        app,
        [
            "compare",
            "--data-dir",
            str(settings.data_dir),
            "--config-dir",
            str(settings.config_dir),
            "--reports-dir",
            str(settings.reports_dir),
            "--agent",
            AGENT,
            *args,
        ],
    )


def test_cli_exit_codes_reports_and_errors(settings):
    _warehouse_file(settings, canary(), cases("v3", 40, day=D1 + timedelta(3), quality=0.85))
    held = _cli(settings, "--baseline", "v1", "--candidate", "v2")
    assert held.exit_code == 1, held.output
    lines = held.output.splitlines()
    assert lines[0].startswith(
        "refund-assistant: v1 → v2 (agent_version) on 10 shared day(s) "
        "2026-10-01 … 2026-10-10, 1,900 vs 100 cases: quality -0.0"
    )
    assert lines[1].startswith("  - quality may be worse")
    assert lines[-1].startswith("HOLD  ") and lines[-1].endswith("v1--vs--v2.html")
    # the ramp alone (days 11–15): v1 no longer served
    ramp = _cli(settings, "--baseline", "v1", "--candidate", "v2", "--start", "2026-10-11")
    assert ramp.exit_code == 2
    assert (
        "has no agent_version, model or variant 'v1' in production cases from 2026-10-11 "
        "to the last day; its versions: v2;"
    ) in ramp.output
    # the canary's first two days: too few v2 cases
    short = _cli(
        settings,
        "--baseline",
        "v1",
        "--candidate",
        "v2",
        "--start",
        "2026-10-01",
        "--end",
        "2026-10-02",
    )
    assert short.exit_code == 1
    assert "too few cases: 380 baseline, 20 candidate (need 30 on each side)" in short.output
    shadow = _cli(settings, "--baseline", "production", "--candidate", "shadow")
    assert shadow.exit_code == 0, shadow.output
    assert "(shadow) on 1 shared day(s) 2026-10-04 … 2026-10-04, 200 vs 40 cases" in shadow.output
    unknown = _cli(settings, "--baseline", "v1", "--candidate", "v9")
    assert unknown.exit_code == 2
    assert (
        "refund-assistant has no agent_version, model or variant 'v9' in production cases; "
        "its versions: v1, v2; models: gpt-4o-mini; variants: none"
    ) in unknown.output
    bad_day = _cli(settings, "--baseline", "v1", "--candidate", "v2", "--start", "2026-02-30")
    assert bad_day.exit_code == 2 and "--start '2026-02-30': not a day" in bad_day.output


def test_run_compare_writes_json_and_an_offline_page(settings, tmp_path):
    production = pl.concat([BASELINE, CANDIDATE])
    _warehouse_file(settings, production)
    output = run_compare(settings, AGENT, "v1", "v2")
    assert output.result["decision"] == "ship"
    saved = json.loads(output.json.read_text())
    assert saved["metrics"]["latency_p95_ms"]["candidate"] == pytest.approx(1470.5)
    assert (saved["dimension"], saved["first_day"]) == ("agent_version", "2026-10-01")
    assert output.json.parent == settings.reports_dir / "compare"
    assert output.html.name == "refund-assistant--v1--vs--v2.html"
    html = output.html.read_text()
    assert re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html) == []
    assert 'id="decision">ship</span>' in html and 'id="chart-compare"' in html
    assert "p95 latency +7.3% within the +10% budget" in html
    dom, console = browser.load(output.html, tmp_path / "profile")  # offline, in Chromium
    assert console == []
    assert re.search(r'<div id="chart-compare" class="[^"]*js-plotly-plot', dom)
    with pytest.raises(
        CompareError, match="no production cases of 'nobody'; agents: refund-assistant"
    ):
        run_compare(settings, "nobody", "v1", "v2")
    with pytest.raises(CompareError, match="--start 2026-10-02 is after --end 2026-10-01"):
        run_compare(settings, AGENT, "v1", "v2", D1 + timedelta(1), D1)
