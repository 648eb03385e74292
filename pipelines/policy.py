"""`config/policy.yaml`: service-level objectives, drift rules, portfolio verdict rules and
the eval diff's ship/hold rule.

Every value has a default, so a missing file or section means the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import pyarrow as pa
import yaml

from pipelines.errors import UserError
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
    Slo("audit_completeness", 0.9999, "at_least", "share of audit events an audit can place"),
)
SLO_NAMES = tuple(slo.name for slo in SLOS)

SLO_POLICY_SCHEMA = documented_schema(
    "Fleet-wide SLO targets from config/policy.yaml (agents may override them).",
    ("slo", pa.string(), "SLO name."),
    ("target", pa.float64(), "Fleet-wide target."),
    ("objective", pa.string(), "below: actual must stay under target; at_least: reach it."),
    ("description", pa.string(), "What is measured."),
)


class PolicyError(UserError, ValueError):
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


@dataclass(frozen=True)
class DriftPolicy:
    """How drift is judged (policy.yaml `drift:`); see config/policy.yaml for each field."""

    reference_days: int = 28
    after_change: str = "previous_version"  # or "trailing"
    min_current_cases: int = 100
    min_reference_cases: int = 300
    psi_warn: float = 0.1
    psi_alert: float = 0.25
    ks_p_value: float = 0.01
    ks_min_statistic: float = 0.1
    js_alert: float = 0.1
    chi2_p_value: float = 0.01
    daily_windows_running: int = 3
    weekly_windows_running: int = 2
    strong_p_value: float = 1e-6
    strong_windows_running: int = 2
    max_window_days: int = 7


AFTER_CHANGE = ("previous_version", "trailing")
VERDICT_EFFECTS = ("ignore", "watch", "retire")  # what a finding does to a verdict
_CHOICES = {"after_change": AFTER_CHANGE, "governance_gaps": VERDICT_EFFECTS,
            "slo_misses": VERDICT_EFFECTS, "ungated_changes": VERDICT_EFFECTS}  # fmt: skip
_COUNTS = ("reference_days", "min_current_cases", "min_reference_cases",
           "daily_windows_running", "weekly_windows_running", "strong_windows_running",
           "min_cases", "months_running", "model_retirement_days", "min_paired_items",
           "bootstrap_resamples", "seed", "slo_miss_weeks", "max_window_days",
           "short_days", "long_days", "min_short_cases", "min_long_cases",
           "min_days_elapsed")  # fmt: skip
_FACTORS = ("short_burn_rate", "long_burn_rate", "alert_at")  # numbers > 0, no upper bound


def drift_policy(config_dir: Path) -> DriftPolicy:
    """policy.yaml's `drift:` over the defaults; PolicyError names a bad field."""
    result = _section(config_dir, "drift", DriftPolicy)
    if result.psi_warn > result.psi_alert:
        raise PolicyError(
            f"{config_dir / POLICY_FILE}: drift: psi_warn {result.psi_warn} is above "
            f"psi_alert {result.psi_alert}"
        )
    return result


@dataclass(frozen=True)
class PortfolioPolicy:
    """How the monthly review decides each agent's verdict (policy.yaml `portfolio:`); see
    config/policy.yaml for each field."""

    min_cases: int = 30
    months_running: int = 2
    min_quality_improvement: float = 0.01
    model_retirement_days: int = 90
    min_priced_share: float = 0.95
    governance_gaps: str = "watch"
    slo_misses: str = "watch"
    slo_miss_weeks: int = 2
    ungated_changes: str = "watch"


def portfolio_policy(config_dir: Path) -> PortfolioPolicy:
    """policy.yaml's `portfolio:` over the defaults; PolicyError names a bad field."""
    return _section(config_dir, "portfolio", PortfolioPolicy)


@dataclass(frozen=True)
class EvalDiffPolicy:
    """When an eval diff ships a candidate (policy.yaml `eval_diff:`)."""

    margin: float = 0.02
    max_cost_increase: float = 0.10
    max_latency_increase: float = 0.10
    min_paired_items: int = 30
    bootstrap_resamples: int = 2000
    seed: int = 7


def eval_diff_policy(config_dir: Path) -> EvalDiffPolicy:
    """policy.yaml's `eval_diff:` over the defaults; PolicyError names a bad field."""
    return _section(config_dir, "eval_diff", EvalDiffPolicy)


@dataclass(frozen=True)
class BurnPolicy:
    """When an SLO's error budget burns too fast (policy.yaml `slo_burn:`): the burn rate
    (bad share ÷ the budget the SLO allows) must reach short_burn_rate over the last
    short_days and long_burn_rate over the last long_days, each window with enough cases."""

    short_days: int = 1
    long_days: int = 7
    short_burn_rate: float = 6.0
    long_burn_rate: float = 3.0
    min_short_cases: int = 50
    min_long_cases: int = 200


def burn_policy(config_dir: Path) -> BurnPolicy:
    """policy.yaml's `slo_burn:` over the defaults; PolicyError names a bad field."""
    result = _section(config_dir, "slo_burn", BurnPolicy)
    if result.short_days >= result.long_days:
        raise PolicyError(
            f"{config_dir / POLICY_FILE}: slo_burn: short_days "
            f"{result.short_days} must be below long_days {result.long_days}"
        )
    return result


@dataclass(frozen=True)
class BudgetPolicy:
    """The month-to-date budget forecast (policy.yaml `budget:`): alert when the projected
    month exceeds alert_at × monthly_budget_usd, from min_days_elapsed days into the month."""

    alert_at: float = 1.0
    min_days_elapsed: int = 3


def budget_policy(config_dir: Path) -> BudgetPolicy:
    """policy.yaml's `budget:` over the defaults; PolicyError names a bad field."""
    return _section(config_dir, "budget", BudgetPolicy)


@dataclass(frozen=True)
class Guardrail:
    """One evaluator's threshold: its mean (a rate, for 0/1 scores) must stay at most `max`
    or at least `min`; judged from min_samples scores up."""

    evaluator: str
    bound: str  # "max" or "min"
    threshold: float
    min_samples: int = 30


GUARDRAIL_BOUNDS = ("max", "min")


def parse_guardrails(where: str, given) -> dict[str, Guardrail]:
    """`{evaluator: {max: x | min: x, min_samples: n}}` as Guardrails; PolicyError names the
    evaluator and field."""
    if not given:
        return {}
    if not isinstance(given, dict):
        raise PolicyError(f"{where}: must map an evaluator name to {{max: x}} or {{min: x}}")
    result = {}
    for evaluator, rule in given.items():
        here = f"{where}.{evaluator}"
        if not isinstance(rule, dict):
            raise PolicyError(f"{here}: must be a mapping such as {{max: 0.01}}, got {rule!r}")
        unknown = set(rule) - {*GUARDRAIL_BOUNDS, "min_samples"}
        bounds = [b for b in GUARDRAIL_BOUNDS if b in rule]
        if unknown:
            raise PolicyError(
                f"{here}: unknown setting {sorted(unknown)[0]!r} (known: max, min, min_samples)"
            )
        if len(bounds) != 1:
            raise PolicyError(f"{here}: give exactly one of max or min")
        threshold = rule[bounds[0]]
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise PolicyError(f"{here}.{bounds[0]}: must be a number, got {threshold!r}")
        samples = rule.get("min_samples", Guardrail.min_samples)
        check_count(f"{here}.min_samples", samples)
        result[str(evaluator)] = Guardrail(str(evaluator), bounds[0], float(threshold), samples)
    return result


# the fleet-wide thresholds when policy.yaml has no `guardrails:` (`guardrails: {}`: none)
DEFAULT_GUARDRAILS = {
    "pii_leak": {"max": 0.005},
    "hallucination": {"max": 0.03},
    "policy_violation": {"max": 0.01},
    "tool_call_correct": {"min": 0.9},
    "intent_correct": {"min": 0.85},
}


def guardrails(config_dir: Path) -> dict[str, Guardrail]:
    """policy.yaml's `guardrails:`, else the defaults (fleet-wide; agents override them in
    the registry)."""
    where = f"{config_dir / POLICY_FILE}: guardrails"
    given = load_document(config_dir).get("guardrails", DEFAULT_GUARDRAILS)
    return parse_guardrails(where, given)


GUARDRAIL_THRESHOLDS_SCHEMA = documented_schema(
    "Evaluator thresholds: policy.yaml `guardrails:` (agent_name NULL: every agent) and the "
    "registry's per-agent `guardrails:` overrides.",
    ("agent_name", pa.string(), "The agent the threshold is its own (NULL: fleet-wide)."),
    ("evaluator", pa.string(), "gen_ai.evaluation.name the threshold applies to."),
    (
        "bound",
        pa.string(),
        "max: the mean (a rate, for 0/1 scores) must stay at most "
        "threshold; min: at least threshold.",
    ),
    ("threshold", pa.float64(), "The bound's value."),
    ("min_samples", pa.int64(), "Scores needed in a period before it is judged."),
)


def guardrail_thresholds_table(
    fleet: dict[str, Guardrail], agents: dict[str, dict[str, Guardrail]]
) -> pa.Table:
    """The `guardrail_thresholds` seed: fleet-wide rules, then each agent's overrides."""
    rows = [(None, rule) for rule in fleet.values()]
    rows += [(agent, rule) for agent, rules in sorted(agents.items()) for rule in rules.values()]
    return pa.Table.from_pylist(
        [{"agent_name": agent, "evaluator": r.evaluator, "bound": r.bound,
          "threshold": r.threshold, "min_samples": r.min_samples} for agent, r in rows],
        schema=GUARDRAIL_THRESHOLDS_SCHEMA,
    )  # fmt: skip


def settings_table(policy, doc: str) -> pa.Table:
    """A policy dataclass as a one-row seed table (for SQL models that apply it), each
    column typed as its field is declared (a float written `6` in policy.yaml stays float)."""
    kinds = {"int": (pa.int64(), int), "float": (pa.float64(), float), "str": (pa.string(), str)}
    declared = {f.name: kinds[f.type] for f in fields(policy)}
    schema = documented_schema(
        doc, *((name, kind, f"policy.yaml: {name}") for name, (kind, _) in declared.items())
    )
    row = {name: cast(getattr(policy, name)) for name, (_, cast) in declared.items()}
    return pa.Table.from_pylist([row], schema=schema)


def check_count(where: str, value) -> None:
    """A whole number ≥ 1 (a count of days, cases, samples…), else PolicyError naming
    `where`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PolicyError(f"{where}: must be a whole number ≥ 1, got {value!r}")


def _section(config_dir: Path, section: str, policy_class):
    """One policy.yaml section over its dataclass defaults: whole numbers ≥ 1 for the
    counts, one of the choices for the settings that have them, numbers in (0, 1] for
    everything else."""
    where = f"{config_dir / POLICY_FILE}: {section}"
    given = load_document(config_dir).get(section) or {}
    if not isinstance(given, dict):
        raise PolicyError(f"{where}: must map a setting to its value")
    known = {f.name for f in fields(policy_class)}
    for name, value in given.items():
        if name not in known:
            names = ", ".join(sorted(known))
            raise PolicyError(f"{where}: unknown setting {name!r} (known: {names})")
        if name in _CHOICES:
            if value not in _CHOICES[name]:
                choices = ", ".join(_CHOICES[name])
                raise PolicyError(f"{where}.{name}: one of {choices}, got {value!r}")
        elif name in _COUNTS:
            check_count(f"{where}.{name}", value)
        elif name in _FACTORS:
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise PolicyError(f"{where}.{name}: must be a number > 0, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise PolicyError(f"{where}.{name}: must be a number in (0, 1], got {value!r}")
    return replace(policy_class(), **given)
