"""Guardrail and evaluator scores per agent × version × evaluator × day and week
(fct_evaluations → int_evaluator_daily → evaluator_daily, evaluator_weekly): counts, means,
95 % intervals (Wilson for 0/1 scores, normal otherwise), thresholds with per-agent
overrides, breaches and the first day of their episode, built through the real pipeline."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta

import duckdb
import pytest

from pipelines import registry, warehouse
from pipelines.ingest.otlp import EVALUATION_EVENT
from pipelines.models import load_models
from pipelines.registry import RegistryError
from tests.conftest import build_from_raw, settings_with_registry
from tests.otlp_builder import attr, line, ns, span

REGISTRY = """
agents:
  - name: billing
  - name: support
    guardrails:
      hallucination: {max: 0.6, min_samples: 5}
"""
POLICY = """
guardrails:
  hallucination: {max: 0.45, min_samples: 5}
  quality: {min: 0.9, min_samples: 4}
"""
D1, D2, D3, D4, D5, D8 = (date(2026, 10, d) for d in (5, 6, 7, 8, 9, 12))  # Mon 5 … Mon 12


def evaluation(name: str, value: float | None = None, label: str | None = None,
               at: datetime | None = None) -> dict:  # fmt: skip
    """A `gen_ai.evaluation.result` span event, as OTLP instrumentations emit it (its time
    is filled in by `case` when not given)."""
    attributes = [attr("gen_ai.evaluation.name", name)]
    if value is not None:
        attributes.append(attr("gen_ai.evaluation.score.value", float(value)))
    if label is not None:
        attributes.append(attr("gen_ai.evaluation.score.label", label))
    return {"timeUnixNano": ns(at) if at else None, "name": EVALUATION_EVENT,
            "attributes": attributes}  # fmt: skip


def case(n: int, agent: str, day: date, *events: dict, version: str = "v1",
         child_events: tuple = (), **root_attrs) -> list[dict]:  # fmt: skip
    """Case conv-`n`: an invoke_agent root span (trace f"{n:032x}", span f"{n:015x}a")
    carrying `events`, and a chat span under it carrying `child_events`."""
    start = datetime(day.year, day.month, day.day, 10) + timedelta(minutes=n)
    trace, root_id = f"{n:032x}", f"{n:015x}a"
    root = span(trace, root_id, start, 1000, gen_ai__operation__name="invoke_agent",
                gen_ai__agent__name=agent, gen_ai__agent__version=version,
                gen_ai__conversation__id=f"conv-{n}", **root_attrs)  # fmt: skip
    child = span(trace, f"{n:015x}b", start, 500, parent=root_id,
                 gen_ai__operation__name="chat")  # fmt: skip
    for target, given in ((root, events), (child, child_events)):
        target["events"] = [
            {**e, "timeUnixNano": e["timeUnixNano"] or ns(start + timedelta(minutes=5))}
            for e in given
        ]
    return [root, child]


def hallucination(value=None, label=None):
    return evaluation("hallucination", value, label)


def billing_day(day: date, numbers: range, n_hallucinated: int, qualities=()) -> list:
    """billing's cases `numbers` on `day` (version v1): the first `n_hallucinated` score
    hallucination 1, the others 0; the first ones also score `qualities`, one each."""
    cases = []
    for i, n in enumerate(numbers):
        events = [hallucination(1 if i < n_hallucinated else 0)]
        events += [evaluation("quality", q) for q in qualities[i : i + 1]]
        cases.append(case(n, "billing", day, *events))
    return cases


def as_lines(*cases: list[dict]) -> str:
    return "\n".join(line(*spans) for spans in cases) + "\n"


def first_traces() -> str:
    """billing: D1 to D4; support: D1; an eval case and a shadow case of billing on D1."""
    d1 = billing_day(D1, range(1, 9), 6, (0.6, 0.7, 0.8, 0.9))
    resolved = evaluation("case.outcome", label="resolved", at=datetime(2026, 10, 5, 11))
    d1[0][0]["events"].append(resolved)  # a label that is no score: not counted
    d1 += [case(9, "billing", D1), case(10, "billing", D1)]  # scored later (second_scores)
    # not production: an offline eval trace and shadow traffic, both scored
    not_production = (hallucination(1), evaluation("quality", 0.0))
    d1.append(case(11, "billing", D1, *not_production, fleet__eval__run_id="run-1",
                   fleet__eval__item_id="item-1"))  # fmt: skip
    d1.append(case(12, "billing", D1, *not_production, fleet__shadow=True))
    d2 = billing_day(D2, range(13, 16), 3)
    d3 = billing_day(D3, range(16, 26), 8, (1.0, 1.0, 0.9, 0.9))
    d4 = billing_day(D4, range(26, 31), 0)
    # support (v3), D1: 8 of 10 hallucinate, written as values and labels
    support = [case(n, "support", D1, hallucination(1), version="v3") for n in range(31, 35)]
    for spans, label in zip(support, ("yes", "No", "fail", "TRUE"), strict=True):
        spans[0]["events"].append(evaluation("intent_correct", label=label))
    support.append(case(35, "support", D1, version="v3", child_events=(hallucination(1),)))
    labels = ("true", "YES", "Pass", "FALSE")
    support += [case(n, "support", D1, hallucination(label=label), version="v3")
                for n, label in zip(range(36, 40), labels, strict=True)]  # fmt: skip
    support.append(case(40, "support", D1, hallucination(0, label="pass"), version="v3"))
    support.append(case(41, "support", D1, hallucination(label="maybe"), version="v3"))
    return as_lines(*d1, *d2, *d3, *d4, *support)


def second_traces() -> str:
    """billing: D5 (8 of 10 hallucinate) and D8 (none of 5)."""
    return as_lines(*billing_day(D5, range(42, 52), 8), *billing_day(D8, range(52, 57), 0))


def second_scores() -> str:
    """Native evaluations arriving later: case 9's trace scored as a whole (no span id), and
    case 10's root span scored four days after the case."""
    rows = [
        {"trace_id": f"{9:032x}", "name": "hallucination", "score_value": 1.0,
         "source": "llm_judge", "evaluated_at": "2026-10-05T12:00:00Z"},
        {"trace_id": f"{10:032x}", "span_id": f"{10:015x}a", "name": "hallucination",
         "score_label": "Yes", "source": "human", "evaluated_at": "2026-10-09T08:00:00Z"},
    ]  # fmt: skip
    return "".join(json.dumps(row) + "\n" for row in rows)


TABLES = ("evaluator_daily", "evaluator_weekly", "fct_evaluations")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The first traces built, then the second traces and the late scores built on top
    (incrementally), then a full rebuild of the same lake."""
    settings = settings_with_registry(tmp_path_factory.mktemp("guardrails"), REGISTRY)
    (settings.config_dir / "policy.yaml").write_text(POLICY)
    (settings.raw_dir / "traces-1.jsonl").write_text(first_traces())
    first = build_from_raw(settings, "evaluator_daily")[0]
    (settings.raw_dir / "traces-2.jsonl").write_text(second_traces())
    (settings.raw_dir / "traces-3-scores.jsonl").write_text(second_scores())
    *incremental, log = build_from_raw(settings, *TABLES, "build_log")
    warehouse.build(settings, full=True)
    full = build_from_raw(settings, *TABLES)  # nothing new: reads the full build
    return {"first": first, "incremental": dict(zip(TABLES, incremental, strict=True)),
            "modes": [r["mode"] for r in log], "full": dict(zip(TABLES, full, strict=True)),
            "settings": settings}  # fmt: skip


def _key(row: dict) -> tuple:
    period = row.get("day") or row.get("week_start")
    return (row["agent_name"], row["evaluator"], period)


def _by_key(rows: list[dict]) -> dict[tuple, dict]:
    return {_key(r): r for r in rows}


def _stats(row: dict) -> tuple:
    """(version, n_scores, n_cases, is_rate, mean, ci_low, ci_high), rounded to 6 places."""
    rounded = [None if row[c] is None else round(row[c], 6) + 0.0
               for c in ("score_mean", "score_ci_low", "score_ci_high")]  # fmt: skip
    return (row["agent_version"], row["n_scores"], row["n_cases"], row["is_rate"], *rounded)


def _judgement(row: dict) -> tuple:
    return (row["is_judged"], row["is_breach"], row["is_new_alert"])


def _sorted(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: [str(r[c]) for c in r if not isinstance(r[c], float)])


def test_the_incremental_build_equals_a_full_rebuild(built):
    assert built["modes"] == ["full", "incremental"]
    for table in TABLES:
        rows, again = _sorted(built["incremental"][table]), _sorted(built["full"][table])
        assert len(rows) == len(again), table
        for row, other in zip(rows, again, strict=True):  # sums of floats: ± rounding
            assert row.keys() == other.keys(), table
            assert all(
                math.isclose(row[c], other[c], rel_tol=1e-12)
                if isinstance(row[c], float)
                else row[c] == other[c]
                for c in row
            ), (table, row, other)


def test_only_production_scores_with_a_value_count(built):
    scores = built["full"]["fct_evaluations"]
    # billing hallucination 10 + 3 + 10 + 5 + 10 + 5, quality 4 + 4; support 10 + intent 4
    assert len(scores) == 65
    conversations = {r["conversation_id"] for r in scores}
    assert {"conv-11", "conv-12"} & conversations == set()  # eval trace, shadow traffic
    assert "conv-41" not in conversations  # the label "maybe" gives no value
    assert {r["evaluator"] for r in scores} == {"hallucination", "quality", "intent_correct"}
    labelled = sorted((r["conversation_id"], r["score_label"], r["value"])
                      for r in scores if r["score_label"] is not None)  # fmt: skip
    assert labelled == [
        ("conv-10", "Yes", 1.0), ("conv-31", "yes", 1.0), ("conv-32", "No", 0.0),
        ("conv-33", "fail", 0.0), ("conv-34", "TRUE", 1.0), ("conv-36", "true", 1.0),
        ("conv-37", "YES", 1.0), ("conv-38", "Pass", 1.0), ("conv-39", "FALSE", 0.0),
        ("conv-40", "pass", 0.0),  # a score_value (0) wins over its label
    ]  # fmt: skip
    late = {r["conversation_id"]: r for r in scores if r["evaluator"] == "hallucination"}
    # a trace scored as a whole joins its case; a late score counts on its case's day
    assert (late["conv-9"]["span_id"], late["conv-9"]["day"]) == (None, D1)
    assert (late["conv-10"]["evaluated_at"].date(), late["conv-10"]["day"]) == (D5, D1)
    child = late["conv-35"]  # given to the chat span under the agent span
    assert (child["span_id"], child["agent_name"], child["agent_version"]) == (
        f"{35:015x}b", "support", "v3")  # fmt: skip


def test_daily_counts_means_and_intervals(built):
    days = _by_key(built["full"]["evaluator_daily"])
    assert len(days) == 10
    # Wilson, z = 1.96: (p + z²/2n ± z √(p(1 − p)/n + z²/4n²)) ÷ (1 + z²/n)
    # 8 of 10: (0.8 + 0.19208 ± 1.96 × √(0.016 + 0.009604)) ÷ 1.38416 = 0.716738 ± 0.226582
    eight_of_ten = (10, 10, True, 0.8, 0.490157, 0.943319)
    assert _stats(days["billing", "hallucination", D1]) == ("v1", *eight_of_ten)
    # 3 of 3: (1 + 0.64027 − 1.96 × √0.106711) ÷ 2.28053 = 0.438494; the high end is 1
    assert _stats(days["billing", "hallucination", D2]) == ("v1", 3, 3, True, 1.0, 0.438494, 1.0)
    assert _stats(days["billing", "hallucination", D3]) == ("v1", *eight_of_ten)
    # 0 of 5: low 0, high (0.38416 + 1.96 × √0.038416) ÷ 1.76832 = 0.434491
    zero_of_five = ("v1", 5, 5, True, 0.0, 0.0, 0.434491)
    assert _stats(days["billing", "hallucination", D4]) == zero_of_five
    assert _stats(days["billing", "hallucination", D5]) == ("v1", *eight_of_ten)
    assert _stats(days["billing", "hallucination", D8]) == zero_of_five
    # normal: {0.6, 0.7, 0.8, 0.9}: mean 0.75, sd √(0.05 / 3) = 0.129099, ± 1.96 × sd ÷ 2
    assert _stats(days["billing", "quality", D1]) == ("v1", 4, 4, False, 0.75, 0.623483,
                                                      0.876517)  # fmt: skip
    # {1, 1, 0.9, 0.9}: mean 0.95, sd √(0.01 / 3) = 0.057735, ± 0.05658
    assert _stats(days["billing", "quality", D3]) == ("v1", 4, 4, False, 0.95, 0.89342, 1.00658)
    # labels: 5 values of 1 (one on a child span), true / YES / Pass = 1, FALSE = 0, and a
    # value 0 labelled pass; "maybe" is not counted
    assert _stats(days["support", "hallucination", D1]) == ("v3", *eight_of_ten)
    # yes, No, fail, TRUE: 2 of 4 → (0.5 + 0.4802 ± 1.96 × √(0.0625 + 0.060025)) ÷ 1.9604
    assert _stats(days["support", "intent_correct", D1]) == ("v3", 4, 4, True, 0.5, 0.150036,
                                                             0.849964)  # fmt: skip


def test_breaches_and_the_first_day_of_their_episode(built):
    days = _by_key(built["full"]["evaluator_daily"])
    hallucination_days = [_judgement(days["billing", "hallucination", d])
                          for d in (D1, D2, D3, D4, D5, D8)]  # fmt: skip
    assert hallucination_days == [
        (True, True, True),  # 0.490 > 0.45: a breach, the episode's first day
        (False, False, False),  # 3 scores < 5: not judged, the episode goes on
        (True, True, False),  # still the same episode
        (True, False, False),  # clearly within (all of the interval under 45 %): the episode ends
        (True, True, True),  # a new episode
        (True, False, False),
    ]
    assert days["billing", "hallucination", D1]["reason"] == (
        "hallucination rate 80.0 % [49.0 %, 94.3 %] above the 45 % maximum, 10 scores"
    )
    assert days["billing", "hallucination", D2]["reason"] == (
        "hallucination rate 100.0 % [43.8 %, 100.0 %], 3 scores: under the 5 needed to judge "
        "against the 45 % maximum")  # fmt: skip
    assert days["billing", "hallucination", D4]["reason"] == (
        "hallucination rate 0.0 % [0.0 %, 43.4 %] within the 45 % maximum, 5 scores"
    )
    # a min bound, normal interval: 0.877 < 0.9 breaches; 0.893 to 1.007 does not
    quality = [days["billing", "quality", d] for d in (D1, D3)]
    assert [_judgement(r) for r in quality] == [(True, True, True), (True, False, False)]
    assert [r["reason"] for r in quality] == [
        "quality mean 0.750 [0.623, 0.877] below the 0.9 minimum, 4 scores",
        "quality mean 0.950 [0.893, 1.007] meeting the 0.9 minimum, 4 scores",
    ]


def test_an_agents_own_threshold_overrides_the_fleets(built):
    days = _by_key(built["full"]["evaluator_daily"])
    billing, support = days["billing", "hallucination", D1], days["support", "hallucination", D1]
    settings = ("bound", "threshold", "min_samples", "threshold_source")
    assert [billing[s] for s in settings] == ["max", 0.45, 5, "policy"]
    assert [support[s] for s in settings] == ["max", 0.6, 5, "registry"]
    # the same 8 of 10: above the fleet's 45 %, but not clearly above support's own 60 %
    assert (_judgement(billing), _judgement(support)) == ((True, True, True),
                                                          (True, False, False))  # fmt: skip
    assert support["reason"] == (
        "hallucination rate 80.0 % [49.0 %, 94.3 %] not clearly above the 60 % maximum "
        "(its interval straddles it), 10 scores")  # fmt: skip


def test_an_evaluator_without_threshold_is_rolled_up_never_judged(built):
    days = _by_key(built["full"]["evaluator_daily"])
    intent = days["support", "intent_correct", D1]
    assert [intent[s] for s in ("bound", "threshold", "min_samples", "threshold_source")] == [
        None, None, None, None]  # fmt: skip
    assert _judgement(intent) == (False, False, False)
    assert intent["reason"] == (
        "intent_correct rate 50.0 % [15.0 %, 85.0 %], 4 scores: no threshold set"
    )


def test_weekly_rows_add_up_the_days(built):
    weeks = _by_key(built["full"]["evaluator_weekly"])
    assert sorted(weeks) == [
        ("billing", "hallucination", D1), ("billing", "hallucination", D8),
        ("billing", "quality", D1), ("support", "hallucination", D1),
        ("support", "intent_correct", D1),
    ]  # fmt: skip
    # 8 + 3 + 8 + 0 + 8 = 27 of 10 + 3 + 10 + 5 + 10 = 38: p = 0.710526,
    # (0.710526 + 0.050547 ± 1.96 × √(0.005413 + 0.000665)) ÷ 1.101095
    first = weeks["billing", "hallucination", D1]
    assert _stats(first) == ("v1", 38, 38, True, 0.710526, 0.552426, 0.829969)
    assert first["reason"] == (
        "hallucination rate 71.1 % [55.2 %, 83.0 %] above the 45 % maximum, 38 scores"
    )
    second = weeks["billing", "hallucination", D8]
    assert _stats(second) == ("v1", 5, 5, True, 0.0, 0.0, 0.434491)
    assert [_judgement(first), _judgement(second)] == [(True, True, True), (True, False, False)]
    # eight quality scores from two days: mean 0.85, Σ(x − 0.85)² = 0.14, sd √(0.14 / 7)
    # = 0.141421, ± 1.96 × 0.141421 ÷ √8 = ± 0.098: straddles the 0.9 minimum
    quality = weeks["billing", "quality", D1]
    assert _stats(quality) == ("v1", 8, 8, False, 0.85, 0.752, 0.948)
    assert round(quality["score_sd"], 6) == 0.141421
    assert _judgement(quality) == (True, False, False)
    assert quality["reason"] == (
        "quality mean 0.850 [0.752, 0.948] not clearly below the 0.9 minimum (its interval "
        "straddles it), 8 scores")  # fmt: skip


def test_late_scores_rejudge_their_cases_day(built):
    """Before the native scores of cases 9 and 10 arrived, D1 had 6 of 8."""
    (d1,) = [r for r in built["first"] if _key(r) == ("billing", "hallucination", D1)]
    # 6 of 8: (0.75 + 0.2401 ± 1.96 × √(0.0234375 + 0.01500625)) ÷ 1.4802
    assert _stats(d1) == ("v1", 8, 8, True, 0.75, 0.40927, 0.928522)


def test_every_column_carries_its_own_models_doc(built):
    """Each column's COMMENT is the one its model's `-- columns:` header gives it."""
    models = {m.name: m for m in load_models()}
    names = ("fct_evaluations", "int_evaluator_daily", "evaluator_daily", "evaluator_weekly")
    with duckdb.connect(str(built["settings"].warehouse_path), read_only=True) as con:
        for name in names:
            comments = dict(
                con.execute(
                    "select column_name, comment from duckdb_columns() where table_name = ?",
                    [name],
                ).fetchall()
            )
            assert comments == models[name].column_docs, name


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{max: high}", "guardrails.hallucination.max: must be a number, got 'high'"),
        ("{max: 0.1, min: 0.0}", "guardrails.hallucination: give exactly one of max or min"),
        ("{max: 0.1, min_samples: 0}",
         "guardrails.hallucination.min_samples: must be a whole number ≥ 1, got 0"),
        ("{maximum: 0.1}", "guardrails.hallucination: unknown setting 'maximum'"),
        ("0.1", "guardrails.hallucination: must be a mapping such as {max: 0.01}, got 0.1"),
    ],
)  # fmt: skip
def test_a_bad_guardrail_in_the_registry_names_agent_and_field(tmp_path, rule, message):
    settings = settings_with_registry(
        tmp_path, f"agents:\n  - name: billing\n  - name: support\n"
                  f"    guardrails:\n      hallucination: {rule}\n")  # fmt: skip
    with pytest.raises(RegistryError) as raised:
        registry.load_agents(settings.config_dir)
    assert f"agents.yaml: agents[1] (support): {message}" in str(raised.value)
    # a build stops on it before writing a warehouse
    (settings.raw_dir / "traces.jsonl").write_text(as_lines(case(1, "support", D1)))
    with pytest.raises(RegistryError, match="agents\\[1\\] \\(support\\)"):
        build_from_raw(settings)
    assert not settings.warehouse_path.exists()
