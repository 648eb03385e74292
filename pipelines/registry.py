"""The agent registry, `config/agents.yaml`: loaded, checked, turned into a table."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import yaml

from pipelines.errors import UserError
from pipelines.policy import Guardrail, PolicyError, check_target, parse_guardrails
from pipelines.schemas import AGENTS

REGISTRY_FILE = "agents.yaml"
NUMBERS = ("human_baseline_usd_per_case", "escalation_cost_usd", "quality_target",
           "monthly_budget_usd")  # fmt: skip
BILLING_KEY_KINDS = ("openai_project", "anthropic_workspace", "sub_account", "api_key", "focus_tag")


class RegistryError(UserError, ValueError):
    """config/agents.yaml is not as expected; the message names the agent and field."""


def load_agents(config_dir: Path) -> list[dict]:
    """The registry's agents as dicts; raises RegistryError naming file, agent and field."""
    path = config_dir / REGISTRY_FILE
    if not path.exists():
        raise RegistryError(f"{path}: not found (run `fleetledger demo` to create a sample)")
    document = yaml.safe_load(path.read_text()) or {}
    agents = document.get("agents")
    if not isinstance(agents, list):
        raise RegistryError(f"{path}: expected a top-level `agents:` list")
    seen: set[str] = set()
    for index, agent in enumerate(agents):
        where = f"{path}: agents[{index}]"
        if not isinstance(agent, dict) or not agent.get("name"):
            raise RegistryError(f"{where}: every agent needs a `name`")
        if agent["name"] in seen:
            raise RegistryError(f"{where}: agent {agent['name']!r} is listed twice")
        seen.add(agent["name"])
        for field in NUMBERS:
            value = agent.get(field)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise RegistryError(f"{where} ({agent['name']}): `{field}` must be a number ≥ 0")
        targets = agent.get("slo_targets") or {}
        if not isinstance(targets, dict):
            raise RegistryError(f"{where} ({agent['name']}): `slo_targets` must be a mapping")
        for name, value in targets.items():
            try:
                check_target(f"{where} ({agent['name']}): slo_targets", name, value)
            except PolicyError as error:
                raise RegistryError(str(error)) from None
        try:
            parse_guardrails(f"{where} ({agent['name']}): guardrails", agent.get("guardrails"))
        except PolicyError as error:
            raise RegistryError(str(error)) from None
    return agents


def agent_guardrails(agents: list[dict]) -> dict[str, dict[str, Guardrail]]:
    """Each agent's own evaluator thresholds (`guardrails:`), overriding policy.yaml's."""
    return {
        agent["name"]: parse_guardrails(agent["name"], agent["guardrails"])
        for agent in agents
        if agent.get("guardrails")
    }


def agents_table(agents: list[dict]) -> pa.Table:
    """The registry as the canonical `agents` table."""
    rows = []
    for agent in agents:
        billing = agent.get("billing") or {}
        row = {column: agent.get(column) for column in AGENTS.column_names}
        row["agent_name"] = agent["name"]
        row["quality_metric"] = agent.get("quality_metric", "quality")
        if row["escalation_cost_usd"] is None:
            row["escalation_cost_usd"] = agent.get("human_baseline_usd_per_case")
        row["billing_keys"] = [
            (kind, str(billing[kind])) for kind in BILLING_KEY_KINDS if kind in billing
        ]
        row["slo_targets"] = [
            (name, float(value)) for name, value in (agent.get("slo_targets") or {}).items()
        ]
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=AGENTS.arrow_schema)
