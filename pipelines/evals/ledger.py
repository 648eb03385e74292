"""The eval diffs a change can be gated by: every `fleetledger diff` also files its result
under DATA/diffs/, and each build loads them into the `eval_diffs` seed. (reports/ is for
people and may be cleaned; the data dir keeps what the warehouse is built from.)"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from pipelines.schemas import TIMESTAMP, documented_schema

DIFFS_DIR = "diffs"

EVAL_DIFFS_SCHEMA = documented_schema(
    "One row per eval diff run (`fleetledger diff`): what it compared, what it decided, and "
    "when its candidate was evaluated. change_events joins them to the changes they gate.",
    ("diff_name", pa.string(), "The diff's file name under DATA/diffs/ (and reports/diffs/)."),
    ("agent_name", pa.string(), "Agent compared."),
    ("baseline_run", pa.string(), "Baseline run id or variant."),
    ("candidate_run", pa.string(), "Candidate run id or variant."),
    ("decision", pa.string(), "ship or hold."),
    ("candidate_models", pa.list_(pa.string()), "Models the candidate's eval rows name."),
    ("candidate_variants", pa.list_(pa.string()), "Variant labels of the candidate's rows."),
    ("candidate_prompt_versions", pa.list_(pa.string()), "Prompt versions of the candidate."),
    (
        "evaluated_until",
        TIMESTAMP,
        "When the candidate's last eval item ran: the gate exists from then on.",
    ),
    ("generated_at", TIMESTAMP, "When the diff was computed."),
)


def ledger_dir(data_dir: Path) -> Path:
    return data_dir / DIFFS_DIR


def record(data_dir: Path, name: str, result: dict) -> Path:
    """File a diff's result (JSON) in the ledger; the same diff again replaces it."""
    folder = ledger_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.write_text(json.dumps(result, indent=2, default=str))
    temporary.replace(path)
    return path


def ledger_files(data_dir: Path) -> list[Path]:
    folder = ledger_dir(data_dir)
    return sorted(folder.glob("*.json")) if folder.exists() else []


def diffs_table(data_dir: Path) -> pa.Table:
    """The `eval_diffs` seed from every filed diff."""
    rows = []
    for path in ledger_files(data_dir):
        result = json.loads(path.read_text())
        candidate = result["runs"][result["candidate_run"]]
        rows.append(
            {
                "diff_name": path.stem,
                "agent_name": result["agent"],
                "baseline_run": result["baseline_run"],
                "candidate_run": result["candidate_run"],
                "decision": result["decision"],
                "candidate_models": candidate["models"],
                "candidate_variants": candidate["variants"],
                "candidate_prompt_versions": candidate["prompt_versions"],
                "evaluated_until": _moment(candidate.get("evaluated_until")),
                "generated_at": _moment(result.get("generated_at")),
            }
        )
    return pa.Table.from_pylist(rows, schema=EVAL_DIFFS_SCHEMA)


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
