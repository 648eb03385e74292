"""Regression discipline on the 90-day demo, read against its ground truth: every injected
change, canary, guardrail regression and budget overrun is found on its day, and nothing
else is (conftest's ninety_day_demo, built with its eval gates diffed, as `make demo`)."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import date, timedelta

import duckdb
import pytest

from pipelines.alerts import alerts_in_warehouse
from pipelines.report.render import render_month
from pipelines.synth import GROUND_TRUTH_FILE


@pytest.fixture(scope="module")
def demo(ninety_day_demo):
    truth = json.loads((ninety_day_demo.data_dir / GROUND_TRUTH_FILE).read_text())
    events = {event["type"]: event for event in truth["events"]}
    con = duckdb.connect(str(ninety_day_demo.warehouse_path), read_only=True)
    yield con, events, ninety_day_demo
    con.close()


def _day(text: str) -> date:
    return date.fromisoformat(text)


def test_every_change_is_dated_and_only_the_ungated_one_is_flagged(demo):
    con, events, _ = demo
    changes = con.sql(
        "select agent_name, dimension, from_value, to_value, first_day, is_gated "
        "from change_events order by first_day, agent_name"
    ).fetchall()
    migration, canary = events["model_migration"], events["canary"]
    guardrail, ungated = events["guardrail_regression"], events["ungated_change"]
    assert changes == sorted(
        [
            (guardrail["agent"], "agent_version", "v1", "v2", _day(guardrail["start"]), True),
            (migration["agent"], "model", "gpt-4o-2024-08-06", "gpt-4.1-mini-2025-04-14",
             _day(migration["start"]), True),
            (ungated["agent"], "agent_version", "v3", "v4", _day(ungated["start"]), False),
            (canary["agent"], "agent_version", "v1", "v2", _day(canary["start"]), True),
        ],
        key=lambda row: (row[4], row[0]),
    )  # fmt: skip
    (ramp,) = con.sql(
        "select first_share, full_traffic_day, is_canary from change_events "
        "where agent_name = $a and dimension = 'agent_version'",
        params={"a": canary["agent"]},
    ).fetchall()
    assert ramp[1:] == (_day(canary["full_traffic"]), True)
    assert 0.0 < ramp[0] < 0.15  # a 5 % canary, on one day's few dozen cases


def test_the_canary_is_held_on_quality_over_the_days_both_versions_ran(demo):
    con, events, _ = demo
    canary = events["canary"]
    rows = con.sql(
        "select agent_name, dimension, baseline, candidate, first_day, last_day, decision, "
        "quality_difference, reasons from version_comparison"
    ).fetchall()
    assert [row[:7] for row in rows] == [
        (canary["agent"], "agent_version", "v1", "v2", _day(canary["start"]),
         _day(canary["full_traffic"]) - timedelta(days=1), "hold"),
    ]  # fmt: skip
    quality_difference, reasons = rows[0][7], rows[0][8]
    assert -0.11 < quality_difference < -0.05  # injected: −0.08
    assert any("quality" in reason for reason in reasons)


def test_only_the_regressed_version_breaches_its_guardrail_from_its_first_day(demo):
    con, events, _ = demo
    regression = events["guardrail_regression"]
    breaches = con.sql(
        "select agent_name, agent_version, evaluator, min(day) from evaluator_daily "
        "where is_breach group by all"
    ).fetchall()
    assert breaches == [(regression["agent"], "v2", "hallucination", _day(regression["start"]))]
    judged = con.sql(
        "select count(distinct evaluator) from evaluator_daily where is_judged"
    ).fetchall()[0][0]
    assert judged == 5  # every guardrail the demo scores is judged, and only one breaches


def test_the_budget_overrun_alerts_once_mid_month_and_no_other_budget_does(demo):
    con, events, _ = demo
    overrun = events["budget_overrun"]
    alerts = con.sql(
        "select agent_name, day from budget_forecast_daily where is_new_alert"
    ).fetchall()
    assert alerts == [(overrun["agent"], _day(overrun["first_alert_day"]))]
    assert _day(overrun["start"]) < _day(overrun["first_alert_day"])
    assert _day(overrun["first_alert_day"]).day < 25  # mid-month, days before its end


def test_no_alert_of_any_kind_names_an_agent_without_an_injected_event(demo):
    _, events, settings = demo
    injected = {event["agent"] for event in events.values() if "agent" in event}
    alerted = {alert["agent_name"] for alert in alerts_in_warehouse(settings.warehouse_path)}
    assert alerted <= injected
    assert {"refund-assistant", "code-reviewer", "policy-checker", "proposal-drafter",
            "support-triage"} <= alerted  # fmt: skip


def test_the_review_flags_the_ungated_change_and_the_breach(demo):
    con, events, _ = demo
    ungated, regression = events["ungated_change"], events["guardrail_regression"]
    month = _day(ungated["start"]).replace(day=1)
    flags = dict(
        con.sql(
            "select agent_name, [ungated_changes, guardrail_breaches, decided_by] "
            "from portfolio_monthly where month_start = $m",
            params={"m": month},
        ).fetchall()
    )
    assert flags[ungated["agent"]][0] == [f"agent_version v4 (from v3, {ungated['start']})"]
    assert "ungated_change" in flags[ungated["agent"]][2]
    assert flags[regression["agent"]][1] == ["hallucination (v2)"]
    assert "guardrail_breach" in flags[regression["agent"]][2]
    assert sum(bool(f[0]) for f in flags.values()) == 1  # no other ungated change


def test_the_review_lists_changes_comparisons_and_breaches_as_the_marts_hold_them(demo, tmp_path):
    _, events, settings = demo
    path = render_month(replace(settings, reports_dir=tmp_path), "2026-09")
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", path.read_text())).split())
    ungated, canary = events["ungated_change"], events["canary"]
    assert "Changes reaching production (4; 1 without a shipped eval diff)" in text
    assert (f"UNGATED: no eval diff ran this version before {ungated['start']}") in text
    assert "Canary and shadow comparisons (1)" in text
    assert f"{canary['agent']} agent version v1 → v2 {canary['start']}" in text
    assert "Guardrail breaches (1)" in text
