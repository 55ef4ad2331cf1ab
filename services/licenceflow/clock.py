"""The business clock and the working-day calendar.

Every timestamp, deadline and expiry comes from one `BusinessClock`:

    business_now = business_anchor + (real_now - real_anchor) × speed

speed 1 is real time, speed > 1 accelerated (simulation), speed 0 a fixed clock that only moves when
told to (tests). The anchor is stored in PostgreSQL so that every process reads the same one and the
clock never runs backwards across restarts (`store/clock.py`).

`WorkingCalendar` counts working days: Monday–Friday plus the regime's weekend make-up working days,
less its public holidays, per the pinned `holidays` library, in the regime's time zone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import msgspec


def real_utc_now() -> datetime:
    return datetime.now(UTC)


class ClockAnchor(msgspec.Struct, frozen=True, kw_only=True):
    real: datetime
    business: datetime
    speed: float

    @classmethod
    def proposed(cls, start: datetime | None, speed: float) -> ClockAnchor:
        """The anchor a process proposes at its start (business time `start`, or now): the
        first one stored wins, and every process of the database runs on it."""
        real = real_utc_now()
        return cls(real=real, business=start or real, speed=speed)

    def business_time(self, real_now: datetime) -> datetime:
        return self.business + (real_now - self.real) * self.speed


class BusinessClock:
    """Gives business "now"; `advance` moves a clock forward (used by tests and operators)."""

    def __init__(
        self, anchor: ClockAnchor, real_now: Callable[[], datetime] = real_utc_now
    ) -> None:
        self._anchor = anchor
        self._real_now = real_now

    @property
    def anchor(self) -> ClockAnchor:
        return self._anchor

    def now(self) -> datetime:
        return self._anchor.business_time(self._real_now())

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the business clock never runs backwards")
        self._anchor = msgspec.structs.replace(self._anchor, business=self._anchor.business + delta)

    def reanchor(self, anchor: ClockAnchor) -> None:
        """Adopt an anchor read from the store, unless it would take business time backwards."""
        if anchor.business_time(self._real_now()) >= self.now():
            self._anchor = anchor


class WorkingCalendar:
    """Working days of one regime; dates are business dates in its time zone."""

    FIRST_YEAR, LAST_YEAR = 1970, 2199  # the span of business dates this calendar counts

    def __init__(self, country: str = "CN", tz: str = "Asia/Shanghai") -> None:
        self.tz = ZoneInfo(tz)
        self._holidays = holidays.country_holidays(country)

    def date_of(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def start_of_day(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.tz)

    def end_of_day(self, day: date) -> datetime:
        return datetime.combine(day, time(23, 59, 59), self.tz)

    @functools.lru_cache(maxsize=8192)  # noqa: B019 - one calendar per process, bounded cache
    def is_working_day(self, day: date) -> bool:
        if day in self._holidays:  # also loads the year's holidays and make-up days
            return False
        return day.weekday() < 5 or day in getattr(self._holidays, "weekend_workdays", ())

    def add_working_days(self, start: date, count: int) -> date:
        """The `count`-th working day after `start` (`start` itself does not count)."""
        day = start
        while count > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days lie after `start` up to and including `end` (0 if end ≤ start)."""
        if end <= start:
            return 0
        whole_years = sum(self._year_counts(year)[-1] for year in range(start.year, end.year))
        return whole_years + self._count_in_year(end) - self._count_in_year(start)

    def _count_in_year(self, day: date) -> int:
        """Working days from 1 January of `day`'s year through `day`."""
        return self._year_counts(day.year)[day.timetuple().tm_yday - 1]

    @functools.lru_cache(maxsize=256)  # noqa: B019
    def _year_counts(self, year: int) -> tuple[int, ...]:
        counts, total, day = [], 0, date(year, 1, 1)
        while day.year == year:
            total += self.is_working_day(day)
            counts.append(total)
            day += timedelta(days=1)
        return tuple(counts)
