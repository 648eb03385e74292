"""Drift's daily counts as rollups (issue 21): int_drift_values_daily and
int_drift_categories_daily, which a build of one new day recomputes for that day only, hold
the counts their model SQL gives over the whole of the facts; and drift reading them gives
the rows drift gives reading the facts (a warehouse of facts only runs the same model SQL
over them), every column and every bit.

A 6-day demo delivered in two parts, a build after each: the second is incremental (late
spans of old days, two new days), so its rollups are partly copied, partly recomputed."""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines import warehouse
from pipelines.drift import facts
from pipelines.drift.marts import MARTS, build_marts
from pipelines.ingest import ingest_paths
from pipelines.policy import DriftPolicy
from tests.conftest import generated_demo

POLICY = DriftPolicy()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(settings, the second build's result): the demo's warehouse, built incrementally."""
    root = tmp_path_factory.mktemp("drift-rollups")
    settings = generated_demo(root, days=6, calls_per_day=300, seed=7, end=date(2026, 10, 6))
    traces = sorted((settings.raw_dir / "traces").glob("*.jsonl"))
    ingest_paths(traces[:4], settings)
    warehouse.build(settings)
    ingest_paths([settings.raw_dir], settings)
    second = warehouse.build(settings)
    assert second.mode == "incremental"
    return settings, second


@pytest.fixture
def con(built):
    settings, _ = built
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    yield con
    con.close()


@pytest.fixture
def facts_only(built):
    """A warehouse of the same facts and nothing else (as the tests and benches build)."""
    settings, _ = built
    con = duckdb.connect()
    con.execute(f"attach '{settings.warehouse_path}' as built (read_only)")
    for fact in ("fct_cases", "fct_llm_calls"):
        con.execute(f"create view {fact} as select * from built.main.{fact}")
    yield con
    con.close()


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


@pytest.mark.parametrize("name", facts.COUNTS)
def test_an_incremental_rollup_holds_the_counts_of_all_the_facts(built, con, name):
    _, second = built
    rollup = con.sql(f"select * from {name}").pl()
    counted = con.sql(facts.count_model_sql(name)).pl()
    assert_frame_equal(_sorted(rollup), _sorted(counted), check_exact=True)
    # the build recomputed some days and copied the others, all of them with data
    assert sorted(rollup["day"].unique()) == [date(2026, 10, day) for day in range(1, 7)]
    assert 0 < len(second.touched_days) < 6


def test_the_counts_add_up_to_the_facts(con):
    """Each case once per case metric it has a value of (every case a latency, not every
    case tokens); each tool execution once in the tool mix, each LLM call in the model mix."""
    counts = dict(con.sql("select metric, sum(n)::bigint from int_drift_categories_daily "
                          "group by all").fetchall())  # fmt: skip
    cases, calls, executions = con.sql(
        "select (select count(*) from fct_cases where agent_name is not null), "
        "(select count(*) from fct_llm_calls where agent_name is not null), "
        "(select sum(len(tool_names)) from fct_cases where agent_name is not null)"
    ).fetchall()[0]
    assert counts == {"outcome": cases, "intent": cases, "tool": executions, "model": calls}
    values = dict(con.sql("select metric, sum(n)::bigint from int_drift_values_daily "
                          "group by all").fetchall())  # fmt: skip
    with_tokens, scored = con.sql(
        "select count(input_tokens), count(quality_score) from fct_cases "
        "where agent_name is not null"
    ).fetchall()[0]
    assert (values["latency_ms"], values["input_tokens"], values["quality"]) == (
        cases, with_tokens, scored)  # fmt: skip
    assert cases > with_tokens > 0 and scored > 0


def test_drift_from_the_rollups_equals_drift_from_the_facts(built, con, facts_only):
    """The warehouse's drift marts (built incrementally, from its rollups), drift over its
    rollups now, and drift over its facts alone: the same rows."""
    from_rollups = build_marts(con, POLICY)
    from_facts = build_marts(facts_only, POLICY)
    for name in MARTS.values():
        stored = con.sql(f"select * from {name}").pl()
        assert len(stored) > 0
        assert_frame_equal(pl.from_arrow(from_rollups[name]), stored, check_exact=True)
        assert_frame_equal(pl.from_arrow(from_facts[name]), stored, check_exact=True)
    # the facts-only path leaves no view behind
    assert not facts.has_tables(facts_only, ("int_drift_values_daily",))
    assert facts_only.sql("select count(*) from duckdb_views() where view_name like "
                          "'int_drift%'").fetchall() == [(0,)]  # fmt: skip


def test_drift_reads_the_rollups_when_the_warehouse_has_them(con, facts_only):
    """Views over the facts only where the rollups are missing."""
    for warehouse_con, views in ((con, ()), (facts_only, facts.COUNTS)):
        data = facts.DriftFacts(warehouse_con)
        try:
            assert data.views == views
        finally:
            data.close()
