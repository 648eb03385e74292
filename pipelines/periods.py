"""Days and months given on the command line or as flow parameters, checked once."""

from __future__ import annotations

import re
from datetime import date, timedelta

from pipelines.errors import UserError

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class PeriodError(UserError, ValueError):
    """A day or month that does not exist or is not written as asked."""


def parse_month(text: str, what: str = "month") -> str:
    """`text` if it names a calendar month as YYYY-MM, else a PeriodError naming `what`."""
    if not MONTH.match(text):
        raise PeriodError(f"{what} {text!r}: not a month; write it as YYYY-MM, e.g. 2026-10")
    return text


def parse_day(text: str, what: str = "day") -> date:
    """The date `text` names as YYYY-MM-DD, else a PeriodError naming `what`."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(
            f"{what} {text!r}: not a day of the calendar; write it as YYYY-MM-DD, e.g. 2026-10-31"
        ) from None


def month_range(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    """(start, end) checked as months, start not after end."""
    start = parse_month(start, "start") if start else None
    end = parse_month(end, "end") if end else None
    if start and end and start > end:
        raise PeriodError(f"start {start} is after end {end}")
    return start, end


def months_ending(first_day: date, n: int) -> list[date]:
    """The first days of the n calendar months ending with the one starting `first_day`,
    oldest first."""
    firsts = [first_day]
    for _ in range(n - 1):
        firsts.insert(0, (firsts[0] - timedelta(days=1)).replace(day=1))
    return firsts


def month_end(first_day: date) -> date:
    """The last day of the calendar month starting `first_day`."""
    return (first_day + timedelta(days=32)).replace(day=1) - timedelta(days=1)
