"""Vectorised draws of the demo fleet's cases, LLM calls and tool calls (numpy, no loops
over rows). Pure: (fleet, calendar, seed) → Arrow tables; writing is done elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from pipelines.synth import fleet
from pipelines.synth.fleet import AgentSpec

OUTCOMES = np.array(["escalated", "abandoned", "fallback"])
TOOLS = np.array(["search_kb", "get_customer", "lookup_order", "create_ticket", "run_query"])
DAY_NS = 86_400 * 10**9
MAX_INPUT_TOKENS = 190_000
# What instrumentations report as gen_ai.response.model for each requested model.
RESPONSE_MODELS = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
}


@dataclass(frozen=True)
class Calendar:
    start: date
    days: int

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def epoch_ns(self) -> int:
        return (self.start - date(1970, 1, 1)).days * DAY_NS


@dataclass(frozen=True)
class Simulation:
    cases: pa.Table
    calls: pa.Table
    tools: pa.Table


def expected_cases(agents: tuple[AgentSpec, ...], calendar: Calendar, calls_per_day: int):
    """(agents × days) matrix of expected case counts: weights, weekends, slow growth."""
    weights = np.array([a.weight for a in agents])
    per_agent_calls = calls_per_day * weights / weights.sum()
    base = per_agent_calls / np.array([a.calls_per_case for a in agents])
    weekday = np.array([calendar.day(d).weekday() for d in range(calendar.days)])
    weekend = np.array([a.weekend_factor for a in agents])[:, None]
    factor = np.where(weekday[None, :] >= 5, weekend, 1.0)
    growth = 1 + np.array([a.growth for a in agents])[:, None] * np.arange(calendar.days)[None, :]
    return base[:, None] * factor * growth


def simulate(
    agents: tuple[AgentSpec, ...], calendar: Calendar, calls_per_day: int, seed: int
) -> Simulation:
    """Draw every case, LLM call and tool call of the demo period."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(expected_cases(agents, calendar, calls_per_day))
    agent_idx = np.repeat(np.repeat(np.arange(len(agents)), calendar.days), counts.ravel())
    day_idx = np.repeat(np.tile(np.arange(calendar.days), len(agents)), counts.ravel())
    cases = _cases(agents, calendar, agent_idx, day_idx, rng)
    return Simulation(cases, _calls(agents, cases, rng), _tools(cases, rng))


def _spec_array(agents, agent_idx, attribute):
    return np.array([getattr(a, attribute) for a in agents])[agent_idx]


def _cases(agents, calendar, agent_idx, day_idx, rng) -> pa.Table:
    n = len(agent_idx)
    names = np.array([a.name for a in agents])[agent_idx]
    # working-hours heavy start times
    seconds = np.clip(rng.normal(13.5 * 3600, 3.2 * 3600, n), 0, 86_399).astype(np.int64)
    start_ns = calendar.epoch_ns() + day_idx * DAY_NS + seconds * 10**9 + rng.integers(0, 10**9, n)
    quality = rng.normal(_spec_array(agents, agent_idx, "quality_mean"), 0.07)
    drift = (names == fleet.QUALITY_DRIFT["agent"]) & (day_idx >= fleet.QUALITY_DRIFT["day"])
    canary = _on_canary(names, day_idx, rng)
    quality = quality - drift * fleet.QUALITY_DRIFT["quality_drop"]
    quality = np.round(np.clip(quality - canary * fleet.CANARY["quality_drop"], 0, 1), 3)
    version = _versions(names, day_idx, drift, canary)
    resolved = rng.random(n) < _spec_array(agents, agent_idx, "resolve_rate") - drift * 0.06
    # 2 % of unresolved cases fall back: fleet fallback rates sit well under the 0.8 % SLO
    outcome = np.where(resolved, "resolved", OUTCOMES[rng.choice(3, n, p=[0.62, 0.36, 0.02])])
    intent = _intents(agents, agent_idx, day_idx, names, rng)
    late_day = (day_idx % fleet.LATE["every_n_days"] == 3) & (
        rng.random(n) < fleet.LATE["share_of_cases"]
    )
    arrival = np.minimum(day_idx + late_day * fleet.LATE["delay_days"], calendar.days - 1)
    model = np.array([a.route.model for a in agents])[agent_idx]
    migrated = (names == fleet.MIGRATION["agent"]) & (day_idx >= fleet.MIGRATION["day"])
    model = np.where(migrated, fleet.MIGRATION["to_model"], model)
    n_llm = 1 + rng.poisson(_spec_array(agents, agent_idx, "calls_per_case") - 1)
    n_tool = np.minimum(rng.poisson(_spec_array(agents, agent_idx, "tools_per_case")), n_llm)
    is_scored = rng.random(n) < 0.7
    guardrail, guardrail_value = _guardrails(agents, agent_idx, names, version, is_scored, rng)
    return pa.table(
        {
            "case_no": np.arange(n, dtype=np.int64),
            "agent_idx": agent_idx.astype(np.int32),
            "agent_name": names,
            "day_idx": day_idx.astype(np.int32),
            "arrival_day_idx": arrival.astype(np.int32),
            "start_ns": start_ns,
            "trace_hi": rng.integers(1, 2**62, n, dtype=np.int64),
            "trace_lo": rng.integers(1, 2**62, n, dtype=np.int64),
            "root_span_id": rng.integers(1, 2**62, n, dtype=np.int64),
            "agent_version": version,
            "intent": intent,
            "outcome": outcome,
            "is_scored": is_scored,
            "quality": quality,
            "guardrail": guardrail,
            "guardrail_value": guardrail_value,
            "provider": np.array([a.route.provider for a in agents])[agent_idx],
            "model": model,
            "n_llm": n_llm.astype(np.int32),
            "n_tool": n_tool.astype(np.int32),
        }
    )


def _on_canary(names, day_idx, rng):
    """refund-assistant cases that run the canary version: a share from its first day,
    every case from its full-traffic day."""
    canary = fleet.CANARY
    draw = rng.random(len(names)) < canary["share"]
    return (
        (names == canary["agent"])
        & (day_idx >= canary["day"])
        & ((day_idx >= canary["full_day"]) | draw)
    )


def _versions(names, day_idx, drift, canary):
    """gen_ai.agent.version of each case: v1, but for the agents whose version changes."""
    triage = fleet.QUALITY_DRIFT
    version = np.where(drift, triage["to_version"], "v1")
    version = np.where((names == triage["agent"]) & ~drift, triage["from_version"], version)
    version = np.where(canary, fleet.CANARY["to_version"], version)
    switch = fleet.GUARDRAIL_REGRESSION
    switched = (names == switch["agent"]) & (day_idx >= switch["day"])
    return np.where(switched, switch["to_version"], version)


def _guardrails(agents, agent_idx, names, version, is_scored, rng):
    """(evaluator name, 0/1 score) of each case: NULL unless the case is scored and its
    agent has a guardrail evaluator (fleet.GUARDRAILS)."""
    specs = [fleet.GUARDRAILS.get(a.name, (None, 0.0, None)) for a in agents]
    evaluator = np.array([spec[0] for spec in specs], dtype=object)[agent_idx]
    has_evaluator = np.array([spec[0] is not None for spec in specs])[agent_idx]
    rate = np.array([spec[1] for spec in specs])[agent_idx]
    switch = fleet.GUARDRAIL_REGRESSION
    regressed = (names == switch["agent"]) & (version == switch["to_version"])
    rate = np.where(regressed, switch["rate_after"], rate)
    value = (rng.random(len(names)) < rate).astype(np.int8)
    scored = is_scored & has_evaluator
    return (
        pa.array(np.where(scored, evaluator, None), pa.string()),
        pa.array(value, pa.int8(), mask=~scored),
    )


def _intents(agents, agent_idx, day_idx, names, rng):
    intent = np.empty(len(agent_idx), dtype=object)
    low = fleet.LOW_VOLUME_INTENT_SHIFT
    for i, agent in enumerate(agents):
        mask = agent_idx == i
        if agent.intent_shares is None:
            intent[mask] = rng.choice(np.array(agent.intents), mask.sum())
            continue
        after = low["shares_after"] if agent.name == low["agent"] else agent.intent_shares
        shares = np.where(
            (day_idx[mask] >= low["day"])[:, None], np.array(after), np.array(agent.intent_shares)
        )
        picked = (rng.random(mask.sum())[:, None] >= np.cumsum(shares, axis=1)).sum(axis=1)
        intent[mask] = np.array(agent.intents)[np.minimum(picked, len(agent.intents) - 1)]
    shift = fleet.INTENT_SHIFT
    shifted = (names == shift["agent"]) & (day_idx >= shift["day"])
    intent[shifted & (rng.random(len(agent_idx)) < shift["share"])] = shift["intent"]
    return intent.astype(str)


def _calls(agents, cases: pa.Table, rng) -> pa.Table:
    per_case = cases["n_llm"].to_numpy()
    case_no = np.repeat(cases["case_no"].to_numpy(), per_case)
    agent_idx = np.repeat(cases["agent_idx"].to_numpy(), per_case)
    provider = np.repeat(cases["provider"].to_numpy(), per_case)
    model = np.repeat(cases["model"].to_numpy(), per_case)
    n = len(case_no)
    starts = np.cumsum(per_case) - per_case
    position = np.arange(n) - np.repeat(starts, per_case)
    context = 1 + 0.3 * position
    input_tokens = np.clip(  # below 200k: the demo stays out of long-context price tiers
        rng.lognormal(np.log(_spec_array(agents, agent_idx, "input_tokens") * context), 0.45),
        1,
        MAX_INPUT_TOKENS,
    ).astype(np.int64)
    output_tokens = np.maximum(
        1, rng.lognormal(np.log(_spec_array(agents, agent_idx, "output_tokens")), 0.5)
    )
    overrun = fleet.BUDGET_OVERRUN
    longer = (np.repeat(cases["agent_name"].to_numpy(), per_case) == overrun["agent"]) & (
        np.repeat(cases["day_idx"].to_numpy(), per_case) >= overrun["day"]
    )
    output_tokens = (output_tokens * np.where(longer, overrun["output_tokens_factor"], 1)).astype(
        np.int64
    )
    cache_read = np.where(
        position > 0, (input_tokens * rng.uniform(0.3, 0.7, n)).astype(np.int64), 0
    )
    writes_cache = (provider == "anthropic") & (position == 0) & (rng.random(n) < 0.3)
    cache_write = np.where(writes_cache, (input_tokens * 0.5).astype(np.int64), 0)
    reasoning = (output_tokens * _spec_array(agents, agent_idx, "reasoning_share")).astype(np.int64)
    ms_per_token = np.where(np.char.find(model.astype(str), "mini") >= 0, 2.5, 4.0)
    duration_ms = (200 + output_tokens * ms_per_token) * rng.lognormal(0, 0.25, n)
    is_error = rng.random(n) < 0.01
    return pa.table(
        {
            "case_no": case_no,
            "position": (2 * position).astype(np.int32),
            "span_id": rng.integers(1, 2**62, n, dtype=np.int64),
            "provider": provider,
            "model": model,
            "response_model": np.array([RESPONSE_MODELS.get(m, m) for m in model]),
            "response_no": rng.integers(1, 2**62, n, dtype=np.int64),
            "input_tokens": np.where(is_error, 0, input_tokens),
            "output_tokens": np.where(is_error, 0, output_tokens),
            "cache_read_tokens": np.where(is_error, 0, cache_read),
            "cache_write_tokens": np.where(is_error, 0, cache_write),
            "reasoning_tokens": np.where(is_error, 0, reasoning),
            "duration_ns": (duration_ms * 1e6).astype(np.int64),
            "is_error": is_error,
        }
    )


def _tools(cases: pa.Table, rng) -> pa.Table:
    per_case = cases["n_tool"].to_numpy()
    n = int(per_case.sum())
    starts = np.cumsum(per_case) - per_case
    position = np.arange(n) - np.repeat(starts, per_case)
    return pa.table(
        {
            "case_no": np.repeat(cases["case_no"].to_numpy(), per_case),
            "position": (2 * position + 1).astype(np.int32),
            "span_id": rng.integers(1, 2**62, n, dtype=np.int64),
            "tool_name": TOOLS[rng.integers(0, len(TOOLS), n)],
            "call_no": rng.integers(1, 2**62, n, dtype=np.int64),
            "duration_ns": (rng.lognormal(np.log(120), 0.6, n) * 1e6).astype(np.int64),
        }
    )
