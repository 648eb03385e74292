"""The unit-economics marts on given spans → expected rows, every value worked out by hand.

Fleet: `triage` (fully registered, its own latency target 5 s), `drafter` (registered
without purpose, risk tier or data lineage) and `ghost` (not registered).
Prices: gpt-4o-mini $0.15 per M input tokens; acme-llm has no price.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from pipelines import warehouse
from pipelines.ingest import ingest_file
from tests.conftest import settings_with_registry
from tests.otlp_builder import attr, line, llm_case, ns, span

REGISTRY = """
agents:
  - name: triage
    team: care
    owner: a@example.com
    purpose: Routes tickets.
    risk_tier: low
    data_lineage: tickets in, queue labels out
    human_baseline_usd_per_case: 0.5
    quality_target: 0.8
    slo_targets:
      p95_case_latency_ms: 5000
  - name: drafter
    team: care
    owner: b@example.com
    human_baseline_usd_per_case: 0.1
"""
WEEK1, WEEK2 = date(2026, 10, 5), date(2026, 10, 12)


def _case(n, agent, started, ms, model, input_tokens, quality=None, **root_attrs):
    """Case conv-`n`: `llm_case`, with an evaluation event of `quality` on its root span."""
    agent_span, call = llm_case(n, agent, started, input_tokens, model=model, duration_ms=ms,
                                gen_ai__conversation__id=f"conv-{n}", **root_attrs)  # fmt: skip
    if quality is not None:
        agent_span["events"] = [{
            "timeUnixNano": ns(started), "name": "gen_ai.evaluation.result",
            "attributes": [attr("gen_ai.evaluation.name", "quality"),
                           attr("gen_ai.evaluation.score.value", quality)],
        }]  # fmt: skip
    return [agent_span, call]


@pytest.fixture(scope="module")
def economics(tmp_path_factory):
    settings = settings_with_registry(tmp_path_factory.mktemp("economics"), REGISTRY)
    spans = _case(1, "triage", datetime(2026, 10, 6, 10), 2000, "gpt-4o-mini", 1_000_000, 0.9,
                  fleet__case__outcome="resolved")  # fmt: skip
    spans += _case(2, "triage", datetime(2026, 10, 7, 10), 4000, "gpt-4o-mini", 2_000_000, 0.7,
                   fleet__case__outcome="escalated")  # fmt: skip
    spans += _case(3, "triage", datetime(2026, 10, 13, 10), 1000, "gpt-4o-mini", 0,
                   fleet__fallback=True)  # fmt: skip
    spans += _case(4, "drafter", datetime(2026, 10, 6, 11), 3000, "acme-llm", 500,
                   fleet__case__outcome="weird")  # fmt: skip
    # a tool span whose parent was never stored: the audit trail has a hole
    orphan = span(f"{4:032x}", "000000000000004c", datetime(2026, 10, 6, 11), 10,
                  parent="ffffffffffffffff", gen_ai__operation__name="execute_tool")  # fmt: skip
    spans.append(orphan)
    spans += _case(5, "ghost", datetime(2026, 10, 6, 12), 500, "gpt-4o-mini", 100)
    path = settings.raw_dir / "week.jsonl"
    path.write_text(line(*spans) + "\n")
    ingest_file(path, settings)
    warehouse.build(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    yield con
    con.close()


def _rows(con, sql):
    return con.sql(sql).pl().to_dicts()


def test_fct_llm_calls_cost_and_source(economics):
    rows = _rows(economics, "select conversation_id, cost_usd, cost_source from fct_llm_calls "
                            "order by conversation_id")  # fmt: skip
    assert [(r["conversation_id"], r["cost_source"]) for r in rows] == [
        ("conv-1", "computed"), ("conv-2", "computed"), ("conv-3", "computed"),
        ("conv-4", "unpriced"), ("conv-5", "computed"),
    ]  # fmt: skip
    costs = [r["cost_usd"] for r in rows]
    assert costs[:3] == [pytest.approx(0.15), pytest.approx(0.30), 0.0]
    assert costs[3] is None  # unpriced is unknown, never $0
    assert costs[4] == pytest.approx(100 * 0.15 / 1e6)


def test_fct_cases_outcomes_and_audit(economics):
    rows = _rows(economics, "select conversation_id, agent_name, outcome, is_resolved, "
                            "duration_ms, quality_score, n_spans, n_audit_complete_spans, "
                            "n_tool_calls from fct_cases order by conversation_id")  # fmt: skip
    assert [(r["conversation_id"], r["outcome"], r["quality_score"]) for r in rows] == [
        ("conv-1", "resolved", 0.9), ("conv-2", "escalated", 0.7), ("conv-3", "fallback", None),
        ("conv-4", "unknown", None), ("conv-5", "unknown", None),
    ]  # fmt: skip
    drafter = rows[3]
    assert (drafter["n_spans"], drafter["n_audit_complete_spans"]) == (3, 2)
    assert drafter["duration_ms"] == 3000


def test_agent_weekly_hand_checked(economics):
    (week,) = _rows(economics, f"select * from agent_weekly where agent_name = 'triage' "
                               f"and week_start = '{WEEK1}'")  # fmt: skip
    assert (week["n_cases"], week["n_resolved_cases"], week["resolution_rate"]) == (2, 1, 0.5)
    assert week["cost_usd"] == pytest.approx(0.45)  # 0.15 + 0.30
    assert week["cost_per_case_usd"] == pytest.approx(0.225)
    assert week["cost_per_resolved_case_usd"] == pytest.approx(0.45)
    assert week["human_cost_usd"] == pytest.approx(1.0)  # 2 cases × $0.50
    # savings count the resolved case only; the escalated one still costs a human $0.50
    assert week["human_work_saved_usd"] == pytest.approx(0.5)  # 1 resolved × $0.50
    assert week["unresolved_handling_usd"] == pytest.approx(0.5)  # 1 unresolved × $0.50
    assert week["net_saving_usd"] == pytest.approx(0.05)  # 1.00 − 0.45 − 0.50
    assert week["net_saving_per_case_usd"] == pytest.approx(0.025)
    assert week["break_even_resolution_rate"] == pytest.approx(0.45)  # (0.225 + 0.5 − 0.5) / 0.5
    # ratio estimator: costs (0.15 resolved, 0.30 not), R = 0.45; s² = (0.1125 − 2 × 0.45 ×
    # 0.15 + 0.45² × 1) / 1 = 0.18; half width 1.96 × √(0.18 × 2) / 1 = 1.176
    assert (week["cost_per_resolved_case_ci_low"], week["cost_per_resolved_case_ci_high"]) == (
        pytest.approx(0.45 - 1.176), pytest.approx(0.45 + 1.176))  # fmt: skip
    assert (week["priced_share"], week["is_cost_partial"]) == (1.0, False)
    assert week["quality_mean"] == pytest.approx(0.8)
    # sd(0.9, 0.7) = 0.141421…; 1.96 × 0.141421 / √2 = 0.196
    assert (week["quality_ci_low"], week["quality_ci_high"]) == (
        pytest.approx(0.604), pytest.approx(0.996))  # fmt: skip
    assert (week["n_scored_cases"], week["scored_share"]) == (2, 1.0)
    # case durations {2000, 4000}: p50 3000, p95 2000 + 0.95 × 2000, p99 2000 + 0.99 × 2000
    latency = (week["p50_case_latency_ms"], week["p95_case_latency_ms"],
               week["p99_case_latency_ms"])  # fmt: skip
    assert latency == (3000, pytest.approx(3900), pytest.approx(3980))
    assert (week["fallback_rate"], week["n_llm_calls"], week["error_rate"]) == (0, 2, 0)
    assert week["input_tokens"] == 3_000_000
    assert week["model_mix"] == {"gpt-4o-mini": 1.0}
    assert week["allocated_billed_usd"] == 0  # no bills in this fixture
    monthly = _rows(economics, "select agent_name, n_cases, cost_usd from agent_monthly "
                               "order by agent_name")  # fmt: skip
    assert [(r["agent_name"], r["n_cases"]) for r in monthly] == [
        ("drafter", 1), ("ghost", 1), ("triage", 3)]  # fmt: skip


def test_unpriced_cost_stays_unknown_in_agent_monthly(economics):
    """drafter's only call is on acme-llm, which has no price: its cost is unknown, never
    $0, and nothing derived from cost pretends otherwise."""
    (drafter,) = _rows(economics, "select * from agent_monthly where agent_name = 'drafter'")
    assert (drafter["n_llm_calls"], drafter["n_unpriced_calls"], drafter["priced_share"]) == (
        1, 1, 0.0)  # fmt: skip
    unknown = ("cost_usd", "cost_per_case_usd", "cost_per_resolved_case_usd", "net_saving_usd",
               "net_saving_per_case_usd", "break_even_resolution_rate")  # fmt: skip
    assert {name: drafter[name] for name in unknown} == dict.fromkeys(unknown)
    assert drafter["is_cost_partial"] is False  # nothing priced: unknown, not partial
    assert drafter["human_cost_usd"] == pytest.approx(0.1)  # 1 case × $0.10


def test_slo_weekly_targets_actuals_and_budgets(economics):
    rows = _rows(economics, "select week_start, agent_name, slo, target, target_source, actual, "
                            "is_met, n_events, n_bad_events, error_budget_used from slo_weekly "
                            "where agent_name <> 'ghost' order by all")  # fmt: skip
    got = {(str(r["week_start"]), r["agent_name"], r["slo"]): r for r in rows}
    latency = got[(str(WEEK1), "triage", "p95_case_latency_ms")]
    assert (latency["target"], latency["target_source"], latency["is_met"]) == (
        5000, "registry", True)  # fmt: skip
    assert (latency["n_bad_events"], latency["error_budget_used"]) == (0, 0)
    fallback = got[(str(WEEK2), "triage", "fallback_rate")]
    assert (fallback["actual"], fallback["is_met"]) == (1.0, False)
    assert fallback["error_budget_used"] == pytest.approx(1 / 0.008)  # 125× the budget
    slow = got[(str(WEEK1), "drafter", "p95_case_latency_ms")]
    assert (slow["target"], slow["target_source"], slow["actual"], slow["is_met"]) == (
        2500, "policy", 3000, False)  # fmt: skip
    assert slow["error_budget_used"] == pytest.approx(1 / 0.05)  # 1 of 1 cases slow
    audit = got[(str(WEEK1), "drafter", "audit_completeness")]
    assert (audit["actual"], audit["n_events"], audit["n_bad_events"]) == (
        pytest.approx(2 / 3), 3, 1)  # fmt: skip
    assert audit["error_budget_used"] == pytest.approx((1 / 3) / (1 - 0.9999))


def test_governance_lists_gaps_and_unregistered_agents(economics):
    rows = _rows(economics, "select agent_name, is_registered, missing, is_compliant "
                            "from governance_gaps order by agent_name")  # fmt: skip
    assert rows == [
        {"agent_name": "drafter", "is_registered": True,
         "missing": ["purpose", "risk_tier", "data_lineage"], "is_compliant": False},
        {"agent_name": "ghost", "is_registered": False, "missing": ["registry entry"],
         "is_compliant": False},
        {"agent_name": "triage", "is_registered": True, "missing": [], "is_compliant": True},
    ]  # fmt: skip


def test_every_table_view_and_column_is_documented(economics):
    undocumented = economics.execute(
        "select table_name, column_name from duckdb_columns() "
        "where comment is null and not internal and database_name = current_database()"
    ).fetchall()
    relations = economics.execute(
        "select table_name from duckdb_tables() where comment is null "
        "union all select view_name from duckdb_views() where comment is null and not internal"
    ).fetchall()
    assert (undocumented, relations) == ([], [])
