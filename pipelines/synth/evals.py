"""The demo's offline eval runs, in the native eval_results format, one file per agent:
kb-answerer's model migration (a baseline, a candidate that should ship and one that must
be held) and the gates of two version changes (fleet.CANARY, fleet.GUARDRAIL_REGRESSION:
a baseline and a candidate that ships, the offline eval seeing none of what production
will). Every run of a suite scores the same items (two trials each), with known true
quality differences."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np

from pipelines.synth import fleet

TRIALS = 2


@dataclass(frozen=True)
class Run:
    run_id: str
    variant: str
    model: str
    prompt_version: str
    true_difference: float  # quality, against the suite's baseline run
    slower: float = 1.0  # latency factor
    longer: float = 1.0  # output tokens factor
    expected: str | None = None  # what the diff against the baseline decides


@dataclass(frozen=True)
class Suite:
    agent: str
    slices: tuple[str, ...]
    item_prefix: str
    runs: tuple[Run, ...]  # the first is the baseline
    seed_offset: int
    items: int = 300
    baseline_quality: float = 0.82
    input_log_mean: float = 7.8  # per-item tokens: lognormal(mean, 0.3)
    output_log_mean: float = 5.8
    latency_log_mean: float = 7.2

    @property
    def baseline(self) -> Run:
        return self.runs[0]

    @property
    def candidates(self) -> tuple[Run, ...]:
        return self.runs[1:]


MIGRATION = Suite(
    fleet.MIGRATION["agent"],
    ("how-to", "troubleshooting", "policy"),
    "kb",
    (
        Run("kb-baseline-gpt-4o", "gpt-4o / v2", "gpt-4o-2024-08-06", "v2", 0.0),
        Run("kb-candidate-gpt-4.1-mini", "gpt-4.1-mini / v2", "gpt-4.1-mini-2025-04-14", "v2",
            -0.004, 0.8, 1.05, "ship"),
        Run("kb-candidate-gpt-4.1-nano", "gpt-4.1-nano / v2", "gpt-4.1-nano-2025-04-14", "v2",
            -0.06, 0.6, 0.9, "hold"),
    ),
    101,
)  # fmt: skip


def _gate_suite(event: dict, slices, prefix, model, seed_offset, **sizes) -> Suite:
    gate, agent = event["gate"], event["agent"]
    before, after = event["from_version"], event["to_version"]
    return Suite(
        agent,
        slices,
        prefix,
        (
            Run(gate["baseline"], f"{agent} {before}", model, before, 0.0),
            Run(gate["candidate"], f"{agent} {after}", model, after, gate["true_difference"],
                expected=gate["expected"]),
        ),
        seed_offset,
        **sizes,
    )  # fmt: skip


CANARY_GATE = _gate_suite(
    fleet.CANARY, ("refund", "exchange", "complaint"), "refund", "gpt-4o-2024-08-06", 202,
    baseline_quality=0.84, input_log_mean=7.9, output_log_mean=5.9,
)  # fmt: skip
GUARDRAIL_GATE = _gate_suite(
    fleet.GUARDRAIL_REGRESSION, ("backend", "frontend", "infra"), "pr",
    "claude-sonnet-4-5-20250929", 303,
    baseline_quality=0.84, input_log_mean=9.1, output_log_mean=6.5, latency_log_mean=8.9,
)  # fmt: skip


def eval_rows(suite: Suite, run_day: date, seed: int) -> list[dict]:
    """Every run × item × trial; item difficulty is shared by the runs (what pairing
    removes), trial noise is not. Costs are left out: the warehouse prices the tokens."""
    rng = np.random.default_rng(seed + suite.seed_offset)
    difficulty = rng.normal(0, 0.06, suite.items)
    input_tokens = np.round(rng.lognormal(suite.input_log_mean, 0.3, suite.items)).astype(int)
    output_tokens = rng.lognormal(suite.output_log_mean, 0.3, suite.items)
    latency = rng.lognormal(suite.latency_log_mean, 0.35, suite.items)
    start = datetime.combine(run_day, time(9), tzinfo=None)
    rows = []
    for run_index, run in enumerate(suite.runs):
        for item in range(suite.items):
            for trial in range(TRIALS):
                score = (
                    suite.baseline_quality
                    + difficulty[item]
                    + run.true_difference
                    + rng.normal(0, 0.04)
                )
                at = start + timedelta(hours=run_index, seconds=item * TRIALS + trial)
                rows.append({
                    "run_id": run.run_id,
                    "dataset": f"{suite.agent}-golden/{suite.slices[item % len(suite.slices)]}",
                    "item_id": f"{suite.item_prefix}-{item + 1:04d}",
                    "trial": trial + 1,
                    "agent_name": suite.agent,
                    "variant": run.variant,
                    "model": run.model,
                    "prompt_version": run.prompt_version,
                    "score_name": "quality",
                    "score_value": round(float(np.clip(score, 0, 1)), 4),
                    "input_tokens": int(input_tokens[item]),
                    "output_tokens": round(float(output_tokens[item] * run.longer)),
                    "latency_ms": round(
                        float(latency[item] * run.slower * rng.lognormal(0, 0.1)), 1),
                    "evaluated_at": at.isoformat() + "Z",
                })  # fmt: skip
    return rows


def write_suite(raw: Path, suite: Suite, run_day: date, seed: int) -> Path:
    """Write raw/evals/<agent>.jsonl."""
    target = raw / "evals" / f"{suite.agent}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = eval_rows(suite, run_day, seed)
    target.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return target


def write_evals(raw: Path, run_day: date, seed: int) -> dict:
    """Write the migration's runs; return their ground-truth event."""
    write_suite(raw, MIGRATION, run_day, seed)
    return {
        "type": "eval_runs",
        "agent": MIGRATION.agent,
        "items": MIGRATION.items,
        "trials": TRIALS,
        "day": run_day.isoformat(),
        "baseline": MIGRATION.baseline.run_id,
        "candidates": [
            {"run": run.run_id, "true_difference": run.true_difference, "expected": run.expected}
            for run in MIGRATION.candidates
        ],
    }


def write_gate(raw: Path, suite: Suite, run_day: date, seed: int) -> dict:
    """Write a change's gate runs; return the `gate` of its ground-truth event: the diff
    to run (`fleetledger diff --agent … --baseline … --candidate …`) and its decision."""
    write_suite(raw, suite, run_day, seed)
    (candidate,) = suite.candidates
    return {
        "agent": suite.agent,
        "baseline": suite.baseline.run_id,
        "candidate": candidate.run_id,
        "prompt_versions": [suite.baseline.prompt_version, candidate.prompt_version],
        "model": candidate.model,
        "items": suite.items,
        "trials": TRIALS,
        "evaluated_on": run_day.isoformat(),
        "true_difference": candidate.true_difference,
        "expected": candidate.expected,
    }
