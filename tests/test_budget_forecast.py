"""budget_forecast_daily on hand-made traces: month-to-date spend, the weekday-aware
projection, and the budget alert, every value worked out by hand below.

Prices: gpt-4o-mini $0.15 per million input tokens (a $1.20 case is 8M tokens); acme-llm
has no price. Budget policy: the defaults (alert above 1.0 × the budget, judged from day 3).
October 2026 starts on a Thursday: 22 weekdays, 9 weekend days (3–4, 10–11, 17–18, 24–25,
31). November starts on a Sunday: 21 weekdays, 9 weekend days.

- capped (budget $30) spends on weekdays only. October: $1.20 on the 1st, 2nd (plus an
  unpriced call: partial), 5th, 6th, 7th and 8th, $2.40 on the 9th, $3.00 on the 13th;
  an unpriced case on Saturday the 3rd (unknown: $0); on Sunday the 4th a $15 eval run and
  $15 of shadow traffic, not production. November: $1.50 on the 2nd and 3rd, $1.20 on the
  4th (the fleet's last day).
  Its weekend weight is 1 (the straight line) on its first 6 days, then 0: projection =
  MTD × weekdays in the month ÷ weekdays elapsed.
- free (no budget): $3.00 on Monday October 5th and $1.50 on Saturday the 10th.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from pipelines.models import load_models
from tests.conftest import build_from_raw, settings_with_registry
from tests.otlp_builder import line, llm_case

REGISTRY = """
agents:
  - {name: capped, team: ops, owner: a@example.com, human_baseline_usd_per_case: 1.0,
     monthly_budget_usd: 30}
  - {name: free, team: ops, owner: a@example.com, human_baseline_usd_per_case: 1.0}
"""
PRICE_PER_TOKEN = 0.15 / 1e6  # gpt-4o-mini input


def october(day: int) -> date:
    return date(2026, 10, day)


def november(day: int) -> date:
    return date(2026, 11, day)


class Fleet:
    """Cases as OTLP spans, each an agent span and one LLM call, numbered in order."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.n = 0

    def spend(self, agent: str, day: date, dollars: float, model="gpt-4o-mini", **attrs):
        """One case of `agent` at noon on `day` costing `dollars` (on acme-llm: unknown)."""
        self.n += 1
        provider = "openai" if model == "gpt-4o-mini" else "acme"
        self.spans += llm_case(self.n, agent, datetime(day.year, day.month, day.day, 12),
                               round(dollars / PRICE_PER_TOKEN), provider=provider,
                               model=model, gen_ai__conversation__id=f"{agent}-{self.n}",
                               **attrs)  # fmt: skip


@pytest.fixture(scope="module")
def forecast(tmp_path_factory) -> dict[tuple[str, date], dict]:
    settings = settings_with_registry(tmp_path_factory.mktemp("budget"), REGISTRY)
    fleet = Fleet()
    for day in (1, 2, 5, 6, 7, 8):
        fleet.spend("capped", october(day), 1.2)
    fleet.spend("capped", october(2), 1, model="acme-llm")  # partial day
    fleet.spend("capped", october(3), 1, model="acme-llm")  # unknown day
    fleet.spend("capped", october(4), 15, fleet__eval__run_id="run-1")
    fleet.spend("capped", october(4), 15, fleet__shadow=True)
    fleet.spend("capped", october(9), 2.4)
    fleet.spend("capped", october(13), 3)
    fleet.spend("capped", november(2), 1.5)
    fleet.spend("capped", november(3), 1.5)
    fleet.spend("capped", november(4), 1.2)
    fleet.spend("free", october(5), 3)
    fleet.spend("free", october(10), 1.5)
    (settings.raw_dir / "traces.jsonl").write_text(line(*fleet.spans) + "\n")
    (rows,) = build_from_raw(settings, "budget_forecast_daily")
    return {(r["agent_name"], r["day"]): r for r in rows}


def _month(forecast, agent: str, days: list[date]) -> list[dict]:
    return [forecast[(agent, day)] for day in days]


def test_every_calendar_day_of_a_month_with_spend_to_the_data_end(forecast):
    capped = sorted(day for agent, day in forecast if agent == "capped")
    assert capped == [october(d) for d in range(1, 32)] + [november(d) for d in range(1, 5)]
    free = sorted(day for agent, day in forecast if agent == "free")
    assert free == [october(d) for d in range(5, 32)]  # no November spend: no row


def test_month_to_date_and_the_weekday_aware_projection(forecast):
    rows = _month(forecast, "capped", [october(d) for d in range(1, 15)])
    costs = [1.2, 1.2, None, 0, 1.2, 1.2, 1.2, 1.2, 2.4, 0, 0, 0, 3.0, 0]
    assert [r["day_cost_usd"] for r in rows] == [
        None if c is None else pytest.approx(c) for c in costs
    ]
    mtd = [1.2, 2.4, 2.4, 2.4, 3.6, 4.8, 6.0, 7.2, 9.6, 9.6, 9.6, 9.6, 12.6, 12.6]
    assert [r["mtd_cost_usd"] for r in rows] == [pytest.approx(m) for m in mtd]
    # under 7 days of history: weight 1; from the 7th, no weekend spend in the window: 0
    assert [r["weekend_weight"] for r in rows] == [1.0] * 6 + [0.0] * 8
    projected = [
        1.2 * 31, 2.4 / 2 * 31, 2.4 / 3 * 31, 2.4 / 4 * 31, 3.6 / 5 * 31, 4.8 / 6 * 31,
        6.0 * 22 / 5, 7.2 * 22 / 6, 9.6 * 22 / 7,  # 26.40, 26.40, 30.17: weekdays elapsed
        9.6 * 22 / 7, 9.6 * 22 / 7,  # the weekend does not dilute it (straight: 29.76)
        9.6 * 22 / 8, 12.6 * 22 / 9, 12.6 * 22 / 10,
    ]  # fmt: skip
    assert [r["projected_month_usd"] for r in rows] == [pytest.approx(p) for p in projected]
    assert [(r["days_elapsed"], r["days_in_month"]) for r in rows] == [
        (d, 31) for d in range(1, 15)]  # fmt: skip
    # unpriced calls on the 2nd (partial) and 3rd (unknown); eval and shadow never count
    assert [r["n_unpriced_days"] for r in rows] == [0] + [1] + [2] * 12
    assert [r["is_mtd_cost_partial"] for r in rows] == [False] + [True] * 13


def test_alert_on_the_first_day_over_once_a_month_and_again_the_next(forecast):
    october_rows = _month(forecast, "capped", [october(d) for d in range(1, 32)])
    over = [None, None, False, False, False, False, False, False, True, True, True, False,
            True, False]  # fmt: skip
    assert [r["is_over_forecast"] for r in october_rows[:14]] == over
    assert [r["day"] for r in october_rows if r["is_new_alert"]] == [october(9)]
    assert october_rows[-1]["projected_month_usd"] == pytest.approx(12.6)  # 22 of 22 weekdays
    rows = _month(forecast, "capped", [november(d) for d in range(1, 5)])
    # nothing spent on Sunday the 1st: $0; then MTD × 21 weekdays ÷ weekdays elapsed
    projected = [0, 1.5 * 21, 3.0 * 21 / 2, 4.2 * 21 / 3]  # 0, 31.50, 31.50, 29.40
    assert [r["projected_month_usd"] for r in rows] == [pytest.approx(p) for p in projected]
    assert [r["is_over_forecast"] for r in rows] == [None, None, True, False]
    assert [r["is_new_alert"] for r in rows] == [False, False, True, False]
    assert [r["is_mtd_cost_partial"] for r in rows] == [False] * 4  # a new month


def test_reasons_in_words(forecast):
    def reason(day):
        return forecast[("capped", day)]["reason"]

    assert reason(october(9)) == (
        "projected $30.17 for October (MTD $9.60 over 9 of 31 days) above the $30.00 budget; "
        "a lower bound: 2 days with unpriced calls"
    )
    assert reason(october(1)) == (
        "projected $37.20 for October (MTD $1.20 over 1 of 31 days); judged from day 3"
    )
    assert reason(november(4)) == (
        "projected $29.40 for November (MTD $4.20 over 4 of 30 days) within the $30.00 budget"
    )


def test_the_weekend_weight_is_the_trailing_weekend_to_weekday_spend(forecast):
    rows = _month(forecast, "free", [october(d) for d in range(5, 12)])
    # first 6 days: 1; the 11th: weekend mean (1.50 + 0) ÷ 2 over weekday mean 3.00 ÷ 5
    assert [r["weekend_weight"] for r in rows] == [1.0] * 6 + [pytest.approx(1.25)]
    # MTD 4.50 × (22 + 9 × 1.25) ÷ (7 weekdays + 4 weekend days × 1.25 elapsed)
    assert rows[-1]["projected_month_usd"] == pytest.approx(4.5 * 33.25 / 12)


def test_agent_without_a_budget_is_not_judged(forecast):
    row = forecast[("free", october(5))]
    assert (row["monthly_budget_usd"], row["is_over_forecast"], row["is_new_alert"]) == (
        None, None, False)  # fmt: skip
    assert row["projected_month_usd"] == pytest.approx(18.6)  # 3.00 ÷ 5 × 31
    assert row["reason"] == (
        "projected $18.60 for October (MTD $3.00 over 5 of 31 days); "
        "no monthly budget in the registry"
    )
    free = [r for (agent, _), r in forecast.items() if agent == "free"]
    assert not any(r["is_new_alert"] for r in free)
    assert all(r["is_over_forecast"] is None for r in free)


def test_every_column_is_documented_in_the_models_header(forecast):
    (model,) = [m for m in load_models() if m.name == "budget_forecast_daily"]
    assert list(next(iter(forecast.values()))) == list(model.column_docs)
