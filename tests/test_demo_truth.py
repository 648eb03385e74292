"""The demo's injected economics come out of the marts: read against its ground truth."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from pipelines import warehouse
from pipelines.ingest import ingest_paths
from pipelines.synth import GROUND_TRUTH_FILE
from tests.conftest import generated_demo


@pytest.fixture(scope="module")
def fifty_days(tmp_path_factory):
    """50 days at low volume: long enough to hold the model migration (day 45)."""
    root = tmp_path_factory.mktemp("truth")
    settings = generated_demo(root, days=50, calls_per_day=150, seed=3, end=date(2026, 10, 31))
    ingest_paths([settings.raw_dir], settings)
    warehouse.build(settings)
    truth = json.loads((settings.data_dir / GROUND_TRUTH_FILE).read_text())
    events = {event["type"]: event for event in truth["events"]}
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    yield con, events
    con.close()


def test_agent_above_its_human_baseline(fifty_days):
    con, events = fifty_days
    event = events["cost_above_human_baseline"]
    rows = con.execute(
        "select agent_name, cost_per_case_usd, human_baseline_usd_per_case from agent_monthly "
        "where cost_per_case_usd > human_baseline_usd_per_case"
    ).fetchall()
    assert {agent for agent, _, _ in rows} == {event["agent"]}  # every month, only that one
    assert all(baseline == event["human_baseline_usd_per_case"] for _, _, baseline in rows)
    assert len(rows) == 2  # September and October


def test_agent_below_its_quality_target(fifty_days):
    con, events = fifty_days
    event = events["below_quality_target"]
    below = con.execute(
        "select distinct agent_name from agent_monthly where quality_ci_high < quality_target"
    ).fetchall()
    assert below == [(event["agent"],)]


def test_model_migration_cuts_cost_per_case(fifty_days):
    con, events = fifty_days
    event = events["model_migration"]
    params = {"start": date.fromisoformat(event["start"]), "agent": event["agent"]}
    before, after = con.execute(
        "select sum(cost_usd) / sum(n_cases) from agent_daily where agent_name = $agent "
        "group by day >= $start order by day >= $start",
        params,
    ).fetchall()
    models = con.execute(
        "select distinct model from llm_calls_daily where agent_name = $agent and day >= $start",
        params,
    ).fetchall()
    assert after[0] < before[0] / 3  # gpt-4o → gpt-4.1-mini: about 5× cheaper per token
    assert models == [("gpt-4.1-mini-2025-04-14",)]
