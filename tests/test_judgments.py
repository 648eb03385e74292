"""The judgments the monthly review shows, decided in the warehouse (portfolio_monthly,
fleet_monthly, agent_monthly), on a small fleet shaped unlike the demo. Every expected
value is worked out by hand below.

Fleet (gpt-4o-mini: $0.15 per million input tokens, every call 1M input tokens = $0.15):
- small: 40 cases in September and 40 in October (far under the old 300-case floor), 20
  resolved each month: cost per resolved case $0.30 against a $0.20 human baseline. In
  October one of its spans is quarantined and its bill shows 43 calls for 40 traced.
- saver: 40 cases in October, 30 resolved; baseline $1.00, escalation $3.00 per case.
- unpriced: 40 resolved cases in October on acme-llm, a model without a price.
- ghost: 3 resolved cases in October, not in the registry.
Bills (OpenAI costs API, October 15): small's key $6.45 (its 40 traced calls cost $6.00),
saver's key $6.00, and $0.45 on a key nobody claims.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pytest

from pipelines import warehouse
from pipelines.ingest import ingest_file
from tests.conftest import settings_with_registry
from tests.otlp_builder import line, llm_case, span

GOVERNED = "team: care, owner: a@example.com, purpose: Answers., risk_tier: low, data_lineage: x"
REGISTRY = f"""
agents:
  - {{name: small, {GOVERNED}, human_baseline_usd_per_case: 0.2,
     billing: {{openai_project: proj_s, api_key: key_s}}}}
  - {{name: saver, {GOVERNED}, human_baseline_usd_per_case: 1.0, escalation_cost_usd: 3.0,
     billing: {{openai_project: proj_v, api_key: key_v}}}}
  - {{name: unpriced, {GOVERNED}, human_baseline_usd_per_case: 1.0}}
"""
SEPTEMBER, OCTOBER = datetime(2026, 9, 15, 10), datetime(2026, 10, 15, 10)


class Fleet:
    """Cases as OTLP spans: an agent span and one LLM call each."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.n = 0

    def cases(self, agent, day, count, resolved, model="gpt-4o-mini", provider="openai"):
        """`count` cases of `agent`, the first `resolved` of them resolved, the others
        escalated; returns the last case's trace and root span ids."""
        for i in range(count):
            self.n += 1
            outcome = "resolved" if i < resolved else "escalated"
            self.spans += llm_case(self.n, agent, day, 1_000_000, provider=provider, model=model,
                                   duration_ms=1000, gen_ai__conversation__id=f"{agent}-{self.n}",
                                   fleet__case__outcome=outcome)  # fmt: skip
        root = self.spans[-2]
        return root["traceId"], root["spanId"]

    def broken_leaf(self, trace: str, parent: str, day: datetime) -> None:
        """A tool span that ends before it starts: quarantined at ingest."""
        bad = span(trace, f"{self.n:015x}c", day, 10, parent=parent,
                   gen_ai__operation__name="execute_tool")  # fmt: skip
        bad["endTimeUnixNano"] = str(int(bad["startTimeUnixNano"]) - 1)
        self.spans.append(bad)


def _page(day: datetime, results: list[dict]) -> str:
    start = int(day.replace(hour=0, tzinfo=UTC).timestamp())
    return json.dumps({"object": "page", "has_more": False, "next_page": None, "data": [{
        "object": "bucket", "start_time": start, "end_time": start + 86_400,
        "results": results}]})  # fmt: skip


def _cost(project: str, key: str, value: str) -> dict:
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": "usd"},
        "line_item": "gpt-4o-mini, input",
        "project_id": project,
        "api_key_id": key,
    }


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    settings = settings_with_registry(tmp_path_factory.mktemp("judgments"), REGISTRY)
    fleet = Fleet()
    fleet.cases("small", SEPTEMBER, 40, resolved=20)
    trace, root_span = fleet.cases("small", OCTOBER, 40, resolved=20)
    fleet.broken_leaf(trace, root_span, OCTOBER)
    fleet.cases("saver", OCTOBER, 40, resolved=30)
    fleet.cases("unpriced", OCTOBER, 40, resolved=40, model="acme-llm", provider="acme")
    fleet.cases("ghost", OCTOBER, 3, resolved=3)
    files = {
        "traces.jsonl": line(*fleet.spans) + "\n",
        "costs.json": _page(
            OCTOBER,
            [
                _cost("proj_s", "key_s", "6.45"),
                _cost("proj_v", "key_v", "6.00"),
                _cost("proj_g", "key_g", "0.45"),
            ],
        ),
        "usage.json": _page(
            OCTOBER,
            [
                {
                    "object": "organization.usage.completions.result",
                    "input_tokens": 43_000_000,
                    "output_tokens": 0,
                    "num_model_requests": 43,
                    "project_id": "proj_s",
                    "api_key_id": "key_s",
                    "model": "gpt-4o-mini",
                }
            ],
        ),
    }
    for name, text in files.items():
        (settings.raw_dir / name).write_text(text)
        ingest_file(settings.raw_dir / name, settings)
    warehouse.build(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    yield con
    con.close()


def _row(con, sql: str) -> dict:
    (row,) = con.sql(sql).pl().to_dicts()
    return row


def _portfolio(con, month: str) -> dict[str, dict]:
    rows = con.sql(f"select * from portfolio_monthly where month_start = '{month}'").pl()
    return {row["agent_name"]: row for row in rows.to_dicts()}


def test_a_small_agent_above_its_baseline_two_months_running_is_retired(marts):
    """40 cases, 20 resolved, each $0.15: ratio 6.00 / 20 = $0.30; s² = (40 × 0.0225 −
    2 × 0.30 × 3.00 + 0.09 × 20) / 39 = 0.9 / 39; half width 1.96 × √(0.9 / 39 × 40) / 20
    = 0.0941554: the interval [0.2058446, 0.3941554] lies above $0.20 both months."""
    for month in ("2026-09-01", "2026-10-01"):
        small = _row(marts, f"select * from agent_monthly where agent_name = 'small' "
                            f"and month_start = '{month}'")  # fmt: skip
        assert small["cost_per_resolved_case_usd"] == pytest.approx(0.30)
        assert small["cost_per_resolved_case_ci_low"] == pytest.approx(0.2058446, abs=1e-7)
        assert small["cost_per_resolved_case_ci_high"] == pytest.approx(0.3941554, abs=1e-7)
    september, october = _portfolio(marts, "2026-09-01"), _portfolio(marts, "2026-10-01")
    assert (september["small"]["verdict"], september["small"]["decided_by"]) == (
        "watch", ["cost_above_baseline"])  # fmt: skip
    small = october["small"]
    assert (small["verdict"], small["decided_by"], small["cost_evidence"]) == (
        "retire", ["cost_above_baseline"], "above")  # fmt: skip
    assert small["rule"] == (
        "cost per resolved case $0.30, 95 % interval [$0.21, $0.39] above the $0.20 human "
        "baseline 2 months running"
    )


def test_unregistered_and_unpriced_agents_are_watched_and_the_judged_one_kept(marts):
    october = _portfolio(marts, "2026-10-01")
    ghost = october["ghost"]
    assert (ghost["verdict"], ghost["decided_by"], ghost["is_registered"]) == (
        "watch", ["not_registered"], False)  # fmt: skip
    unpriced = october["unpriced"]
    assert (unpriced["verdict"], unpriced["decided_by"]) == ("watch", ["cost_unpriced"])
    assert (unpriced["cost_usd"], unpriced["net_saving_usd"], unpriced["priced_share"]) == (
        None, None, 0.0)  # fmt: skip
    # saver: R = 6.00 / 30 = $0.20; s² = (0.9 − 2 × 0.2 × 4.5 + 0.04 × 30) / 39 = 0.3 / 39;
    # half width 1.96 × √(0.3 / 39 × 40) / 30 = 0.0362404: [0.16376, 0.23624] < $1.00
    saver = october["saver"]
    assert (saver["verdict"], saver["cost_evidence"], saver["quality_evidence"]) == (
        "keep", "below", "unknown")  # fmt: skip
    assert saver["cost_per_resolved_case_ci_high"] == pytest.approx(0.2362404, abs=1e-7)
    # September: registered agents without a case are there, with too little data
    september = _portfolio(marts, "2026-09-01")
    verdicts = {name: row["verdict"] for name, row in september.items()}
    assert verdicts == {"small": "watch", "saver": "insufficient data",
                        "unpriced": "insufficient data"}  # fmt: skip
    assert september["saver"]["rule"] == "0 cases < 30 (min_cases)"


def test_savings_count_resolved_cases_and_escalations_cost_a_human(marts):
    rows = marts.sql(
        "select agent_name, human_work_saved_usd, unresolved_handling_usd, net_saving_usd, "
        "break_even_resolution_rate from agent_monthly where month_start = '2026-10-01'"
    ).pl()
    got = {r["agent_name"]: r for r in rows.to_dicts()}
    # small: 20 × $0.20 saved; 20 unresolved × $0.20; net 40 × 0.2 − 6 − 4 = −2;
    # break-even (0.15 + 0.2 − 0.2) / 0.2 = 0.75 (it resolves 0.5)
    assert got["small"]["human_work_saved_usd"] == pytest.approx(4.0)
    assert got["small"]["net_saving_usd"] == pytest.approx(-2.0)
    assert got["small"]["break_even_resolution_rate"] == pytest.approx(0.75)
    # saver: net 40 × 1 − 6 − 10 × 3 = 4 (the old formula said 40 − 6 = 34);
    # break-even (0.15 + 3 − 1) / 3 = 0.716667
    assert got["saver"]["unresolved_handling_usd"] == pytest.approx(30.0)
    assert got["saver"]["net_saving_usd"] == pytest.approx(4.0)
    assert got["saver"]["break_even_resolution_rate"] == pytest.approx(2.15 / 3)


def test_audit_completeness_counts_quarantined_spans_and_untraced_billed_calls(marts):
    small = _row(marts, "select * from agent_monthly where agent_name = 'small' "
                        "and month_start = '2026-10-01'")  # fmt: skip
    # 80 stored spans, all complete; 1 quarantined; 43 billed requests − 40 traced = 3
    assert (small["n_spans"], small["n_audit_complete_spans"]) == (80, 80)
    assert (small["n_quarantined_spans"], small["n_untraced_calls"]) == (1, 3)
    assert small["n_audit_events"] == 84
    assert small["audit_completeness"] == pytest.approx(80 / 84)
    audit = _row(marts, "select * from slo_weekly where agent_name = 'small' "
                        "and slo = 'audit_completeness' and week_start = '2026-10-12'")  # fmt: skip
    assert (audit["actual"], audit["is_met"], audit["n_bad_events"]) == (
        pytest.approx(80 / 84), False, 4)  # fmt: skip
    small = _portfolio(marts, "2026-10-01")["small"]
    assert (small["slo_weeks"], small["slo_weeks_met"], small["slo_missed"]) == (
        1, 0, ["audit_completeness"])  # fmt: skip


def test_fleet_monthly_holds_every_fleet_figure(marts):
    fleet = _row(marts, "select * from fleet_monthly where month_start = '2026-10-01'")
    assert (fleet["n_agents"], fleet["n_cases"], fleet["n_resolved_cases"]) == (4, 123, 93)
    # computed: small 6.00 + saver 6.00 + ghost 0.45; unpriced unknown, so partial
    assert (fleet["computed_usd"], fleet["is_cost_partial"]) == (pytest.approx(12.45), True)
    assert fleet["cost_per_resolved_case_usd"] == pytest.approx(12.45 / 93)
    # billed 6.45 + 6.00 + 0.45; traced calls explain all but small's 3 untraced ($0.45)
    assert fleet["billed_usd"] == pytest.approx(12.90)
    assert fleet["reconciled_computed_usd"] == pytest.approx(12.45)
    assert fleet["gap_usd"] == pytest.approx(0.45)
    assert fleet["unattributed_usd"] == pytest.approx(0.45)
    assert fleet["trace_coverage"] == pytest.approx(40 / 43)  # the only usage report
    assert (fleet["n_quarantined_spans"], fleet["n_untraced_calls"]) == (1, 3)
    verdicts = (fleet["n_retire"], fleet["n_watch"], fleet["n_keep"], fleet["n_insufficient_data"])
    assert verdicts == (1, 2, 1, 0)
    # net saving: small −2 + saver 4 + ghost (no baseline) and unpriced (no cost) unknown
    assert fleet["net_saving_usd"] == pytest.approx(2.0)
