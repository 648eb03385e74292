"""`config/policy.yaml`: service-level objectives (and, later, drift and verdict rules).

Every value has a default, so a missing file or section means the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import yaml

from pipelines.schemas import documented_schema

POLICY_FILE = "policy.yaml"


@dataclass(frozen=True)
class Slo:
    name: str
    target: float
    objective: str  # "below": actual < target; "at_least": actual ≥ target
    doc: str


SLOS = (
    Slo("p95_case_latency_ms", 2500.0, "below", "95th percentile case latency, ms"),
    Slo("fallback_rate", 0.008, "below", "share of cases that fell back"),
    Slo("audit_completeness", 0.9999, "at_least", "share of spans an audit can place"),
)
SLO_NAMES = tuple(slo.name for slo in SLOS)

SLO_POLICY_SCHEMA = documented_schema(
    "Fleet-wide SLO targets from config/policy.yaml (agents may override them).",
    ("slo", pa.string(), "SLO name."),
    ("target", pa.float64(), "Fleet-wide target."),
    ("objective", pa.string(), "below: actual must stay under target; at_least: reach it."),
    ("description", pa.string(), "What is measured."),
)


class PolicyError(ValueError):
    """config/policy.yaml is not as expected; the message names the file and field."""


def load_document(config_dir: Path) -> dict:
    path = config_dir / POLICY_FILE
    if not path.exists():
        return {}
    document = yaml.safe_load(path.read_text()) or {}
    if not isinstance(document, dict):
        raise PolicyError(f"{path}: expected a mapping of sections (slos: …)")
    return document


def slo_targets(config_dir: Path) -> dict[str, float]:
    """Fleet-wide SLO targets: policy.yaml's `slos:` over the defaults."""
    where = f"{config_dir / POLICY_FILE}: slos"
    given = load_document(config_dir).get("slos") or {}
    if not isinstance(given, dict):
        raise PolicyError(f"{where}: must map an SLO name to its target")
    for name, value in given.items():
        check_target(where, name, value)
    return {slo.name: float(given.get(slo.name, slo.target)) for slo in SLOS}


def check_target(where: str, name: str, value) -> float:
    """A valid target for SLO `name`, else PolicyError naming where it came from."""
    if name not in SLO_NAMES:
        raise PolicyError(f"{where}: unknown SLO {name!r} (known: {', '.join(SLO_NAMES)})")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PolicyError(f"{where}.{name}: must be a number ≥ 0, got {value!r}")
    if name != "p95_case_latency_ms" and value > 1:
        raise PolicyError(f"{where}.{name}: a rate, between 0 and 1, got {value!r}")
    return float(value)


def slo_policy_table(config_dir: Path) -> pa.Table:
    """The `slo_policy` seed: one row per SLO with its fleet-wide target."""
    targets = slo_targets(config_dir)
    rows = [
        {"slo": s.name, "target": targets[s.name], "objective": s.objective, "description": s.doc}
        for s in SLOS
    ]
    return pa.Table.from_pylist(rows, schema=SLO_POLICY_SCHEMA)
