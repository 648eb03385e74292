"""Reconciliation and allocation marts: a hand-checked fleet, and the demo's ground truth."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import duckdb
import pytest

from pipelines.synth import GROUND_TRUTH_FILE
from tests.conftest import build_from_raw
from tests.otlp_builder import line, llm_case

DAY = datetime(2026, 10, 7, 10)
BUCKET = int(datetime(2026, 10, 7).timestamp()) // 86_400 * 86_400
REGISTRY = """
agents:
  - {name: alpha, billing: {openai_project: proj_a, api_key: key_1}}
  - {name: beta, billing: {openai_project: proj_a, api_key: key_1}}
  - {name: gamma, billing: {openai_project: proj_b}}
"""


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
    # a case each, one gpt-4o-mini call ($0.15 per million input tokens)
    spans = [
        *llm_case(1, "alpha", DAY, 1_000_000),
        *llm_case(2, "beta", DAY, 2_000_000),
        *llm_case(3, "gamma", DAY, 1_000_000),
        *llm_case(4, "ghost", DAY, 1_000_000),
    ]
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
    allocation, reconciliation = build_from_raw(
        settings, "cost_allocation_monthly", "billing_reconciliation_daily"
    )
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


UNTRACED_REGISTRY = """
agents:
  - {name: alpha, billing: {openai_project: proj_a, api_key: key_a}}
  - {name: beta, billing: {openai_project: proj_s, api_key: key_s}}
  - {name: gamma, billing: {openai_project: proj_s, api_key: key_s}}
  - {name: delta, billing: {anthropic_workspace: wrkspc_d}}
  - {name: zeta, billing: {sub_account: sub-1, focus_tag: fleet-agent=zeta}}
  - {name: epsilon, billing: {openai_project: proj_e}}
"""
NEXT_DAY = datetime(2026, 10, 8, 10)
# A FOCUS export of Azure OpenAI (billed by Microsoft; traces say azure.ai.openai).
FOCUS_CSV = """ProviderName,SubAccountId,ServiceCategory,ServiceName,ChargeDescription,\
ChargePeriodStart,ChargePeriodEnd,ConsumedQuantity,ConsumedUnit,BilledCost,BillingCurrency,\
ChargeCategory,Tags
Microsoft,sub-1,AI and Machine Learning,Azure OpenAI,gpt-4o-mini input tokens,\
2026-10-07 00:00:00,2026-10-08 00:00:00,1000000,Tokens,0.15,USD,Usage,\
"{""fleet-agent"": ""zeta""}"
"""


def _openai_usage(project: str, key: str, tokens: int, requests: int) -> dict:
    return {"object": "organization.usage.completions.result", "input_tokens": tokens,
            "output_tokens": 0, "num_model_requests": requests, "project_id": project,
            "api_key_id": key, "model": "gpt-4o-mini"}  # fmt: skip


@pytest.fixture
def untraced(settings) -> list[dict]:
    (settings.config_dir / "agents.yaml").write_text(UNTRACED_REGISTRY)
    calls = [
        *[("alpha", 100_000, "openai")] * 7,
        ("alpha", 50_000, "anthropic"),  # a provider alpha claims no bill on: left out
        ("beta", 100_000, "openai"),
        *[("gamma", 100_000, "openai")] * 3,
        *[("delta", 100_000, "anthropic")] * 2,
        *[("zeta", 250_000, "azure.ai.openai")] * 2,
        ("epsilon", 100_000, "openai"),  # no bill: no row
        ("ghost", 100_000, "openai"),  # unregistered: no row
    ]
    spans = [s for n, (agent, tokens, provider) in enumerate(calls, 1)
             for s in llm_case(n, agent, DAY, tokens, provider=provider)]  # fmt: skip
    (settings.raw_dir / "traces.jsonl").write_text(line(*spans) + "\n")
    next_bucket = BUCKET + 86_400
    usage = {"object": "page", "has_more": False, "next_page": None, "data": [
        {"object": "bucket", "start_time": BUCKET, "end_time": next_bucket, "results": [
            _openai_usage("proj_a", "key_a", 1_000_000, 10),
            _openai_usage("proj_s", "key_s", 800_000, 8),
            _openai_usage("proj_x", "key_x", 123, 1)]},  # nobody's: no row
        {"object": "bucket", "start_time": next_bucket, "end_time": next_bucket + 86_400,
         "results": [_openai_usage("proj_s", "key_s", 500_001, 5)]}]}  # fmt: skip
    (settings.raw_dir / "openai_usage.json").write_text(json.dumps(usage))
    anthropic = {"has_more": False, "next_page": None, "data": [{
        "starting_at": "2026-10-07T00:00:00Z", "ending_at": "2026-10-08T00:00:00Z",
        "results": [{"uncached_input_tokens": 500_000, "cache_read_input_tokens": 0,
                     "output_tokens": 0, "api_key_id": "apikey_d1", "workspace_id": "wrkspc_d",
                     "model": "claude-3-5-haiku-20241022"}]}]}  # fmt: skip
    (settings.raw_dir / "anthropic_usage.json").write_text(json.dumps(anthropic))
    (settings.raw_dir / "focus.csv").write_text(FOCUS_CSV)
    [rows] = build_from_raw(settings, "int_untraced_usage_daily")
    return rows


def test_untraced_usage_counts_the_calls_the_bill_shows_and_the_traces_lack(untraced):
    got = {
        (r["agent_name"], r["day"].isoformat(), r["provider"]): (
            r["billed_requests"], r["billed_tokens"], r["traced_calls"], r["traced_tokens"],
            r["n_untraced_calls"], r["untraced_tokens"])
        for r in untraced
    }  # fmt: skip
    assert got == {
        # traces cover 70 % of 1M billed tokens: 10 requests billed, 7 traced
        ("alpha", "2026-10-07", "openai"): (10, 1_000_000, 7, 700_000, 3, 300_000),
        # key_s, shared: split 1:3 by traced tokens (100k : 300k) of 800k tokens, 8 requests
        ("beta", "2026-10-07", "openai"): (2, 200_000, 1, 100_000, 1, 100_000),
        ("gamma", "2026-10-07", "openai"): (6, 600_000, 3, 300_000, 3, 300_000),
        # next day nobody traced: split equally, the last (gamma) takes the remainder
        ("beta", "2026-10-08", "openai"): (2, 250_000, 0, 0, 2, 250_000),
        ("gamma", "2026-10-08", "openai"): (3, 250_001, 0, 0, 3, 250_001),
        # no request count: 300k untraced tokens ÷ 100k traced tokens per call
        ("delta", "2026-10-07", "anthropic"): (None, 500_000, 2, 200_000, 3, 300_000),
        # FOCUS token quantities; azure.ai.openai calls count on their Microsoft bill
        ("zeta", "2026-10-07", "Microsoft"): (None, 1_000_000, 2, 500_000, 2, 500_000),
    }
    for day, route_tokens, route_requests in (
        ("2026-10-07", 800_000, 8),
        ("2026-10-08", 500_001, 5),
    ):
        shared = [
            r
            for r in untraced
            if r["day"].isoformat() == day and r["agent_name"] in ("beta", "gamma")
        ]
        assert sum(r["billed_tokens"] for r in shared) == route_tokens
        assert sum(r["billed_requests"] for r in shared) == route_requests


def test_reconciliation_keeps_per_model_rows_when_the_bill_names_models(marts):
    _, reconciliation = marts
    keys = [(r["day"], r["provider"], r["sub_account_id"], r["model"]) for r in reconciliation]
    assert len(keys) == len(set(keys)) == 4
    assert all(r["is_model_grain"] for r in reconciliation)
