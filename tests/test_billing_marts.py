"""Reconciliation and allocation marts: a hand-checked fleet, and the demo's ground truth."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import duckdb
import pytest

from pipelines import warehouse
from pipelines.ingest import ingest_file
from pipelines.synth import GROUND_TRUTH_FILE
from tests.otlp_builder import line, span

DAY = datetime(2026, 10, 7, 10)
BUCKET = int(datetime(2026, 10, 7).timestamp()) // 86_400 * 86_400
REGISTRY = """
agents:
  - {name: alpha, billing: {openai_project: proj_a, api_key: key_1}}
  - {name: beta, billing: {openai_project: proj_a, api_key: key_1}}
  - {name: gamma, billing: {openai_project: proj_b}}
"""


def _call(n: int, agent: str, input_tokens: int) -> list[dict]:
    """A case of `agent` with one gpt-4o-mini call ($0.15 per million input tokens)."""
    trace, root = f"{n:032x}", f"{n:015x}a"
    return [
        span(trace, root, DAY, 900, gen_ai__operation__name="invoke_agent",
             gen_ai__agent__name=agent),
        span(trace, f"{n:015x}b", DAY, 800, parent=root, gen_ai__operation__name="chat",
             gen_ai__provider__name="openai", gen_ai__request__model="gpt-4o-mini",
             gen_ai__usage__input_tokens=input_tokens, gen_ai__usage__output_tokens=0),
    ]  # fmt: skip


def _page(results: list[dict]) -> dict:
    return {"object": "page", "has_more": False, "next_page": None, "data": [{
        "object": "bucket", "start_time": BUCKET, "end_time": BUCKET + 86_400,
        "results": results}]}  # fmt: skip


def _cost(project: str, key: str, value: str, currency: str = "usd") -> dict:
    return {"object": "organization.costs.result", "amount": {"value": value,
            "currency": currency}, "line_item": "gpt-4o-mini, input",
            "project_id": project, "api_key_id": key}  # fmt: skip


@pytest.fixture
def marts(settings):
    (settings.config_dir / "agents.yaml").write_text(REGISTRY)
    spans = [*_call(1, "alpha", 1_000_000), *_call(2, "beta", 2_000_000),
             *_call(3, "gamma", 1_000_000), *_call(4, "ghost", 1_000_000)]  # fmt: skip
    (settings.raw_dir / "traces.jsonl").write_text(line(*spans) + "\n")
    costs = [
        _cost("proj_a", "key_1", "0.50"),
        _cost("proj_b", "key_9", "0.20"),
        _cost("proj_c", "key_x", "0.15"),
        _cost("proj_a", "key_1", "1.00", "eur"),
    ]
    (settings.raw_dir / "costs.json").write_text(json.dumps(_page(costs)))
    usage = {"object": "organization.usage.completions.result", "input_tokens": 3_300_000,
             "output_tokens": 0, "num_model_requests": 2, "project_id": "proj_a",
             "api_key_id": "key_1", "model": "gpt-4o-mini"}  # fmt: skip
    (settings.raw_dir / "usage.json").write_text(json.dumps(_page([usage])))
    for path in sorted(settings.raw_dir.iterdir()):
        ingest_file(path, settings)
    warehouse.build(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        allocation = con.sql("select * from cost_allocation_monthly").pl().to_dicts()
        reconciliation = con.sql("select * from billing_reconciliation_daily").pl().to_dicts()
    return allocation, reconciliation


def test_allocation_splits_a_shared_key_by_computed_cost_and_sums_exactly(marts):
    allocation, _ = marts
    got = {
        (r["billing_currency"], r["sub_account_id"], r["agent_name"]): (
            r["claim_basis"], r["allocated_cost"], r["route_billed_cost"])
        for r in allocation
    }  # fmt: skip
    assert got == {
        # key_1: alpha computed $0.15, beta $0.30 → ⅓ and ⅔ of $0.50; the last takes the rest
        ("USD", "proj_a", "beta"): ("api_key", Decimal("0.3333333333"), Decimal("0.5")),
        ("USD", "proj_a", "alpha"): ("api_key", Decimal("0.1666666667"), Decimal("0.5")),
        # key_9 is nobody's, but gamma claims all of proj_b
        ("USD", "proj_b", "gamma"): ("project", Decimal("0.2"), Decimal("0.2")),
        # proj_c / key_x: unattributed, reported whole
        ("USD", "proj_c", None): (None, Decimal("0.15"), Decimal("0.15")),
        # euros stay euros
        ("EUR", "proj_a", "beta"): ("api_key", Decimal("0.6666666667"), Decimal("1")),
        ("EUR", "proj_a", "alpha"): ("api_key", Decimal("0.3333333333"), Decimal("1")),
        # ghost is traced but not registered: found, nothing allocated
        ("USD", None, "ghost"): ("unregistered", Decimal("0"), Decimal("0")),
    }
    [unattributed] = [r for r in allocation if r["is_unattributed"]]
    assert unattributed["unattributed_reason"] == (
        "api key key_x is in no agent's billing keys and project/workspace proj_c is "
        "claimed by no agent project-wide"
    )
    [ghost] = [r for r in allocation if r["agent_name"] == "ghost"]
    assert ghost["agent_computed_cost_usd"] == pytest.approx(0.15, abs=1e-12)
    usd = [r["allocated_cost"] for r in allocation if r["billing_currency"] == "USD"]
    assert sum(usd) == Decimal("0.85")  # = the USD bill, to the last decimal


def test_reconciliation_compares_bill_and_traces_per_project_and_model(marts):
    _, reconciliation = marts
    got = {
        r["sub_account_id"]: (
            r["billed_cost_usd"], round(r["computed_cost_usd"] or 0, 12), r["n_non_usd_lines"],
            r["billed_tokens"], r["traced_tokens"],
        )
        for r in reconciliation
    }  # fmt: skip
    assert got == {
        "proj_a": (Decimal("0.5"), 0.45, 1, 3_300_000, 3_000_000),
        "proj_b": (Decimal("0.2"), 0.15, 0, None, 1_000_000),
        "proj_c": (Decimal("0.15"), 0, 0, None, 0),
        None: (None, 0.15, 0, None, 1_000_000),  # ghost: traced, on no known bill
    }
    [proj_a] = [r for r in reconciliation if r["sub_account_id"] == "proj_a"]
    assert float(proj_a["delta_usd"]) == pytest.approx(0.05, abs=1e-12)
    assert proj_a["delta_pct"] == pytest.approx(0.1, abs=1e-12)
    assert proj_a["trace_coverage"] == pytest.approx(3 / 3.3, abs=1e-12)
    assert {r["model"] for r in reconciliation} == {"gpt-4o-mini"}


def test_the_demo_untraced_spend_and_unregistered_agent_are_found(demo):
    truth = json.loads((demo.data_dir / GROUND_TRUTH_FILE).read_text())
    events = {e["type"]: e for e in truth["events"]}
    untraced, unregistered = events["untraced_spend"], events["unregistered_agent"]
    with duckdb.connect(str(demo.warehouse_path), read_only=True) as con:
        allocation = con.sql("select * from cost_allocation_monthly").pl()
        coverage = con.execute(
            "select sum(traced_tokens) / sum(billed_tokens) from billing_reconciliation_daily "
            "join (select distinct sub_account_id, model from fct_llm_calls "
            "  join agents using (agent_name) "
            "  where agent_name = ? and billing_keys['openai_project'] = sub_account_id) "
            "using (sub_account_id, model)",
            [untraced["agent"]],
        ).fetchall()
        billed_total = con.sql("select sum(billed_cost) from stg_billing_costs").fetchall()[0][0]
    # the untraced agent's traffic: traces cover 1 − share_untraced of what was billed
    assert coverage[0][0] == pytest.approx(1 - untraced["share_untraced"], abs=0.001)
    unattributed = allocation.filter(allocation["is_unattributed"]).to_dicts()
    assert [r["api_key_id"] for r in unattributed] == [unregistered["billing_key"]]
    [shadow] = allocation.filter(allocation["claim_basis"] == "unregistered").to_dicts()
    assert shadow["agent_name"] == unregistered["agent"]
    # its computed cost is the unattributed bill (the demo bills list prices, rounded)
    assert shadow["agent_computed_cost_usd"] == pytest.approx(
        float(sum(r["allocated_cost"] for r in unattributed)), abs=0.0001
    )
    assert sum(allocation["allocated_cost"].to_list()) == billed_total
