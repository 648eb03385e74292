"""The demo generator: deterministic, real-shaped, and its ground truth adds up."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import polars as pl
import pytest
import yaml

from pipelines.evals import diff
from pipelines.ingest.lake import read_log
from pipelines.policy import EvalDiffPolicy
from pipelines.synth import (
    GROUND_TRUTH_FILE,
    budget_overrun_event,
    fleet,
    generate_demo,
    regression_events,
)
from pipelines.synth.billing import agent_daily_costs, first_budget_alerts, projected_months
from pipelines.synth.simulate import Calendar, simulate
from tests.conftest import DEMO_END


def _digest(folder) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }  # fmt: skip


def test_same_seed_same_files(tmp_path):
    for name in ("a", "b"):
        generate_demo(tmp_path / name / "data", tmp_path / name / "config", days=2,
                      calls_per_day=200, seed=3, end=date(2026, 10, 2))  # fmt: skip
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_a_rerun_replaces_the_previous_trace_files(tmp_path):
    for end in (date(2026, 10, 2), date(2026, 10, 3)):
        generate_demo(tmp_path / "data", tmp_path / "config", days=2, calls_per_day=100,
                      seed=3, end=end)  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "data" / "raw" / "traces").iterdir())
    assert names == ["otlp-2026-10-02.jsonl", "otlp-2026-10-03.jsonl"]


def test_registry_has_20_agents_in_5_teams_and_not_the_shadow_agent(demo):
    agents = yaml.safe_load((demo.config_dir / "agents.yaml").read_text())["agents"]
    assert len(agents) == 20
    assert len({a["team"] for a in agents}) == 5
    assert "shadow-summarizer" not in {a["name"] for a in agents}
    assert all(a["billing"] and a["owner"] and a["human_baseline_usd_per_case"] for a in agents)


def test_every_generated_span_is_accounted_for(demo):
    truth = json.loads((demo.data_dir / GROUND_TRUTH_FILE).read_text())
    log = read_log(demo.lake_dir).to_pylist()
    with duckdb.connect(str(demo.warehouse_path), read_only=True) as con:
        (spans,) = con.execute("select count(*) from lake_spans").fetchall()[0]
        (scores,) = con.execute("select count(*) from lake_evaluations").fetchall()[0]
        (rejected,) = con.execute("select count(*) from lake_quarantine").fetchall()[0]
        (evals,) = con.execute("select count(*) from lake_eval_results").fetchall()[0]
        (billed,) = con.execute(
            "select (select count(*) from lake_billing_costs) "
            "+ (select count(*) from lake_billing_usage)"
        ).fetchall()[0]
    assert spans == truth["n_spans"]
    assert rejected == truth["n_malformed_records"] == 2  # 1 of 4 files: a cut line, a bad span
    assert billed > 0  # every billing line of the demo is accepted
    (runs,) = [e for e in truth["events"] if e["type"] == "eval_runs"]
    assert evals == (1 + len(runs["candidates"])) * runs["items"] * runs["trials"] == 1800
    assert sum(r["rows_read"] for r in log) == spans + scores + billed + evals + rejected


def test_unregistered_agent_is_in_the_traces(demo):
    with duckdb.connect(str(demo.warehouse_path), read_only=True) as con:
        found = con.execute(
            "select distinct agent_name from agent_daily anti join agents using (agent_name)"
        ).fetchall()
    assert found == [("shadow-summarizer",)]


def test_billing_pages_add_up_to_the_billed_totals(demo):
    truth = json.loads((demo.data_dir / GROUND_TRUTH_FILE).read_text())
    billing = demo.raw_dir / "billing"
    openai = sum(
        Decimal(str(result["amount"]["value"]))
        for page in sorted((billing / "openai").glob("costs_page_*.json"))
        for bucket in json.loads(page.read_text())["data"]
        for result in bucket["results"]
    )
    anthropic_cents = sum(
        Decimal(result["amount"])
        for page in sorted((billing / "anthropic").glob("cost_report_page_*.json"))
        for bucket in json.loads(page.read_text())["data"]
        for result in bucket["results"]
    )
    pages = [json.loads(p.read_text()) for p in sorted((billing / "openai").glob("costs_*.json"))]
    assert [p["has_more"] for p in pages] == [False]  # 4 days fit one 7-day page
    assert abs(float(openai) - truth["billed_usd"]["openai"]) < 0.0001
    assert abs(float(anthropic_cents / 100) - truth["billed_usd"]["anthropic"]) < 0.0001


def test_ground_truth_names_every_injected_event(demo):
    truth = json.loads((demo.data_dir / GROUND_TRUTH_FILE).read_text())
    assert truth["period"] == {"start": "2026-10-28", "end": DEMO_END.isoformat()}
    assert [e["type"] for e in truth["events"]] == [
        "quality_drift", "intent_mix_shift", "model_migration", "cost_above_human_baseline",
        "below_quality_target", "untraced_spend", "unregistered_agent", "model_near_retirement",
        "late_files", "malformed_lines", "eval_runs", "guardrail_evaluators",
    ]  # 4 days: none of the dated regression events  # fmt: skip
    assert sorted(p.name for p in (demo.raw_dir / "evals").iterdir()) == ["kb-answerer.jsonl"]


# --- regression discipline: the 90-day demo's injected changes, drawn (not written) -----

FIXTURE_START, MAKE_DEMO_START = date(2026, 7, 30), date(2026, 9, 2)  # ends 10-27 and 11-30
GUARDRAIL_THRESHOLDS = {"pii_leak": ("max", 0.005), "hallucination": ("max", 0.03),
                        "policy_violation": ("max", 0.01), "tool_call_correct": ("min", 0.9),
                        "intent_correct": ("min", 0.85)}  # policy.yaml `guardrails:`  # fmt: skip
Z = 4.0  # tolerances: 4 binomial (or Poisson) standard errors


@pytest.fixture(scope="module", params=[FIXTURE_START, MAKE_DEMO_START], ids=["fixture", "make"])
def drawn(request):
    """90 days at 6,000 calls a day, seed 7: the 90-day test fixture's calendar and `make
    demo`'s (ending 2026-11-30), simulated in memory, as polars frames."""
    calendar = Calendar(request.param, 90)
    sim = simulate(fleet.AGENTS, calendar, 6000, 7)
    return calendar, sim, pl.from_arrow(sim.cases), pl.from_arrow(sim.calls)


def _agent(cases, name):
    return cases.filter(pl.col("agent_name") == name)


def _within(observed, p, n):
    return abs(observed - p) <= Z * math.sqrt(p * (1 - p) / n)


def test_refund_assistant_v2_runs_as_a_5_percent_canary_then_takes_all_traffic(drawn):
    _, _, cases, _ = drawn
    canary = fleet.CANARY
    refund = _agent(cases, canary["agent"])
    during = refund.filter(pl.col("day_idx").is_between(canary["day"], canary["full_day"] - 1))
    share = (during["agent_version"] == canary["to_version"]).mean()
    assert _within(share, canary["share"], during.height), (share, during.height)
    assert set(refund.filter(pl.col("day_idx") < canary["day"])["agent_version"]) == {"v1"}
    assert set(refund.filter(pl.col("day_idx") >= canary["full_day"])["agent_version"]) == {"v2"}
    quality = refund.filter(pl.col("day_idx") >= canary["day"]).group_by("agent_version").agg(
        pl.col("quality").mean(), pl.len())  # fmt: skip
    q = dict(zip(quality["agent_version"], quality["quality"], strict=True))
    n = min(quality["len"])
    assert abs(q["v2"] - q["v1"] + canary["quality_drop"]) < Z * 0.07 * math.sqrt(2 / n)
    versions = cases.group_by("agent_name").agg(pl.col("agent_version").unique().sort())
    changed = {r["agent_name"]: r["agent_version"] for r in versions.to_dicts()
               if r["agent_version"] != ["v1"]}  # fmt: skip
    assert changed == {"refund-assistant": ["v1", "v2"], "code-reviewer": ["v1", "v2"],
                       "support-triage": ["v3", "v4"]}  # fmt: skip


def test_code_reviewer_v2_switches_on_its_day_with_the_same_quality(drawn):
    _, _, cases, _ = drawn
    switch = fleet.GUARDRAIL_REGRESSION
    reviewer = _agent(cases, switch["agent"])
    first_v2 = reviewer.filter(pl.col("agent_version") == "v2")["day_idx"].min()
    last_v1 = reviewer.filter(pl.col("agent_version") == "v1")["day_idx"].max()
    assert (first_v2, last_v1) == (switch["day"], switch["day"] - 1)
    quality = reviewer.group_by("agent_version").agg(pl.col("quality").mean(), pl.len())
    q = dict(zip(quality["agent_version"], quality["quality"], strict=True))
    assert abs(q["v2"] - q["v1"]) < Z * 0.07 * math.sqrt(2 / min(quality["len"]))


def test_guardrail_scores_have_their_rates_and_only_code_reviewer_v2_breaches(drawn):
    _, _, cases, _ = drawn
    scored = cases.filter(pl.col("guardrail").is_not_null())
    assert scored["is_scored"].all()  # only scored cases carry a guardrail score
    assert set(scored["guardrail_value"].unique()) <= {0, 1}
    expected = {agent: spec[:2] for agent, spec in fleet.GUARDRAILS.items()}
    assert {a: e for a, e in zip(scored["agent_name"], scored["guardrail"], strict=True)} == {
        a: e for a, (e, _) in expected.items()}  # fmt: skip
    by_version = scored.group_by("agent_name", "agent_version").agg(
        pl.col("guardrail_value").mean().alias("rate"), pl.len())  # fmt: skip
    for row in by_version.to_dicts():
        rate = expected[row["agent_name"]][1]
        if row["agent_name"] == "code-reviewer" and row["agent_version"] == "v2":
            rate = fleet.GUARDRAIL_REGRESSION["rate_after"]
        assert _within(row["rate"], rate, row["len"]), row
    # the guardrail judgement (per agent × version × day, from 30 scores, whole 95 %
    # Wilson interval beyond the threshold): only code-reviewer v2's hallucinations
    daily = scored.group_by("agent_name", "agent_version", "guardrail", "day_idx").agg(
        pl.col("guardrail_value").sum().alias("k"), pl.len().alias("n"))  # fmt: skip
    breaches = []
    for row in daily.filter(pl.col("n") >= 30).to_dicts():
        low, high = _wilson(row["k"], row["n"])
        bound, threshold = GUARDRAIL_THRESHOLDS[row["guardrail"]]
        if (low > threshold) if bound == "max" else (high < threshold):
            breaches.append((row["agent_name"], row["agent_version"], row["day_idx"]))
    assert {(agent, version) for agent, version, _ in breaches} == {("code-reviewer", "v2")}
    weekdays = daily.filter((pl.col("agent_name") == "code-reviewer")
                            & (pl.col("agent_version") == "v2") & (pl.col("n") >= 30))  # fmt: skip
    assert len(breaches) >= 0.8 * weekdays.height  # most judged days of v2 breach


def _wilson(k, n, z=1.96):
    p = k / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(center - half, 0), min(center + half, 1)


def test_policy_checker_is_low_volume_every_day_and_its_intent_mix_moves(drawn):
    calendar, _, cases, _ = drawn
    shift = fleet.LOW_VOLUME_INTENT_SHIFT
    spec = next(a for a in fleet.AGENTS if a.name == shift["agent"])
    checker = _agent(cases, shift["agent"])
    daily = checker.group_by("day_idx").len()
    assert daily.height == calendar.days
    assert abs(daily["len"].mean() - 40) < Z * math.sqrt(40 / calendar.days)
    weekend = daily.filter(pl.col("day_idx").map_elements(
        lambda d: calendar.day(d).weekday() >= 5, return_dtype=pl.Boolean))  # fmt: skip
    assert abs(weekend["len"].mean() - 40) < Z * math.sqrt(40 / weekend.height)
    assert calendar.day(shift["day"]).weekday() < 5  # the shift starts on a weekday
    for after, shares in ((False, spec.intent_shares), (True, shift["shares_after"])):
        part = checker.filter((pl.col("day_idx") >= shift["day"]) == after)
        for intent, share in zip(spec.intents, shares, strict=True):
            assert _within((part["intent"] == intent).mean(), share, part.height), intent
    # nothing else moves: quality and outcomes before and after
    before, after = (checker.filter((pl.col("day_idx") >= shift["day"]) == s) for s in (0, 1))
    assert abs(before["quality"].mean() - after["quality"].mean()) < Z * 0.07 * math.sqrt(
        1 / before.height + 1 / after.height)  # fmt: skip
    resolved = [(p["outcome"] == "resolved").mean() for p in (before, after)]
    assert abs(resolved[0] - resolved[1]) < Z * math.sqrt(0.05 * 0.95 / after.height * 2)


def test_proposal_drafter_output_triples_and_only_its_budget_forecast_alerts(drawn):
    calendar, sim, cases, calls = drawn
    overrun = fleet.BUDGET_OVERRUN
    calls = calls.join(cases.select("case_no", "agent_name", "day_idx"), on="case_no")
    drafter = calls.filter((pl.col("agent_name") == overrun["agent"]) & ~pl.col("is_error"))
    mean = [drafter.filter((pl.col("day_idx") >= overrun["day"]) == s)["output_tokens"].mean()
            for s in (False, True)]  # fmt: skip
    assert mean[1] / mean[0] == pytest.approx(overrun["output_tokens_factor"], rel=0.1)
    others = calls.filter(pl.col("agent_name") != overrun["agent"])
    late = others.filter(pl.col("day_idx") >= overrun["day"])["output_tokens"].mean()
    assert late / others["output_tokens"].mean() == pytest.approx(1, abs=0.05)
    # the budget forecast, as budget_forecast_daily computes it, for every registered agent
    cost = agent_daily_costs(sim, calendar, len(fleet.AGENTS))
    projected = projected_months(cost, calendar)
    alerts = {
        agent.name: [calendar.day(d) for d in first_budget_alerts(
            projected[i], agent.monthly_budget_usd, calendar, 1.0, 3)]
        for i, agent in enumerate(fleet.AGENTS) if agent.registered
    }  # fmt: skip
    (first,) = alerts.pop(overrun["agent"])
    assert not any(alerts.values()), alerts
    start = calendar.day(overrun["day"])
    assert start < first <= start + timedelta(days=7) and first.month == start.month
    event = budget_overrun_event(calendar, sim)
    assert event["first_alert_day"] == first.isoformat()
    assert event["monthly_budget_usd"] < event["projected_month_usd"]


def test_budgets_are_about_one_and_a_half_months_of_expected_cost(tmp_path):
    """Each registered agent's budget is ≈ 1.5 × its mean monthly cost in the 90-day demo
    (kb-answerer before its migration, proposal-drafter before its overrun), and the
    registry carries it."""
    calendar = Calendar(FIXTURE_START, 90)
    cost = agent_daily_costs(simulate(fleet.AGENTS, calendar, 6000, 7), calendar,
                             len(fleet.AGENTS))  # fmt: skip
    last = {fleet.MIGRATION["agent"]: fleet.MIGRATION["day"],
            fleet.BUDGET_OVERRUN["agent"]: fleet.BUDGET_OVERRUN["day"]}  # fmt: skip
    for i, agent in enumerate(a for a in fleet.AGENTS):
        if agent.registered:
            monthly = cost[i, : last.get(agent.name, calendar.days)].mean() * 30.44
            assert 1.4 <= agent.monthly_budget_usd / monthly <= 1.6, agent.name
    generate_demo(tmp_path / "data", tmp_path / "config", days=1, calls_per_day=50, seed=1,
                  end=date(2026, 10, 2))  # fmt: skip
    registry = yaml.safe_load((tmp_path / "config" / "agents.yaml").read_text())["agents"]
    assert {a["name"]: a["monthly_budget_usd"] for a in registry} == {
        a.name: a.monthly_budget_usd for a in fleet.AGENTS if a.registered}  # fmt: skip
    assert len({a["monthly_budget_usd"] for a in registry}) > 10  # no longer 500 for all


def test_the_truth_dates_every_regression_event_and_the_gates_ship(drawn, tmp_path):
    calendar, sim, _, _ = drawn
    events = {e["type"]: e for e in regression_events(calendar, sim, tmp_path, 7)}
    dates = {kind: events[kind]["start"] for kind in (
        "guardrail_regression", "ungated_change", "canary", "low_volume_intent_shift",
        "budget_overrun")}  # fmt: skip
    if calendar.start == FIXTURE_START:
        assert dates == {"guardrail_regression": "2026-09-18", "ungated_change": "2026-09-23",
                         "canary": "2026-09-30", "low_volume_intent_shift": "2026-10-08",
                         "budget_overrun": "2026-10-13"}  # fmt: skip
        assert (events["canary"]["full_traffic"], events["budget_overrun"]["first_alert_day"]) \
            == ("2026-10-10", "2026-10-15")  # fmt: skip
    else:
        assert dates == {"guardrail_regression": "2026-10-22", "ungated_change": "2026-10-27",
                         "canary": "2026-11-03", "low_volume_intent_shift": "2026-11-11",
                         "budget_overrun": "2026-11-16"}  # fmt: skip
        assert (events["canary"]["full_traffic"], events["budget_overrun"]["first_alert_day"]) \
            == ("2026-11-13", "2026-11-20")  # fmt: skip
    assert events["ungated_change"]["gate"] is None
    assert events["guardrail_evaluators"]["evaluators"][0]["evaluator"] == "hallucination"
    gate_files = sorted(p.name for p in (tmp_path / "evals").iterdir())
    assert gate_files == ["code-reviewer.jsonl", "refund-assistant.jsonl"]  # none: ungated
    for kind in ("canary", "guardrail_regression"):
        gate = events[kind]["gate"]
        assert gate["evaluated_on"] < events[kind]["start"]
        rows = pl.read_ndjson(tmp_path / "evals" / f"{gate['agent']}.jsonl").with_columns(
            cost_usd=pl.col("input_tokens") * 2.5e-6 + pl.col("output_tokens") * 1e-5,
            source_file=pl.lit("f"))  # fmt: skip
        sides = [diff.per_item(rows.filter(pl.col("run_id") == run), "quality")
                 for run in (gate["baseline"], gate["candidate"])]  # fmt: skip
        result = diff.compare(diff.pair(*sides), None, EvalDiffPolicy())
        assert result["decision"] == gate["expected"] == "ship", result["reasons"]
        prompts = rows.group_by("run_id").agg(pl.col("prompt_version").unique())
        assert {r["run_id"]: r["prompt_version"] for r in prompts.to_dicts()} == {
            gate["baseline"]: ["v1"], gate["candidate"]: ["v2"]}  # fmt: skip
        assert rows["model"].n_unique() == 1


def test_a_short_demo_leaves_out_the_changes_it_does_not_reach(tmp_path):
    calendar = Calendar(date(2026, 8, 1), 60)  # to day 59: the code-reviewer and triage changes
    sim = simulate(fleet.AGENTS, calendar, 300, 5)
    kinds = [e["type"] for e in regression_events(calendar, sim, tmp_path, 5)]
    assert kinds == ["guardrail_evaluators", "guardrail_regression", "ungated_change"]
    assert [p.name for p in (tmp_path / "evals").iterdir()] == ["code-reviewer.jsonl"]
