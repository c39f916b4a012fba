"""The NYSE business-day calendar, from ``exchange_calendars`` (its XNYS calendar: holidays and
the unscheduled closures such as national days of mourning), read once into a sorted list of
sessions so that no look-up touches pandas again.

Sessions are loaded from 1990 to ten years ahead; a date outside that range is not judged
(``None``), never guessed.
"""

from __future__ import annotations

import warnings
from bisect import bisect_left, bisect_right
from datetime import UTC, date, datetime
from functools import lru_cache

FIRST = date(1990, 1, 2)
YEARS_AHEAD = 10


@lru_cache(maxsize=1)
def _sessions() -> tuple[date, ...]:
    last = date(datetime.now(UTC).year + YEARS_AHEAD, 12, 31)
    with warnings.catch_warnings():  # the library's own use of pandas APIs pandas deprecates
        warnings.simplefilter("ignore")
        import exchange_calendars  # type: ignore[import-untyped]  # pandas: on first use only

        calendar = exchange_calendars.get_calendar(
            "XNYS", start=FIRST.isoformat(), end=last.isoformat()
        )
    return tuple(day.date() for day in calendar.sessions)


def _known(day: date) -> bool:
    sessions = _sessions()
    return sessions[0] <= day <= sessions[-1]


def is_business_day(day: date) -> bool | None:
    """Whether the NYSE is open on ``day``; None outside the calendar's range."""
    if not _known(day):
        return None
    sessions = _sessions()
    index = bisect_left(sessions, day)
    return index < len(sessions) and sessions[index] == day


def next_business_day(day: date) -> date | None:
    """The first NYSE session strictly after ``day``; None outside the calendar's range."""
    sessions = _sessions()
    if not _known(day):
        return None
    index = bisect_right(sessions, day)
    return sessions[index] if index < len(sessions) else None


def previous_business_day(day: date) -> date | None:
    """The last NYSE session strictly before ``day``; None outside the calendar's range."""
    sessions = _sessions()
    if not _known(day):
        return None
    index = bisect_left(sessions, day)
    return sessions[index - 1] if index > 0 else None
