"""The eval diff: statistics against independent computations, the ship/hold rule, bad
input (exit code 2), and the demo's migration runs decided as the generator intended."""

from __future__ import annotations

import itertools
import json
import math
import re
from datetime import datetime

import duckdb
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines import warehouse
from pipelines.cli import app
from pipelines.evals import diff
from pipelines.evals.diff import DiffError
from pipelines.evals.runs import run_diff
from pipelines.ingest import ingest_file
from pipelines.policy import EvalDiffPolicy
from pipelines.synth import GROUND_TRUTH_FILE
from tests import browser
from tests.conftest import build_from_raw, settings_with_registry
from tests.otlp_builder import attr, line, llm_case, ns, span

POLICY = EvalDiffPolicy()
runner = CliRunner()


def rows(run, items, *, agent="a", score="quality", trials=1, value=lambda i, t: 0.8):
    return pl.DataFrame(
        [
            {"run_id": run, "dataset": "d", "item_id": f"i{i}", "trial": t, "agent_name": agent,
             "score_name": score, "score_value": value(i, t), "cost_usd": 0.01,
             "latency_ms": 100.0 + i, "input_tokens": 10, "output_tokens": 5,
             "source_file": "f.jsonl"}
            for i in items
            for t in range(1, trials + 1)
        ]
    )  # fmt: skip


def test_trials_are_averaged_and_unpaired_items_reported():
    baseline = diff.per_item(
        rows("b", range(4), trials=2, value=lambda i, t: 0.5 + 0.1 * t), "quality"
    )
    assert baseline["score"].to_list() == pytest.approx([0.65] * 4)  # (0.6 + 0.7) / 2
    assert baseline["n_trials"].to_list() == [2] * 4
    candidate = diff.per_item(rows("c", range(2, 6)), "quality")
    pairs = diff.pair(baseline, candidate)
    assert pairs.paired["item_id"].to_list() == ["i2", "i3"]
    assert (pairs.only_baseline, pairs.only_candidate) == (["i0", "i1"], ["i4", "i5"])


def test_slices_by_dataset_and_by_intent_when_items_carry_one():
    paired = pl.DataFrame({
        "item_id": ["a", "b", "c"], "dataset": ["d1", "d1", "d2"],
        "intent": ["billing", "billing", None],
        "score_baseline": [0.5, 0.5, 0.5], "score_candidate": [0.7, 0.4, 0.5],
    })  # fmt: skip
    assert diff.slices(paired) == [
        {"slice": "d1", "n_items": 2, "mean_difference": pytest.approx(0.05), "wins": 1,
         "losses": 1, "kind": "dataset"},
        {"slice": "d2", "n_items": 1, "mean_difference": 0.0, "wins": 0, "losses": 0,
         "kind": "dataset"},
        {"slice": "billing", "n_items": 2, "mean_difference": pytest.approx(0.05), "wins": 1,
         "losses": 1, "kind": "intent"},
        {"slice": None, "n_items": 1, "mean_difference": 0.0, "wins": 0, "losses": 0,
         "kind": "intent"},
    ]  # fmt: skip
    assert [s["kind"] for s in diff.slices(paired.with_columns(intent=None))] == ["dataset"] * 2


def test_bad_input_is_named():
    with pytest.raises(DiffError, match="no item in common"):
        diff.pair(
            diff.per_item(rows("b", [1]), "quality"), diff.per_item(rows("c", [2]), "quality")
        )
    with pytest.raises(DiffError, match=r"no 'quality' scores \(scores present: helpfulness\)"):
        diff.per_item(rows("b", [1], score="helpfulness"), "quality")
    missing = rows("b", [1, 2]).with_columns(score_value=pl.Series([0.5, None]))
    with pytest.raises(DiffError, match=r"1 'quality' score\(s\) are missing, e.g. run b item i2"):
        diff.per_item(missing, "quality")


def test_quality_statistics_match_independent_computations():
    rng = np.random.default_rng(3)
    diffs = np.round(rng.normal(-0.01, 0.05, 400), 3)
    result = diff.quality(diffs, POLICY)
    assert result["mean_difference"] == pytest.approx(diffs.mean(), abs=1e-12)
    # the bootstrap interval against the normal-theory interval of a mean (n = 400)
    half = 1.959964 * diffs.std(ddof=1) / math.sqrt(len(diffs))
    assert result["ci_low"] == pytest.approx(diffs.mean() - half, abs=6e-4)
    assert result["ci_high"] == pytest.approx(diffs.mean() + half, abs=6e-4)
    wins, losses = int((diffs > 0).sum()), int((diffs < 0).sum())
    assert (result["wins"], result["ties"], result["losses"]) == (wins, 400 - wins - losses, losses)
    # sign test: two-sided binomial tail, summed by hand
    k, n = min(wins, losses), wins + losses
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    assert result["sign_test_p"] == pytest.approx(min(1.0, 2 * tail), rel=1e-9)


def test_wilcoxon_p_matches_exact_enumeration():
    diffs = np.array([0.05, -0.01, 0.03, 0.07, -0.025, 0.04, 0.06, 0.02])  # no tied |d|
    ranks = np.argsort(np.argsort(np.abs(diffs))) + 1
    observed = ranks[diffs > 0].sum()
    totals = [sum(r for r, s in zip(ranks, signs, strict=True) if s)
              for signs in itertools.product([0, 1], repeat=len(diffs))]  # fmt: skip
    mean = len(diffs) * (len(diffs) + 1) / 4
    extreme = sum(abs(t - mean) >= abs(observed - mean) for t in totals)
    assert diff.quality(diffs, POLICY)["wilcoxon_p"] == pytest.approx(extreme / 2 ** len(diffs))


def summary(ci_low, cost=(0.01, 0.01), p95=(100.0, 100.0), n=300):
    side = [{"cost_per_item_usd": c, "latency_p95_ms": p, "unpriced_items": 0}
            for c, p in zip(cost, p95, strict=True)]  # fmt: skip
    return {"quality": {"ci_low": ci_low, "ci_high": ci_low + 0.02, "n_items": n},
            "baseline": side[0], "candidate": side[1]}  # fmt: skip


def test_ship_needs_non_inferiority_and_budgets():
    assert diff.decide(summary(-0.019), POLICY)[0] == "ship"
    decision, reasons = diff.decide(summary(-0.021), POLICY)
    assert decision == "hold"
    assert reasons[0] == "quality may be worse: 95 % CI [-0.0210, -0.0010] reaches below −0.02"
    decision, reasons = diff.decide(summary(0.0, cost=(0.010, 0.0111)), POLICY)
    assert (decision, reasons[1]) == ("hold", "cost per item +11.0% exceeds the +10% budget")
    decision, reasons = diff.decide(summary(0.0, p95=(100.0, 109.0)), POLICY)
    assert (decision, reasons[2]) == ("ship", "p95 latency +9.0% within the +10% budget")
    assert diff.decide(summary(0.0, cost=(None, 0.01)), POLICY)[0] == "hold"  # unpriced
    assert diff.decide(summary(0.0, n=29), POLICY)[0] == "hold"


# --- the demo's migration eval runs ------------------------------------------------------


def _cli(settings, *args):
    return runner.invoke(app, ["diff", "--data-dir", str(settings.data_dir), "--config-dir",
                               str(settings.config_dir), "--reports-dir",
                               str(settings.reports_dir), *args])  # fmt: skip


def test_demo_migration_ships_and_the_weaker_candidate_is_held(demo, tmp_path):
    truth = json.loads((demo.data_dir / GROUND_TRUTH_FILE).read_text())
    (event,) = [e for e in truth["events"] if e["type"] == "eval_runs"]
    for candidate in event["candidates"]:
        result = _cli(demo, "--agent", event["agent"], "--baseline", event["baseline"],
                      "--candidate", candidate["run"])  # fmt: skip
        assert result.exit_code == {"ship": 0, "hold": 1}[candidate["expected"]], result.output
        output = run_diff(demo, event["agent"], event["baseline"], candidate["run"])
        q = output.result["quality"]
        assert output.result["decision"] == candidate["expected"]
        assert q["n_items"] == event["items"]
        assert q["ci_low"] <= candidate["true_difference"] <= q["ci_high"]
        saved = json.loads(output.json.read_text())
        assert saved["decision"] == candidate["expected"]
        assert saved["quality"]["ci_low"] == pytest.approx(q["ci_low"])
        html = output.html.read_text()
        assert re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html) == []
        assert f'id="decision">{candidate["expected"]}</span>' in html
    dom, console = browser.load(output.html, tmp_path / "profile")  # offline, in Chromium
    assert console == []
    assert re.search(r'<div id="chart-diff" class="[^"]*js-plotly-plot', dom)
    # the variant label selects the same runs as the run id
    by_variant = run_diff(demo, event["agent"], "gpt-4o / v2", "gpt-4.1-mini / v2")
    assert by_variant.result["quality"]["n_items"] == event["items"]


def test_diff_errors_exit_2(demo, tmp_path):
    assert _cli(demo, "--agent", "kb-answerer", "--baseline", "nope",
                "--candidate", "kb-candidate-gpt-4.1-mini").exit_code == 2  # fmt: skip
    wrong_agent = _cli(demo, "--agent", "hr-faq", "--baseline", "kb-baseline-gpt-4o",
                       "--candidate", "kb-candidate-gpt-4.1-mini")  # fmt: skip
    assert wrong_agent.exit_code == 2
    assert "evaluates kb-answerer, not hr-faq" in wrong_agent.output
    no_score = _cli(demo, "--agent", "kb-answerer", "--baseline", "kb-baseline-gpt-4o",
                    "--candidate", "kb-candidate-gpt-4.1-mini",
                    "--score", "helpfulness")  # fmt: skip
    assert no_score.exit_code == 2 and "no 'helpfulness' scores" in no_score.output


def test_given_costs_are_kept_and_missing_ones_priced(settings):
    path = settings.raw_dir / "evals.jsonl"
    records = [
        {"run_id": "r1", "item_id": "i1", "agent_name": "weather-agent", "model": "gpt-4o-mini",
         "score_name": "quality", "score_value": 0.9, "cost_usd": 0.5,
         "input_tokens": 1000, "output_tokens": 100, "evaluated_at": "2026-10-01T00:00:00Z"},
        {"run_id": "r1", "item_id": "i2", "agent_name": "weather-agent", "model": "gpt-4o-mini",
         "score_name": "quality", "score_value": 0.8,
         "input_tokens": 1000, "output_tokens": 100, "evaluated_at": "2026-10-01T00:00:00Z"},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = ingest_file(path, settings)
    assert (result.rows_accepted, result.rows_quarantined) == (2, 0)
    warehouse.build(settings)

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        got = con.sql(
            "select item_id, cost_usd, cost_source from eval_results order by 1"
        ).fetchall()
    # gpt-4o-mini list price: $0.15 / M input, $0.60 / M output
    assert got == [
        ("i1", 0.5, "given"),
        ("i2", pytest.approx(1000 * 0.15e-6 + 100 * 0.6e-6), "computed"),
    ]


# --- the flywheel: production cases become eval candidates ----------------------------


def test_eval_candidates_are_the_failed_cases_stratified_and_deduplicated(demo, tmp_path):
    from pipelines.evals.candidates import CandidatesError, export_candidates

    with duckdb.connect(str(demo.warehouse_path), read_only=True) as con:
        cases = con.sql(
            "select c.*, a.quality_target from fct_cases c join agents a using (agent_name) "
            "where agent_name = 'support-triage' and day >= '2026-10-01'"
        ).pl()
        alerts = con.sql("select count(*) from drift_daily where verdict = 'alert'").fetchall()
    assert alerts == [(0,)]  # 4 days: no drift window; reasons are score, escalation, fallback
    failed = cases.filter(
        (pl.col("quality_score") < pl.col("quality_target"))
        | (pl.col("outcome") == "escalated")
        | pl.col("is_fallback")
        | (pl.col("outcome") == "fallback")
    )
    per_intent = failed.group_by("intent").len()
    expected = int(per_intent["len"].clip(upper_bound=3).sum())
    path, written, known = export_candidates(demo, "support-triage", "2026-10", per_intent=3,
                                             output=tmp_path / "c.jsonl")  # fmt: skip
    items = [json.loads(line) for line in path.read_text().splitlines()]
    assert (written, known, len(items)) == (expected, 0, expected)
    assert set(i["item_id"] for i in items) <= set(failed["conversation_id"])
    assert {i["intent"] for i in items} == set(per_intent["intent"])  # every intent represented
    assert all(i["reasons"] and "prompt" not in json.dumps(i) for i in items)
    # a second export against the first as the dataset adds only what is new
    _, again, known = export_candidates(demo, "support-triage", "2026-10", per_intent=4,
                                        dataset=path, output=tmp_path / "d.jsonl")  # fmt: skip
    assert known == expected
    assert again == int(per_intent["len"].clip(upper_bound=4).sum()) - expected
    (tmp_path / "bad.jsonl").write_text('{"item_id": "a"}\nnot json\n')
    with pytest.raises(CandidatesError, match=r"bad.jsonl:2: item_id: not an eval item"):
        export_candidates(demo, "support-triage", "2026-10", dataset=tmp_path / "bad.jsonl")
    with pytest.raises(CandidatesError, match="no agent 'nobody'"):
        export_candidates(demo, "nobody", "2026-10")


def test_traces_tagged_as_eval_runs_become_eval_results_not_cases(settings):
    started = datetime(2026, 10, 2, 9)
    spans = []
    for n, (run, item, score) in enumerate([("r-trace", "i1", 0.7), ("r-trace", "i1", 0.9),
                                            ("r-trace", "i2", 0.6)]):  # fmt: skip
        trace = f"{n + 1:032x}"
        root = span(trace, f"{n + 1:016x}", started.replace(minute=n), 1500,
                    gen_ai__operation__name="invoke_agent", gen_ai__agent__name="weather-agent",
                    gen_ai__agent__version="v7", fleet__eval__run_id=run,
                    fleet__eval__item_id=item, fleet__eval__dataset="golden")  # fmt: skip
        scored = [attr("gen_ai.evaluation.name", "quality"),
                  attr("gen_ai.evaluation.score.value", score)]  # fmt: skip
        root["events"] = [{"timeUnixNano": ns(started), "name": "gen_ai.evaluation.result",
                           "attributes": scored}]  # fmt: skip
        call = span(trace, f"{n + 11:016x}", started.replace(minute=n), 900, root["spanId"],
                    gen_ai__operation__name="chat", gen_ai__provider__name="openai",
                    gen_ai__request__model="gpt-4o-mini", gen_ai__usage__input_tokens=1000,
                    gen_ai__usage__output_tokens=100)  # fmt: skip
        spans += [root, call]
    production = span("f" * 32, "f" * 16, started, 800, gen_ai__operation__name="invoke_agent",
                      gen_ai__agent__name="weather-agent")  # fmt: skip
    path = settings.raw_dir / "eval-traces.jsonl"
    path.write_text(line(*spans, production) + "\n")
    ingest_file(path, settings)
    warehouse.build(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        cases = con.sql("select conversation_id from fct_cases").fetchall()
        got = con.sql(
            "select run_id, item_id, trial, dataset, prompt_version, variant, score_value, "
            "cost_usd, cost_source, latency_ms from eval_results order by item_id, trial"
        ).fetchall()
    assert cases == [("f" * 32,)]  # eval traces are not production cases
    cost = 1000 * 0.15e-6 + 100 * 0.6e-6  # gpt-4o-mini list price, as production prices it
    variant = "gpt-4o-mini"
    assert got == [
        ("r-trace", "i1", 1, "golden", "v7", variant, 0.7, pytest.approx(cost), "computed", 1500),
        ("r-trace", "i1", 2, "golden", "v7", variant, 0.9, pytest.approx(cost), "computed", 1500),
        ("r-trace", "i2", 1, "golden", "v7", variant, 0.6, pytest.approx(cost), "computed", 1500),
    ]


def test_eval_candidates_of_an_agent_named_like_a_path_stay_in_their_folder(tmp_path):
    from pipelines.evals.candidates import CANDIDATES_DIR, export_candidates

    registry = "agents:\n  - name: ../../escape\n  - name: ../..-escape\n"
    settings = settings_with_registry(tmp_path, registry)
    cases = [llm_case(n, name, datetime(2026, 10, 5, 9), 100)
             for n, name in enumerate(("../../escape", "../..-escape"), 1)]  # fmt: skip
    (settings.raw_dir / "t.jsonl").write_text("".join(line(*c) + "\n" for c in cases))
    build_from_raw(settings)
    paths = [export_candidates(settings, name, "2026-10")[0]
             for name in ("../../escape", "../..-escape")]  # fmt: skip
    folder = settings.data_dir / CANDIDATES_DIR
    assert [p.parent for p in paths] == [folder, folder]
    assert paths[0] != paths[1]  # names that differ only in unsafe characters: two files
    assert all(p.name.startswith("escape-") and p.name.endswith("-2026-10.jsonl") for p in paths)
    assert sorted(p.name for p in tmp_path.rglob("*.jsonl") if "escape" in p.name) == sorted(
        p.name for p in paths
    )
