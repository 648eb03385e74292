"""Reconciliation at the finest grain both sides have: bills without a model (OpenAI costs
grouped by project only, Anthropic cost report without `description`) against traces."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.conftest import build_from_raw
from tests.otlp_builder import line, llm_case

FIRST_DAY = datetime(2026, 10, 5, 10)
REGISTRY = """
agents:
  - {name: omega, billing: {openai_project: proj_o}}
  - {name: delta, billing: {anthropic_workspace: wrkspc_d}}
  - {name: mu, billing: {openai_project: proj_m}}
"""
# omega's calls each cost $0.15: gpt-4o-mini at $0.15 and gpt-4o at $2.50 per million
# input tokens. On day i it makes 4·(i+1) calls and traces 3 of every 4.
OMEGA_CALLS = (("gpt-4o-mini", 1_000_000), ("gpt-4o-mini", 1_000_000), ("gpt-4o", 60_000))


def _unix(day: datetime) -> int:
    return int(day.replace(hour=0, tzinfo=UTC).timestamp())


def _openai_costs(results_by_day: list[list[dict]]) -> dict:
    """A costs page with one daily bucket per list of results, from FIRST_DAY on."""
    buckets = [{"object": "bucket", "start_time": _unix(FIRST_DAY + timedelta(i)),
                "end_time": _unix(FIRST_DAY + timedelta(i + 1)), "results": results}
               for i, results in enumerate(results_by_day)]  # fmt: skip
    return {"object": "page", "data": buckets, "has_more": False, "next_page": None}


def _openai_cost(project: str, value: float, line_item: str | None = None) -> dict:
    return {"object": "organization.costs.result", "amount": {"value": value, "currency": "usd"},
            "line_item": line_item, "project_id": project, "api_key_id": None,
            "quantity": None, "quantity_unit": None}  # fmt: skip


def _anthropic_page(results: list[dict]) -> dict:
    day = FIRST_DAY.date()
    return {"data": [{"starting_at": f"{day}T00:00:00Z",
                      "ending_at": f"{day + timedelta(1)}T00:00:00Z", "results": results}],
            "has_more": False, "next_page": None}  # fmt: skip


# The cost report without group_by[]=description: one amount (cents) per workspace.
ANTHROPIC_COST = {"currency": "USD", "amount": "150", "workspace_id": "wrkspc_d",
                  "description": None, "cost_type": None, "context_window": None,
                  "model": None, "service_tier": None, "token_type": None}  # fmt: skip


def _anthropic_usage(model: str, tokens: int) -> dict:
    """A usage report row grouped by workspace and model (it names the model)."""
    return {"uncached_input_tokens": tokens, "cache_creation": {"ephemeral_1h_input_tokens": 0,
            "ephemeral_5m_input_tokens": 0}, "cache_read_input_tokens": 0, "output_tokens": 0,
            "api_key_id": None, "workspace_id": "wrkspc_d", "model": model,
            "service_tier": None, "context_window": None}  # fmt: skip


@pytest.fixture
def reconciliation(settings) -> list[dict]:
    (settings.config_dir / "agents.yaml").write_text(REGISTRY)
    spans, n = [], 0
    for i in range(4):
        for _ in range(i + 1):  # 3 traced calls of each 4 billed
            for model, tokens in OMEGA_CALLS:
                n += 1
                spans += llm_case(n, "omega", FIRST_DAY + timedelta(i), tokens, model=model)
    # delta: claude-3-5-haiku $0.80 and claude-sonnet-4 $3.00 per million input tokens
    spans += llm_case(n + 1, "delta", FIRST_DAY, 1_000_000, provider="anthropic",
                      model="claude-3-5-haiku-20241022")  # fmt: skip
    spans += llm_case(n + 2, "delta", FIRST_DAY, 100_000, provider="anthropic",
                      model="claude-sonnet-4-20250514")  # fmt: skip
    spans += llm_case(n + 3, "mu", FIRST_DAY, 1_000_000)  # gpt-4o-mini
    raw = settings.raw_dir
    (raw / "traces.jsonl").write_text(line(*spans) + "\n")
    # queried with group_by[]=project_id only: no line_item, so no model
    by_project = [[_openai_cost("proj_o", round(0.60 * (i + 1), 2))] for i in range(4)]
    (raw / "openai_costs_by_project.json").write_text(json.dumps(_openai_costs(by_project)))
    # queried with group_by[]=line_item too: a model per line, or a charge of no model
    itemised = [[_openai_cost("proj_m", 0.15, "gpt-4o-mini, input"),
                 _openai_cost("proj_m", 0.10, "file search storage")]]  # fmt: skip
    (raw / "openai_costs_itemised.json").write_text(json.dumps(_openai_costs(itemised)))
    (raw / "anthropic_cost.json").write_text(json.dumps(_anthropic_page([ANTHROPIC_COST])))
    usage = [_anthropic_usage("claude-3-5-haiku-20241022", 1_000_000),
             _anthropic_usage("claude-sonnet-4-20250514", 500_000)]  # fmt: skip
    (raw / "anthropic_usage.json").write_text(json.dumps(_anthropic_page(usage)))
    [reconciliation] = build_from_raw(settings, "billing_reconciliation_daily")
    return reconciliation


def test_a_bill_grouped_by_project_only_shows_the_untraced_share_day_by_day(reconciliation):
    got = {
        r["day"].isoformat(): (
            r["model"], r["billed_cost_usd"], round(r["computed_cost_usd"], 9),
            round(float(r["delta_usd"]), 9), round(r["delta_pct"], 9), r["n_llm_calls"],
            r["traced_tokens"], r["is_model_grain"],
        )
        for r in reconciliation
        if r["sub_account_id"] == "proj_o"
    }  # fmt: skip
    # day i: billed 4·(i+1) calls × $0.15, traced 3·(i+1) of them (2 gpt-4o-mini of 1M
    # tokens, 1 gpt-4o of 60k tokens, per 3): the gap is the 4th call, $0.15·(i+1), 25 %
    assert got == {
        "2026-10-05": (None, Decimal("0.6"), 0.45, 0.15, 0.25, 3, 2_060_000, False),
        "2026-10-06": (None, Decimal("1.2"), 0.90, 0.30, 0.25, 6, 4_120_000, False),
        "2026-10-07": (None, Decimal("1.8"), 1.35, 0.45, 0.25, 9, 6_180_000, False),
        "2026-10-08": (None, Decimal("2.4"), 1.80, 0.60, 0.25, 12, 8_240_000, False),
    }
    assert len([r for r in reconciliation if r["sub_account_id"] == "proj_o"]) == 4


def test_an_anthropic_cost_report_without_model_rolls_usage_and_traces_up(reconciliation):
    rows = [r for r in reconciliation if r["provider"] == "anthropic"]
    got = [
        (r["day"].isoformat(), r["sub_account_id"], r["model"], r["billed_cost_usd"],
         round(r["computed_cost_usd"], 9), round(float(r["delta_usd"]), 9), r["n_llm_calls"],
         r["billed_tokens"], r["traced_tokens"], round(r["trace_coverage"], 9),
         r["is_model_grain"])
        for r in rows
    ]  # fmt: skip
    # 150 cents billed; traced 1M haiku tokens ($0.80) + 100k sonnet-4 tokens ($0.30);
    # the usage report (per model) billed 1M + 500k tokens: all on one row, model unknown
    assert got == [
        ("2026-10-05", "wrkspc_d", None, Decimal("1.5"), 1.1, 0.4, 2, 1_500_000, 1_100_000,
         round(1.1 / 1.5, 9), False),
    ]  # fmt: skip


def test_an_itemised_bill_still_reconciles_per_model(reconciliation):
    got = [
        (r["model"], r["billed_cost_usd"], r["computed_cost_usd"], r["n_llm_calls"],
         r["is_model_grain"])
        for r in reconciliation
        if r["sub_account_id"] == "proj_m"
    ]  # fmt: skip
    # mu's 1M gpt-4o-mini tokens ($0.15) against its line; the storage line names no model
    assert got == [
        ("gpt-4o-mini", Decimal("0.15"), pytest.approx(0.15, abs=1e-12), 1, True),
        (None, Decimal("0.1"), None, 0, True),
    ]


def test_the_reconciliation_grain_is_unique(reconciliation):
    keys = [(r["day"], r["provider"], r["sub_account_id"], r["model"]) for r in reconciliation]
    assert len(keys) == len(set(keys)) == 7
