"""The warehouse: attribution through the trace, the agent_daily mart, the atomic swap."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from pipelines import portfolio, warehouse
from pipelines.drift import marts as drift_marts
from pipelines.ingest import ingest_file
from pipelines.models import load_models
from tests.otlp_builder import line, span

DAY = datetime(2026, 10, 7, 10, 0, 0)
T1, T2 = "11111111111111111111111111111111", "22222222222222222222222222222222"


def _case(trace, root, started, outcome, input_tokens, output_tokens, duration_ms):
    """A root agent span with one gpt-4o-mini call under it (no agent name on the call)."""
    return [
        span(trace, root, started, duration_ms, gen_ai__operation__name="invoke_agent",
             gen_ai__agent__name="weather-agent", gen_ai__conversation__id=f"conv-{root}",
             fleet__case__outcome=outcome),
        span(trace, root[:-1] + "f", started, duration_ms - 10, parent=root,
             gen_ai__operation__name="chat", gen_ai__provider__name="openai",
             gen_ai__request__model="gpt-4o-mini", gen_ai__usage__input_tokens=input_tokens,
             gen_ai__usage__output_tokens=output_tokens),
    ]  # fmt: skip


@pytest.fixture
def built(settings):
    spans = _case(T1, "aaaaaaaaaaaaaaa1", DAY, "resolved", 1_000_000, 100_000, 1000)
    spans += _case(T2, "bbbbbbbbbbbbbbb1", DAY, "escalated", 2_000_000, 0, 3000)
    path = settings.raw_dir / "day.jsonl"
    path.write_text(line(*spans, service="weather-service") + "\n")
    ingest_file(path, settings)
    warehouse.build(settings)
    return settings


def test_llm_calls_inherit_agent_and_case_from_their_trace(built):
    with duckdb.connect(str(built.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select agent_name, conversation_id from fct_llm_calls order by 2"
        ).fetchall()
    assert rows == [("weather-agent", "conv-aaaaaaaaaaaaaaa1"),
                    ("weather-agent", "conv-bbbbbbbbbbbbbbb1")]  # fmt: skip


def test_agent_daily_hand_checked(built):
    with duckdb.connect(str(built.warehouse_path), read_only=True) as con:
        row = con.sql("select * from agent_daily").pl().to_dicts()
    assert len(row) == 1
    day = row[0]
    assert (day["agent_name"], str(day["day"])) == ("weather-agent", "2026-10-07")
    assert (day["n_cases"], day["n_resolved_cases"], day["n_llm_calls"]) == (2, 1, 2)
    assert (day["input_tokens"], day["output_tokens"]) == (3_000_000, 100_000)
    # gpt-4o-mini $0.15 in / $0.60 out per M: 1M in + 0.1M out = 0.21; 2M in = 0.30
    assert day["cost_usd"] == pytest.approx(0.51, abs=1e-12)
    assert day["cost_per_case_usd"] == pytest.approx(0.255, abs=1e-12)
    assert day["cost_per_resolved_case_usd"] == pytest.approx(0.51, abs=1e-12)
    assert day["n_unpriced_calls"] == 0
    # exact p95 of the {1000, 3000} ms case durations: 1000 + 0.95 × 2000
    assert day["p95_case_latency_ms"] == pytest.approx(2900.0)
    with duckdb.connect(str(built.warehouse_path), read_only=True) as con:
        (p95_calls,) = con.execute("select p95_llm_latency_ms from llm_calls_daily").fetchall()
    assert p95_calls == (pytest.approx(2890.0),)  # of the {990, 2990} ms calls


def test_marts_and_lake_views_are_documented(built):
    with duckdb.connect(str(built.warehouse_path), read_only=True) as con:
        undocumented = con.execute(
            "select column_name from duckdb_columns() "
            "where table_name = 'agent_daily' and comment is null"
        ).fetchall()
        view_doc = con.execute(
            "select comment from duckdb_views() where view_name = 'lake_spans'"
        ).fetchall()
    assert undocumented == []
    assert view_doc == [
        ("One row per span: an LLM call, an agent invocation or a tool execution.",)
    ]


def test_rebuild_swaps_atomically_under_an_open_reader(built):
    reader = duckdb.connect(str(built.warehouse_path), read_only=True)
    before = reader.execute("select count(*) from agent_daily").fetchall()
    warehouse.build(built)
    assert reader.execute("select count(*) from agent_daily").fetchall() == before
    reader.close()
    assert not list(built.data_dir.glob(".warehouse-*"))


def test_every_mart_declares_its_grain_and_it_is_unique(demo):
    """Each mart's `-- grain:` header (the Python-built marts: their GRAIN) names the
    columns that identify a row: on the demo, no two rows share them."""
    grains = {m.name: m.grain for m in load_models()
              if m.layer == "marts" and m.materialization != "slice"}  # fmt: skip
    grains |= {name: drift_marts.GRAIN for name in drift_marts.MARTS.values()}
    grains[portfolio.MART] = portfolio.GRAIN
    assert [name for name, grain in grains.items() if not grain] == []
    with duckdb.connect(str(demo.warehouse_path), read_only=True) as con:
        counts = {  # a row of the grain's columns: NULLs compare equal, as in GROUP BY
            name: con.execute(
                f"select count(*), count(distinct row({', '.join(grain)})) from {name}"
            ).fetchall()[0]
            for name, grain in grains.items()
        }
    assert {name: n for name, n in counts.items() if n[0] != n[1]} == {}
    assert counts["portfolio_monthly"][0] > 0 and counts["fleet_monthly"][0] > 0
