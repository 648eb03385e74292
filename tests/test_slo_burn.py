"""slo_burn_daily on hand-made traces: multi-window burn rates and the burn alert, every
value worked out by hand below.

Burn policy: the defaults (1-day and 7-day windows, thresholds 6× and 3×, at least 50 and
200 events). Fallback objective 0.8 %: with 50 cases a day, a day's burn rate is
bad ÷ 50 ÷ 0.008 = 2.5 × bad, and a full week's (350 cases) bad ÷ 2.8.

- spiky: 50 cases a day, October 1–10, falling back 0, 0, 0, 0, 0, 3, 3, 4, 3, 0 times:
  the short window burns from the 6th, the long one from the 8th, which alerts (once).
  One span of the 8th is quarantined: its audit completeness burns too. On the 10th, 20
  eval cases and 20 shadow cases all fall back: not production, not counted.
- blip: 50 cases a day, October 4–10, 5 fallbacks on the 9th: the short window burns
  alone, no alert.
- quiet: 40 cases a day, October 4–9, 6 fallbacks on the 9th: both burn rates pass their
  thresholds but 40 cases are too few for the short window: no alert.
- gappy: 60 cases on October 1st, 6 falling back, and 60 clean ones on the 8th.
- slow: its own latency target, 4,000 ms (policy 2,500 ms), 50 cases a day, October 4–10,
  each day 44 at 3,000 ms and 6 at 4,500 ms, but the 10th: 30 at 3,000 ms, 10 at exactly
  4,000 ms and 10 at 6,000 ms. Alert on the 10th.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from pipelines.models import load_models
from tests.conftest import build_from_raw, settings_with_registry
from tests.otlp_builder import line, llm_case, span

REGISTRY = """
agents:
  - {name: spiky, team: ops, owner: a@example.com, human_baseline_usd_per_case: 1.0}
  - {name: blip, team: ops, owner: a@example.com, human_baseline_usd_per_case: 1.0}
  - {name: gappy, team: ops, owner: a@example.com, human_baseline_usd_per_case: 1.0}
  - {name: quiet, team: ops, owner: a@example.com, human_baseline_usd_per_case: 1.0}
  - {name: slow, team: ops, owner: a@example.com, human_baseline_usd_per_case: 1.0,
     slo_targets: {p95_case_latency_ms: 4000}}
"""
SPIKY_FALLBACKS = [0, 0, 0, 0, 0, 3, 3, 4, 3, 0]  # October 1–10


def october(day: int) -> date:
    return date(2026, 10, day)


class Fleet:
    """Cases as OTLP spans, each an agent span and one LLM call, numbered in order."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.n = 0

    def cases(self, agent: str, day: date, count: int, *, fallbacks: int = 0,
              duration_ms: int = 900, **attrs) -> None:  # fmt: skip
        """`count` cases of `agent` on `day`, the first `fallbacks` of them falling back
        (every other one by its outcome, the rest by the fleet.fallback flag)."""
        for i in range(count):
            self.n += 1
            fell_back = {}
            if i < fallbacks:
                fell_back = (
                    {"fleet__case__outcome": "fallback"} if i % 2 else {"fleet__fallback": True}
                )
            self.spans += llm_case(self.n, agent, datetime(day.year, day.month, day.day, 12),
                                   1000, duration_ms=duration_ms,
                                   gen_ai__conversation__id=f"{agent}-{self.n}",
                                   **fell_back, **attrs)  # fmt: skip

    def broken_leaf(self) -> None:
        """A tool span under the last case's agent span that ends before it starts:
        quarantined at ingest, an incomplete audit event of that case's agent and day."""
        root = self.spans[-2]
        bad = span(root["traceId"], f"{self.n:015x}c", datetime(2026, 10, 8, 12), 10,
                   parent=root["spanId"], gen_ai__operation__name="execute_tool")  # fmt: skip
        bad["endTimeUnixNano"] = str(int(bad["startTimeUnixNano"]) - 1)
        self.spans.append(bad)


@pytest.fixture(scope="module")
def burn(tmp_path_factory) -> dict[tuple[str, str, date], dict]:
    settings = settings_with_registry(tmp_path_factory.mktemp("burn"), REGISTRY)
    fleet = Fleet()
    for day, fallbacks in enumerate(SPIKY_FALLBACKS, start=1):
        fleet.cases("spiky", october(day), 50, fallbacks=fallbacks)
        if day == 8:
            fleet.broken_leaf()
    fleet.cases("spiky", october(10), 20, fallbacks=20, fleet__eval__run_id="run-1")
    fleet.cases("spiky", october(10), 20, fallbacks=20, fleet__shadow=True)
    for day in range(4, 11):
        fleet.cases("blip", october(day), 50, fallbacks=5 if day == 9 else 0)
    fleet.cases("gappy", october(1), 60, fallbacks=6)
    fleet.cases("gappy", october(8), 60)
    for day in range(4, 10):
        fleet.cases("quiet", october(day), 40, fallbacks=6 if day == 9 else 0)
    for day in range(4, 10):
        fleet.cases("slow", october(day), 44, duration_ms=3000)
        fleet.cases("slow", october(day), 6, duration_ms=4500)
    fleet.cases("slow", october(10), 30, duration_ms=3000)
    fleet.cases("slow", october(10), 10, duration_ms=4000)  # at the target: slow
    fleet.cases("slow", october(10), 10, duration_ms=6000)
    (settings.raw_dir / "traces.jsonl").write_text(line(*fleet.spans) + "\n")
    (rows,) = build_from_raw(settings, "slo_burn_daily")
    return {(r["agent_name"], r["slo"], r["day"]): r for r in rows}


def _series(burn, agent: str, slo: str) -> list[dict]:
    return [burn[key] for key in sorted(burn) if key[:2] == (agent, slo)]


def _windows(row: dict) -> tuple:
    return (row["n_short_events"], row["n_short_bad_events"], row["n_long_events"],
            row["n_long_bad_events"])  # fmt: skip


def test_a_fallback_spike_alerts_when_both_windows_burn_once(burn):
    rows = _series(burn, "spiky", "fallback_rate")
    assert [r["day"] for r in rows] == [october(d) for d in range(1, 11)]
    # the long window spans calendar days: 50 cases a day, up to 7 days back
    assert [_windows(r) for r in rows] == [
        (50, 0, 50, 0), (50, 0, 100, 0), (50, 0, 150, 0), (50, 0, 200, 0), (50, 0, 250, 0),
        (50, 3, 300, 3), (50, 3, 350, 6), (50, 4, 350, 10), (50, 3, 350, 13), (50, 0, 350, 13),
    ]  # fmt: skip
    # short: bad ÷ 50 ÷ 0.008; long: bad ÷ events ÷ 0.008
    short = [pytest.approx(rate) for rate in (7.5, 7.5, 10.0, 7.5, 0)]
    assert [r["short_burn_rate"] for r in rows[5:]] == short
    assert [r["long_burn_rate"] for r in rows[5:]] == [
        pytest.approx(3 / 300 / 0.008), pytest.approx(6 / 350 / 0.008),
        pytest.approx(10 / 350 / 0.008), pytest.approx(13 / 350 / 0.008),
        pytest.approx(13 / 350 / 0.008)]  # fmt: skip
    assert [r["is_burning"] for r in rows] == [False] * 7 + [True, True, False]
    assert [r["day"] for r in rows if r["is_new_alert"]] == [october(8)]
    assert rows[7]["reason"] == (
        "fallback burn 10.0× over 1 day and 3.6× over 7 days (thresholds 6× and 3×): "
        "4 of 50 cases fell back against a 0.8 % objective"
    )
    assert rows[6]["reason"] == (
        "fallback burn 7.5× over 1 day and 2.1× over 7 days (thresholds 6× and 3×): "
        "only the short window burns"
    )
    assert rows[9]["reason"].endswith(": only the long window burns")
    # 50 cases are enough for the short window (at least min_short_cases), 50 too few for
    # the long one
    assert rows[0]["reason"].endswith("too few cases to judge: 50 over 7 days (needs 200)")
    first = rows[0]
    assert (first["target"], first["target_source"], first["allowed_bad_share"]) == (
        0.008, "policy", 0.008)  # fmt: skip
    thresholds = ("short_days", "long_days", "short_burn_threshold", "long_burn_threshold",
                  "min_short_cases", "min_long_cases")  # fmt: skip
    assert [first[name] for name in thresholds] == [1, 7, 6.0, 3.0, 50, 200]


def test_a_spike_in_the_short_window_alone_does_not_alert(burn):
    rows = _series(burn, "blip", "fallback_rate")
    assert [r["day"] for r in rows] == [october(d) for d in range(4, 11)]
    spike = rows[5]  # the 9th: 5 ÷ 50 ÷ 0.008 = 12.5×; 5 ÷ 300 ÷ 0.008 = 2.083×
    assert _windows(spike) == (50, 5, 300, 5)
    assert (spike["short_burn_rate"], spike["long_burn_rate"]) == (
        pytest.approx(12.5), pytest.approx(5 / 300 / 0.008))  # fmt: skip
    assert spike["reason"].endswith("(thresholds 6× and 3×): only the short window burns")
    assert not any(r["is_burning"] or r["is_new_alert"] for r in rows)


def test_too_few_cases_do_not_alert(burn):
    rows = _series(burn, "quiet", "fallback_rate")
    # the fleet's data ends on the 10th: quiet's long window still holds its days then
    assert [r["day"] for r in rows] == [october(d) for d in range(4, 11)]
    spike, after = rows[5], rows[6]
    # 6 ÷ 40 ÷ 0.008 = 18.75× and 6 ÷ 240 ÷ 0.008 = 3.125×: both past their thresholds
    assert _windows(spike) == (40, 6, 240, 6)
    assert (spike["short_burn_rate"], spike["long_burn_rate"]) == (
        pytest.approx(18.75), pytest.approx(3.125))  # fmt: skip
    assert spike["reason"] == (
        "fallback burn 18.8× over 1 day and 3.1× over 7 days (thresholds 6× and 3×), "
        "too few cases to judge: 40 over 1 day (needs 50)"
    )
    assert _windows(after) == (0, 0, 240, 6)
    assert after["short_burn_rate"] is None  # no case: no rate
    assert after["reason"] == (
        "fallback burn n/a over 1 day and 3.1× over 7 days (thresholds 6× and 3×), "
        "too few cases to judge: 0 over 1 day (needs 50)"
    )
    assert rows[0]["reason"].endswith(  # the 4th: both windows lack cases
        "too few cases to judge: 40 over 1 day (needs 50), 40 over 7 days (needs 200)"
    )
    assert not any(r["is_burning"] or r["is_new_alert"] for r in rows)


def test_the_long_window_spans_calendar_days(burn):
    rows = _series(burn, "gappy", "fallback_rate")
    # a row for each day whose 7-day window holds one of gappy's days, to the data's end
    assert [r["day"] for r in rows] == [october(d) for d in range(1, 11)]
    expected = [(60, 6, 60, 6)] + [(0, 0, 60, 6)] * 6 + [(60, 0, 60, 0)] + [(0, 0, 60, 0)] * 2
    assert [_windows(r) for r in rows] == expected  # the 8th's week starts on the 2nd
    assert rows[6]["long_burn_rate"] == pytest.approx(6 / 60 / 0.008)


def test_latency_burns_against_the_agents_own_target(burn):
    rows = _series(burn, "slow", "p95_case_latency_ms")
    last = rows[-1]
    assert (last["day"], last["target"], last["target_source"], last["allowed_bad_share"]) == (
        october(10), 4000, "registry", 0.05)  # fmt: skip
    # 10 at 4,000 ms and 10 at 6,000 ms of 50: 20 ÷ 50 ÷ 0.05 = 8×; the week: 6 a day on
    # the 4th–9th plus 20: 56 ÷ 350 ÷ 0.05 = 3.2× (the policy's 2,500 ms would make all slow)
    assert _windows(last) == (50, 20, 350, 56)
    assert (last["short_burn_rate"], last["long_burn_rate"]) == (
        pytest.approx(8.0), pytest.approx(3.2))  # fmt: skip
    assert last["reason"] == (
        "latency burn 8.0× over 1 day and 3.2× over 7 days (thresholds 6× and 3×): 20 of 50 "
        "cases took at least the 4000 ms target, where a p95 objective allows 5 %"
    )
    # the 9th: 6 ÷ 50 ÷ 0.05 = 2.4× both ways
    assert (rows[-2]["short_burn_rate"], rows[-2]["long_burn_rate"]) == (
        pytest.approx(2.4), pytest.approx(2.4))  # fmt: skip
    assert [r["day"] for r in rows if r["is_new_alert"]] == [october(10)]
    assert [r["is_burning"] for r in rows] == [False] * 6 + [True]
    spiky = _series(burn, "spiky", "p95_case_latency_ms")[-1]  # 900 ms cases, policy target
    assert (spiky["target"], spiky["target_source"], spiky["n_long_bad_events"]) == (
        2500, "policy", 0)  # fmt: skip


def test_audit_completeness_burns_on_a_quarantined_span(burn):
    rows = _series(burn, "spiky", "audit_completeness")
    quarantined = rows[7]  # the 8th: 100 stored spans + 1 quarantined; the week 701
    assert _windows(quarantined) == (101, 1, 701, 1)
    allowed = 1 - 0.9999
    assert quarantined["allowed_bad_share"] == pytest.approx(allowed)
    assert (quarantined["short_burn_rate"], quarantined["long_burn_rate"]) == (
        pytest.approx(1 / 101 / allowed), pytest.approx(1 / 701 / allowed))  # fmt: skip
    assert quarantined["reason"] == (
        "audit completeness burn 99.0× over 1 day and 14.3× over 7 days (thresholds 6× and "
        "3×): 1 of 101 audit events were incomplete against a 99.99 % objective"
    )
    assert [r["day"] for r in rows if r["is_new_alert"]] == [october(8)]
    # the 9th and 10th: the short window is clean again, the long one still burns
    assert [r["is_burning"] for r in rows[8:]] == [False, False]


def test_one_row_per_agent_slo_and_day(burn):
    assert len(burn) == (10 + 7 + 10 + 7 + 7) * 3


def test_every_column_is_documented_in_the_models_header(burn):
    (model,) = [m for m in load_models() if m.name == "slo_burn_daily"]
    assert list(next(iter(burn.values()))) == list(model.column_docs)
