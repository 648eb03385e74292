"""Which days each drift window compares: pure functions over each agent's daily
configuration (version, model), so the rule is testable without a warehouse."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta

from pipelines.policy import DriftPolicy

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    granularity: str  # daily or weekly
    agent_name: str
    window_start: date
    window_end: date
    reference_start: date
    reference_end: date
    reference_kind: str  # trailing or previous_version


@dataclass(frozen=True)
class AgentDay:
    day: date
    agent_version: str | None
    model: str | None


def change_days(days: list[AgentDay]) -> list[date]:
    """Days whose (version, model) differs from the agent's previous day with data."""
    return [
        today.day
        for before, today in itertools.pairwise(days)
        if (before.agent_version, before.model) != (today.agent_version, today.model)
    ]


def reference(start: date, changes: list[date], policy: DriftPolicy) -> tuple[date, date, str]:
    """The reference of a window starting on `start`: the reference_days before it; or,
    after a change that falls inside those days, the last reference_days before the change."""
    trailing = (start - policy.reference_days * DAY, start - DAY, "trailing")
    if policy.after_change != "previous_version":
        return trailing
    recent = [day for day in changes if start - policy.reference_days * DAY < day <= start]
    if not recent:
        return trailing
    change = recent[-1]
    return change - policy.reference_days * DAY, change - DAY, "previous_version"


def agent_windows(agent: str, days: list[AgentDay], last_day: date, policy: DriftPolicy):
    """Every daily and weekly window of one agent, from its second day with data (the
    first has nothing before it) to `last_day`; the last week may be partial."""
    if not days:
        return []
    changes = change_days(days)
    first = days[0].day
    windows = []
    day = first + DAY
    while day <= last_day:
        windows.append(Window("daily", agent, day, day, *reference(day, changes, policy)))
        day += DAY
    week = first - first.weekday() * DAY + 7 * DAY  # the first full week after the first day
    while week <= last_day:
        end = min(week + 6 * DAY, last_day)
        windows.append(Window("weekly", agent, week, end, *reference(week, changes, policy)))
        week += 7 * DAY
    return windows
