"""The demo's offline eval runs for kb-answerer's model migration, in the native
eval_results format: a baseline, a candidate that should ship and one that must be held,
over the same items (two trials each), with known true quality differences."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np

from pipelines.synth import fleet

AGENT = fleet.MIGRATION["agent"]
ITEMS = 300
TRIALS = 2
SLICES = ("how-to", "troubleshooting", "policy")
BASELINE_QUALITY = 0.82
RUNS = (  # run id, variant, model, true quality difference, latency and output factors
    ("kb-baseline-gpt-4o", "gpt-4o / v2", "gpt-4o-2024-08-06", 0.0, 1.0, 1.0),
    ("kb-candidate-gpt-4.1-mini", "gpt-4.1-mini / v2", "gpt-4.1-mini-2025-04-14",
     -0.004, 0.8, 1.05),
    ("kb-candidate-gpt-4.1-nano", "gpt-4.1-nano / v2", "gpt-4.1-nano-2025-04-14",
     -0.06, 0.6, 0.9),
)  # fmt: skip
EXPECTED = {"kb-candidate-gpt-4.1-mini": "ship", "kb-candidate-gpt-4.1-nano": "hold"}


def eval_rows(run_day: date, seed: int) -> list[dict]:
    """Every run × item × trial; item difficulty is shared by the runs (what pairing
    removes), trial noise is not. Costs are left out: the warehouse prices the tokens."""
    rng = np.random.default_rng(seed + 101)
    difficulty = rng.normal(0, 0.06, ITEMS)
    input_tokens = np.round(rng.lognormal(7.8, 0.3, ITEMS)).astype(int)
    output_tokens = rng.lognormal(5.8, 0.3, ITEMS)
    latency = rng.lognormal(7.2, 0.35, ITEMS)
    start = datetime.combine(run_day, time(9), tzinfo=None)
    rows = []
    for run_index, (run_id, variant, model, effect, slower, longer) in enumerate(RUNS):
        for item in range(ITEMS):
            for trial in range(TRIALS):
                score = BASELINE_QUALITY + difficulty[item] + effect + rng.normal(0, 0.04)
                at = start + timedelta(hours=run_index, seconds=item * TRIALS + trial)
                rows.append({
                    "run_id": run_id,
                    "dataset": f"kb-answerer-golden/{SLICES[item % len(SLICES)]}",
                    "item_id": f"kb-{item + 1:04d}",
                    "trial": trial + 1,
                    "agent_name": AGENT,
                    "variant": variant,
                    "model": model,
                    "prompt_version": "v2",
                    "score_name": "quality",
                    "score_value": round(float(np.clip(score, 0, 1)), 4),
                    "input_tokens": int(input_tokens[item]),
                    "output_tokens": round(float(output_tokens[item] * longer)),
                    "latency_ms": round(float(latency[item] * slower * rng.lognormal(0, 0.1)), 1),
                    "evaluated_at": at.isoformat() + "Z",
                })  # fmt: skip
    return rows


def write_evals(raw: Path, run_day: date, seed: int) -> dict:
    """Write raw/evals/<agent>.jsonl; return the ground-truth event."""
    target = raw / "evals" / f"{AGENT}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = eval_rows(run_day, seed)
    target.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return {
        "type": "eval_runs",
        "agent": AGENT,
        "items": ITEMS,
        "trials": TRIALS,
        "day": run_day.isoformat(),
        "baseline": RUNS[0][0],
        "candidates": [
            {"run": run_id, "true_difference": effect, "expected": EXPECTED[run_id]}
            for run_id, _, _, effect, _, _ in RUNS[1:]
        ],
    }
