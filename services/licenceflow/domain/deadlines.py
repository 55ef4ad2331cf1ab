"""The statutory clock: 45 working days from acceptance, paused while information is requested.

Pure arithmetic over a `Calendar` (the working-day calendar of `licenceflow.clock` satisfies it).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol

REVIEW_WORKING_DAYS = 45
RESPONSE_WORKING_DAYS = 20


class Calendar(Protocol):
    def date_of(self, moment: datetime) -> date: ...
    def end_of_day(self, day: date) -> datetime: ...
    def add_working_days(self, start: date, count: int) -> date: ...
    def working_days_between(self, start: date, end: date) -> int: ...


def has_passed(deadline: datetime, now: datetime) -> bool:
    """Deadlines name their last second (23:59:59): they have passed once that second is over."""
    return now >= deadline + timedelta(seconds=1)


def review_due_at(accepted_on: date, paused_working_days: int, calendar: Calendar) -> datetime:
    """End of the 45th working day after acceptance (the acceptance date itself does not count),
    moved by the working days spent waiting for the exporter's answers."""
    day = calendar.add_working_days(accepted_on, REVIEW_WORKING_DAYS + paused_working_days)
    return calendar.end_of_day(day)


def response_due_at(requested_on: date, calendar: Calendar) -> datetime:
    """When an unanswered request for information lapses: end of the 20th working day after it."""
    return calendar.end_of_day(calendar.add_working_days(requested_on, RESPONSE_WORKING_DAYS))


def paused_working_days(requested_on: date, responded_on: date, calendar: Calendar) -> int:
    """Working days from the day after the request through the day of the response."""
    return calendar.working_days_between(requested_on, responded_on)


def working_days_elapsed(
    accepted_on: date,
    today: date,
    paused_working_days: int,
    paused_since: date | None,
    calendar: Calendar,
) -> int:
    """Working days after acceptance up to today, the days of every pause excluded."""
    elapsed = calendar.working_days_between(accepted_on, today) - paused_working_days
    if paused_since is not None:
        elapsed -= calendar.working_days_between(paused_since, today)
    return max(elapsed, 0)
