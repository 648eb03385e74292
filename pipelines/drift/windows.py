"""Which days each drift window compares: pure functions over each agent's daily
configuration (version, model) and case counts, so the rule is testable without a
warehouse.

A daily window ends on its day and reaches back over as few days as it takes to hold
min_current_cases cases (at most max_window_days): a high-volume agent is judged on
one-day windows, a low-volume one on a few days ending on each day, every day."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

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

    @property
    def days(self) -> int:
        """Days the current window spans."""
        return (self.window_end - self.window_start).days + 1


@dataclass(frozen=True)
class AgentDay:
    day: date
    agent_version: str | None
    model: str | None
    n_cases: int = 0  # cases of fct_cases that day


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


def window_lengths(cases: np.ndarray, min_cases: int, max_days: int) -> np.ndarray:
    """Days each daily window spans, for a run of consecutive days' case counts (zero for
    a day without cases): the window ending on day i is the fewest days i-k+1 … i holding
    at least min_cases cases, k ≤ max_days and never before day 0; when none does, the
    longest allowed (it is judged "insufficient data")."""
    cases = np.asarray(cases, dtype=np.int64)
    n = len(cases)
    through = np.concatenate([[0], np.cumsum(cases)])  # cases of days 0 … i-1
    end = np.arange(1, n + 1)
    spans = np.arange(1, max_days + 1)[:, None]  # (k × days): k days ending on each day
    held = through[end] - through[np.maximum(end - spans, 0)]
    allowed = spans <= end  # the window never reaches back before day 0
    enough = (held >= min_cases) & allowed
    longest = np.minimum(max_days, end)
    return np.where(enough.any(axis=0), np.argmax(enough, axis=0) + 1, longest)


def daily_windows(agent: str, days: list[AgentDay], last_day: date, policy: DriftPolicy):
    """One window per day from the agent's second day with data to `last_day`, each
    reaching back as window_lengths says (never to the first day: it has nothing before)."""
    first = days[0].day
    n_days = (last_day - first).days
    cases = np.zeros(n_days + 1, dtype=np.int64)
    for agent_day in days:
        if agent_day.day <= last_day:
            cases[(agent_day.day - first).days] = agent_day.n_cases
    lengths = window_lengths(cases[1:], policy.min_current_cases, policy.max_window_days)
    changes = change_days(days)
    windows = []
    for offset, length in enumerate(lengths.tolist(), start=1):
        end = first + offset * DAY
        start = end - (length - 1) * DAY
        windows.append(Window("daily", agent, start, end, *reference(start, changes, policy)))
    return windows


def disjoint_running(windows: list[Window], crosses: list[bool]) -> list[int]:
    """For consecutive windows of one series (by window_end) and whether each crosses the
    alert thresholds: how many windows sharing no day the run of crossing windows ending
    with each one holds (0 when it does not cross). Counted back from the window itself,
    each time to the latest window ending before the one counted starts: the most there
    are, as a window never starts before the one before it."""
    ends = [window.window_end for window in windows]
    running: list[int] = []
    run_start = 0  # index of the first crossing window of the current run
    for i, (window, crossing) in enumerate(zip(windows, crosses, strict=True)):
        if not crossing:
            running.append(0)
            run_start = i + 1
            continue
        before = bisect.bisect_left(ends, window.window_start, hi=i) - 1
        running.append(1 + (running[before] if before >= run_start else 0))
    return running


def agent_windows(agent: str, days: list[AgentDay], last_day: date, policy: DriftPolicy):
    """Every daily and weekly window of one agent, from its second day with data (the
    first has nothing before it) to `last_day`; the last week may be partial."""
    if not days:
        return []
    windows = daily_windows(agent, days, last_day, policy)
    changes = change_days(days)
    first = days[0].day
    week = first - first.weekday() * DAY + 7 * DAY  # the first full week after the first day
    while week <= last_day:
        end = min(week + 6 * DAY, last_day)
        windows.append(Window("weekly", agent, week, end, *reference(week, changes, policy)))
        week += 7 * DAY
    return windows
