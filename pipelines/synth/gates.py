"""The demo's eval gates: the `fleetledger diff` runs its teams made before their changes
(kb-answerer's migration, refund-assistant's and code-reviewer's v2), read from the ground
truth. Run after a first build (a diff reads the warehouse's eval_results); the next build
files them as eval_diffs, so change_events sees those changes as gated."""

from __future__ import annotations

import json

from pipelines.evals.runs import DiffOutput, run_diff
from pipelines.settings import Settings
from pipelines.synth import GROUND_TRUTH_FILE


def demo_diffs(truth: dict) -> list[tuple[str, str, str]]:
    """(agent, baseline run, candidate run) of every diff the truth's events name."""
    diffs = []
    for event in truth["events"]:
        if event["type"] == "eval_runs":
            diffs += [(event["agent"], event["baseline"], c["run"]) for c in event["candidates"]]
        elif event.get("gate"):
            gate = event["gate"]
            diffs.append((gate["agent"], gate["baseline"], gate["candidate"]))
    return diffs


def run_demo_diffs(settings: Settings) -> list[DiffOutput]:
    """Run every diff of the demo's ground truth (written by `generate_demo`)."""
    truth = json.loads((settings.data_dir / GROUND_TRUTH_FILE).read_text())
    return [run_diff(settings, *diff) for diff in demo_diffs(truth)]
