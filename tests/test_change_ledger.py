"""The change ledger: agent_changes and change_events, each change dated, its ramp read,
and gated only by an eval diff that shipped its candidate before it reached production."""

from __future__ import annotations

import json
from datetime import date, datetime

import duckdb

from pipelines import warehouse
from pipelines.evals.runs import run_diff
from pipelines.ingest import ingest_file
from tests.conftest import build_from_raw, settings_with_registry
from tests.otlp_builder import line, llm_case

REGISTRY = """
agents:
  - name: bot
    team: t
    owner: a@example.com
  - name: other
    team: t
    owner: b@example.com
"""


def _day(n: int) -> datetime:
    return datetime(2026, 9, n, 10)


def _traces() -> list[str]:
    """bot: 4 cases a day on Sept 1–5; v2 is a 1-in-4 canary on the 4th and takes all of the
    5th, when the model also switches to gpt-4o. other: v1, then v9 from the 3rd on."""
    lines, n = [], 0
    for day in range(1, 6):
        for i in range(4):
            n += 1
            version = "v2" if day == 5 or (day == 4 and i == 0) else "v1"
            model = "gpt-4o" if day == 5 else "gpt-4o-mini"
            lines.append(line(*llm_case(n, "bot", _day(day), 100, model=model,
                                        gen_ai__agent__version=version)))  # fmt: skip
        n += 1
        version = "v9" if day >= 3 else "v1"
        lines.append(line(*llm_case(n, "other", _day(day), 100, gen_ai__agent__version=version)))
    return lines


def _eval_rows(run: str, version: str, model: str, day: int) -> list[dict]:
    return [
        {"run_id": run, "dataset": "golden", "item_id": f"i{item:02d}", "trial": 1,
         "agent_name": "bot", "variant": f"{model} / {version}", "model": model,
         "prompt_version": version, "score_name": "quality", "score_value": 0.9,
         "input_tokens": 100, "output_tokens": 10, "latency_ms": 500.0,
         "evaluated_at": f"2026-09-{day:02d}T09:{item:02d}:00Z"}
        for item in range(40)
    ]  # fmt: skip


def _ledger(tmp_path):
    settings = settings_with_registry(tmp_path, REGISTRY)
    (settings.raw_dir / "traces.jsonl").write_text("\n".join(_traces()) + "\n")
    rows = (
        _eval_rows("base", "v1", "gpt-4o-mini", 1)
        + _eval_rows("cand-v2", "v2", "gpt-4o-mini", 2)  # before v2's first day: gates it
        + _eval_rows("cand-4o", "v1", "gpt-4o", 6)  # after gpt-4o's first day: too late
    )
    (settings.raw_dir / "evals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_from_raw(settings)
    decisions = {c: run_diff(settings, "bot", "base", c).result["decision"]
                 for c in ("cand-v2", "cand-4o")}  # fmt: skip
    assert decisions == {"cand-v2": "ship", "cand-4o": "hold"}  # gpt-4o costs more
    warehouse.build(settings)  # the diffs filed in DATA/diffs/ change the build
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        changes = con.sql("select * from agent_changes order by all").pl().to_dicts()
        events = con.sql("select * from change_events order by agent_name, first_day, "
                         "dimension").pl().to_dicts()  # fmt: skip
    return changes, events


def test_change_events_are_dated_with_their_ramp_and_gate(tmp_path):
    _, events = _ledger(tmp_path)
    summary = [(e["agent_name"], e["dimension"], e["from_value"], e["to_value"], e["first_day"],
                e["first_share"], e["full_traffic_day"], e["days_to_full_traffic"],
                e["n_cases"], e["is_canary"], e["gate_diff"], e["is_gated"])
               for e in events]  # fmt: skip
    assert summary == [
        ("bot", "agent_version", "v1", "v2", date(2026, 9, 4), 0.25, date(2026, 9, 5), 1, 5,
         True, "bot--base--vs--cand-v2", True),
        ("bot", "model", "gpt-4o-mini", "gpt-4o", date(2026, 9, 5), 1.0, date(2026, 9, 5), 0,
         4, False, None, False),
        ("other", "agent_version", "v1", "v9", date(2026, 9, 3), 1.0, date(2026, 9, 3), 0, 3,
         False, None, False),
    ]  # fmt: skip
    canary = events[0]
    assert canary["ramp"] == [{"day": date(2026, 9, 4), "share": 0.25},
                              {"day": date(2026, 9, 5), "share": 1.0}]  # fmt: skip
    assert canary["gate_decision"] == "ship"
    assert canary["gate_note"] == (
        "shipped by eval diff bot--base--vs--cand-v2 (candidate evaluated 2026-09-02)"
    )
    assert events[1]["gate_note"] == "no eval diff ran this model before 2026-09-05"
    assert events[2]["gate_note"] == "no eval diff ran this version before 2026-09-03"


def test_agent_changes_hold_each_configuration_per_day(tmp_path):
    changes, _ = _ledger(tmp_path)
    bot_day4 = [(c["agent_version"], c["model"], c["n_cases"], c["n_agent_cases"],
                 c["traffic_share"], c["first_seen_day"], c["last_seen_day"])
                for c in changes
                if c["agent_name"] == "bot" and c["day"] == date(2026, 9, 4)]  # fmt: skip
    assert bot_day4 == [
        ("v1", "gpt-4o-mini", 3, 4, 0.75, date(2026, 9, 1), date(2026, 9, 4)),
        ("v2", "gpt-4o-mini", 1, 4, 0.25, date(2026, 9, 4), date(2026, 9, 4)),
    ]
    assert sum(c["n_cases"] for c in changes) == 25  # every production case, once


def test_a_held_diff_does_not_gate(tmp_path):
    settings = settings_with_registry(tmp_path, REGISTRY)
    (settings.raw_dir / "traces.jsonl").write_text("\n".join(_traces()) + "\n")
    worse = [dict(row, score_value=0.5) for row in _eval_rows("cand-v2", "v2", "gpt-4o-mini", 2)]
    rows = _eval_rows("base", "v1", "gpt-4o-mini", 1) + worse
    (settings.raw_dir / "evals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for path in sorted(settings.raw_dir.iterdir()):
        ingest_file(path, settings)
    warehouse.build(settings)
    assert run_diff(settings, "bot", "base", "cand-v2").result["decision"] == "hold"
    warehouse.build(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        gate = con.sql("select is_gated, gate_decision, gate_note from change_events "
                       "where to_value = 'v2'").fetchall()  # fmt: skip
    assert gate == [(False, "hold", "the latest eval diff of this candidate, "
                     "bot--base--vs--cand-v2, held it")]  # fmt: skip
