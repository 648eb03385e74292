"""The demo generator: deterministic, real-shaped, and its ground truth adds up."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal

import duckdb
import yaml

from pipelines.ingest.lake import read_log
from pipelines.synth import GROUND_TRUTH_FILE, generate_demo
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
        "late_files", "malformed_lines", "eval_runs",
    ]  # fmt: skip
