"""Multi-agent traces: a span belongs to its nearest invoke_agent ancestor; the case is the
root agent's and keeps the total. Every value worked out by hand.

Prices: gpt-4o-mini $0.15 per M input tokens (no output tokens here).
Trace 1 (conv-1, 2026-10-06): orchestrator → its chat (1M tokens, $0.15) and the sub-agent
researcher (started at the same instant) → its chat (2M, $0.30) and a tool.
Trace 2 (conv-2, 2026-10-07): orchestrator → its chat (100k, $0.015) and writer → a step
span → writer's chat (200k, $0.03) and editor → a tool → editor's chat (400k, $0.06).
"""

from __future__ import annotations

import math
import shutil
from datetime import datetime

import duckdb
import pytest

from pipelines import warehouse
from pipelines.ingest import ingest_file
from pipelines.settings import Settings
from tests.conftest import settings_with_registry
from tests.otlp_builder import line, span

REGISTRY = """
agents:
  - name: orchestrator
    team: care
    owner: a@example.com
    human_baseline_usd_per_case: 1.0
"""
TRACE_1, TRACE_2 = f"{1:032x}", f"{2:032x}"
DAY_1, DAY_2 = datetime(2026, 10, 6, 10), datetime(2026, 10, 7, 10)


def _chat(trace, span_id, start, parent, input_tokens, **attrs):
    return span(
        trace,
        span_id,
        start,
        500,
        parent=parent,
        gen_ai__operation__name="chat",
        gen_ai__provider__name="openai",
        gen_ai__request__model="gpt-4o-mini",
        gen_ai__usage__input_tokens=input_tokens,
        gen_ai__usage__output_tokens=0,
        **attrs,
    )


def _agent(trace, span_id, start, name, parent="", **attrs):
    return span(
        trace,
        span_id,
        start,
        10_000,
        parent=parent,
        gen_ai__operation__name="invoke_agent",
        gen_ai__agent__name=name,
        **attrs,
    )


def orchestrator_spans() -> list[dict]:
    """Trace 1's orchestrator part: its agent span (case id and outcome) and its call."""
    return [
        _agent(
            TRACE_1,
            "00000000000000f0",
            DAY_1,
            "orchestrator",
            gen_ai__conversation__id="conv-1",
            gen_ai__agent__version="o-1",
            fleet__case__outcome="resolved",
        ),
        _chat(TRACE_1, "00000000000000f1", DAY_1, "00000000000000f0", 1_000_000),
    ]


def researcher_spans() -> list[dict]:
    """Trace 1's sub-agent part: researcher (same start as the orchestrator, a lower span
    id), its call and a tool."""
    return [
        _agent(
            TRACE_1,
            "0000000000000001",
            DAY_1,
            "researcher",
            parent="00000000000000f0",
            gen_ai__agent__version="r-7",
        ),
        _chat(TRACE_1, "0000000000000002", DAY_1, "0000000000000001", 2_000_000),
        span(
            TRACE_1,
            "0000000000000003",
            DAY_1,
            50,
            parent="0000000000000001",
            gen_ai__operation__name="execute_tool",
            gen_ai__tool__name="search",
        ),
    ]


def nested_spans() -> list[dict]:
    """Trace 2: orchestrator → writer → editor, with non-agent spans in between."""
    at = DAY_2.replace
    return [
        _agent(
            TRACE_2, "00000000000000a0", DAY_2, "orchestrator", gen_ai__conversation__id="conv-2"
        ),
        _chat(TRACE_2, "00000000000000a1", at(second=1), "00000000000000a0", 100_000),
        _agent(TRACE_2, "00000000000000b0", at(second=2), "writer", parent="00000000000000a0"),
        span(TRACE_2, "00000000000000b1", at(second=3), 5000, parent="00000000000000b0"),
        _chat(TRACE_2, "00000000000000b2", at(second=3), "00000000000000b1", 200_000),
        _agent(TRACE_2, "00000000000000c0", at(second=4), "editor", parent="00000000000000b1"),
        span(
            TRACE_2,
            "00000000000000c1",
            at(second=5),
            1000,
            parent="00000000000000c0",
            gen_ai__operation__name="execute_tool",
            gen_ai__tool__name="lint",
        ),
        _chat(TRACE_2, "00000000000000c2", at(second=5), "00000000000000c1", 400_000),
    ]


def _ingest(settings: Settings, name: str, spans: list[dict]) -> None:
    path = settings.raw_dir / name
    path.write_text(line(*spans) + "\n")
    ingest_file(path, settings)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    settings = settings_with_registry(tmp_path_factory.mktemp("multi_agent"), REGISTRY)
    _ingest(settings, "traces.jsonl", orchestrator_spans() + researcher_spans() + nested_spans())
    warehouse.build(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    yield con
    con.close()


def _rows(con, sql):
    return con.sql(sql).fetchall()


def test_each_call_belongs_to_its_nearest_agent(fleet):
    rows = _rows(
        fleet,
        "select span_id, agent_name, case_agent_name, agent_version, "
        "conversation_id, round(cost_usd, 9) from fct_llm_calls "
        "order by span_id",
    )
    assert rows == [
        ("0000000000000002", "researcher", "orchestrator", "r-7", "conv-1", 0.30),
        ("00000000000000a1", "orchestrator", "orchestrator", None, "conv-2", 0.015),
        ("00000000000000b2", "writer", "orchestrator", None, "conv-2", 0.03),
        ("00000000000000c2", "editor", "orchestrator", None, "conv-2", 0.06),
        ("00000000000000f1", "orchestrator", "orchestrator", "o-1", "conv-1", 0.15),
    ]


def test_llm_calls_daily_gives_each_agent_its_own_cost(fleet):
    rows = _rows(
        fleet,
        "select day::varchar, agent_name, n_llm_calls, input_tokens, "
        "round(cost_usd, 9) from llm_calls_daily order by all",
    )
    assert rows == [
        ("2026-10-06", "orchestrator", 1, 1_000_000, 0.15),
        ("2026-10-06", "researcher", 1, 2_000_000, 0.30),
        ("2026-10-07", "editor", 1, 400_000, 0.06),
        ("2026-10-07", "orchestrator", 1, 100_000, 0.015),
        ("2026-10-07", "writer", 1, 200_000, 0.03),
    ]


def test_the_root_case_keeps_the_total_and_no_sub_agent_has_a_case(fleet):
    rows = _rows(
        fleet,
        "select conversation_id, agent_name, agent_version, n_spans, "
        "n_llm_calls, n_subagent_calls, n_tool_calls, tool_names, "
        "round(cost_usd, 9), round(subagent_cost_usd, 9), input_tokens, "
        "outcome from fct_cases order by conversation_id",
    )
    assert rows == [
        (
            "conv-1",
            "orchestrator",
            "o-1",
            5,
            2,
            1,
            1,
            ["search"],
            0.45,
            0.30,
            3_000_000,
            "resolved",
        ),
        ("conv-2", "orchestrator", None, 8, 3, 2, 1, ["lint"], 0.105, 0.09, 700_000, "unknown"),
    ]


def test_each_trace_maps_to_the_root_agents_case(fleet):
    rows = _rows(
        fleet,
        "select trace_id, conversation_id, agent_name, n_spans "
        "from fct_case_traces order by trace_id",
    )
    assert rows == [(TRACE_1, "conv-1", "orchestrator", 5), (TRACE_2, "conv-2", "orchestrator", 8)]


def test_fleet_totals_agree(fleet):
    (calls,) = _rows(fleet, "select round(sum(cost_usd), 9) from llm_calls_daily")
    (cases,) = _rows(fleet, "select round(sum(cost_usd), 9) from fct_cases")
    assert calls == cases == (0.555,)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_a_late_orchestrator_moves_the_case_and_incremental_equals_full(tmp_path):
    """The sub-agent's spans arrive first (its case, for now); the orchestrator's a build
    later. The incremental build recomputes the trace whole, as a full build does."""
    settings = settings_with_registry(tmp_path, REGISTRY)
    _ingest(settings, "early.jsonl", researcher_spans())
    warehouse.build(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        early = _rows(con, "select agent_name, conversation_id, n_llm_calls from fct_cases")
    assert early == [("researcher", TRACE_1, 1)]  # its parent not stored yet: a root

    _ingest(settings, "late.jsonl", orchestrator_spans())
    assert warehouse.build(settings).mode == "incremental"
    incremental = tmp_path / "incremental.duckdb"
    shutil.copy(settings.warehouse_path, incremental)
    assert warehouse.build(settings, full=True).mode == "full"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        con.execute(f"attach '{incremental}' as incremental (read_only)")
        cases = _rows(
            con,
            "select agent_name, conversation_id, n_llm_calls, "
            "n_subagent_calls from incremental.fct_cases",
        )
        assert cases == [("orchestrator", "conv-1", 2, 1)]
        for name in (
            "fct_cases",
            "fct_llm_calls",
            "fct_case_traces",
            "llm_calls_daily",
            "agent_daily",
            "agent_weekly",
            "agent_monthly",
        ):
            full_rows = _rows(con, f"select * from {name} order by all")
            inc_rows = _rows(con, f"select * from incremental.{name} order by all")
            assert len(full_rows) == len(inc_rows), name
            for full_row, inc_row in zip(full_rows, inc_rows, strict=True):
                assert all(map(_same, full_row, inc_row)), (name, full_row, inc_row)
