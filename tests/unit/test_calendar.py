"""`WorkingCalendar` (default: CN, Asia/Shanghai) around China's long holidays.

Every expected day is written out literally from the State Council's published schedules:
- Spring Festival 2025: 28 Jan–4 Feb off; Sunday 26 Jan and Saturday 8 Feb are working days.
- Golden Week 2025: 1–8 Oct off; Sunday 28 Sep and Saturday 11 Oct are working days.
- New Year 2026: 1–3 Jan off; Sunday 4 Jan is a working day.
- Spring Festival 2026: 15–23 Feb off; Saturdays 14 Feb and 28 Feb are working days.
(`holidays` 0.108, pinned, agrees.) A calendar of weekends and holidays alone is wrong on the
make-up days, so several cases turn on them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from licenceflow.clock import WorkingCalendar

D = date
SHANGHAI = ZoneInfo("Asia/Shanghai")


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(n) for n in range((last - first).days + 1)]


WORKING = [
    # Golden Week 2025
    D(2025, 9, 26),  # Friday
    D(2025, 9, 28),  # Sunday, make-up
    D(2025, 9, 29),
    D(2025, 9, 30),
    D(2025, 10, 9),
    D(2025, 10, 10),
    D(2025, 10, 11),  # Saturday, make-up
    D(2025, 10, 13),
    # Spring Festival 2025
    D(2025, 1, 24),
    D(2025, 1, 26),  # Sunday, make-up
    D(2025, 1, 27),
    D(2025, 2, 5),
    D(2025, 2, 7),
    D(2025, 2, 8),  # Saturday, make-up
    D(2025, 2, 10),
    # New Year and Spring Festival 2026
    D(2026, 1, 4),  # Sunday, make-up
    D(2026, 1, 5),
    D(2026, 2, 13),
    D(2026, 2, 14),  # Saturday, make-up
    D(2026, 2, 24),
    D(2026, 2, 28),  # Saturday, make-up
    # an ordinary week
    D(2025, 6, 3),
    D(2025, 6, 6),
]
NOT_WORKING = [
    D(2025, 9, 27),  # Saturday
    *days(D(2025, 10, 1), D(2025, 10, 8)),
    D(2025, 10, 12),  # Sunday
    D(2025, 1, 25),  # Saturday
    *days(D(2025, 1, 28), D(2025, 2, 4)),
    D(2025, 2, 9),  # Sunday
    D(2025, 1, 1),
    *days(D(2026, 1, 1), D(2026, 1, 3)),
    *days(D(2026, 2, 15), D(2026, 2, 23)),
    D(2026, 3, 1),  # Sunday
    D(2025, 6, 7),  # Saturday
    D(2025, 6, 8),  # Sunday
]


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.mark.parametrize("day", WORKING, ids=str)
def test_working_day(cal: WorkingCalendar, day: date) -> None:
    assert cal.is_working_day(day) is True


@pytest.mark.parametrize("day", NOT_WORKING, ids=str)
def test_not_a_working_day(cal: WorkingCalendar, day: date) -> None:
    assert cal.is_working_day(day) is False


ADDITIONS = [
    # (start, count, the count-th working day after start)
    (D(2025, 9, 26), 0, D(2025, 9, 26)),
    (D(2025, 9, 26), 1, D(2025, 9, 28)),  # the make-up Sunday
    (D(2025, 9, 30), 1, D(2025, 10, 9)),  # over Golden Week
    (D(2025, 10, 10), 1, D(2025, 10, 11)),  # the make-up Saturday
    (D(2025, 10, 9), 20, D(2025, 11, 5)),  # the time to answer a request
    (D(2025, 9, 26), 45, D(2025, 12, 4)),  # a review accepted before Golden Week
    (D(2025, 9, 29), 45, D(2025, 12, 8)),
    (D(2025, 1, 27), 1, D(2025, 2, 5)),  # over the Spring Festival
    (D(2025, 2, 7), 1, D(2025, 2, 8)),
    (D(2025, 1, 24), 45, D(2025, 4, 3)),  # a review accepted before the Spring Festival
    (D(2025, 12, 31), 1, D(2026, 1, 4)),  # over New Year 2026 onto its make-up Sunday
    (D(2026, 2, 12), 3, D(2026, 2, 24)),  # 13 Feb, 14 Feb (Saturday), then 24 Feb
]


@pytest.mark.parametrize(
    ("start", "count", "expected"), ADDITIONS, ids=[f"{s}+{n}" for s, n, _ in ADDITIONS]
)
def test_add_working_days(cal: WorkingCalendar, start: date, count: int, expected: date) -> None:
    assert cal.add_working_days(start, count) == expected


BETWEEN = [
    # (start, end, working days in (start, end])
    (D(2025, 9, 26), D(2025, 12, 4), 45),
    (D(2025, 9, 30), D(2025, 10, 8), 0),  # all of Golden Week
    (D(2025, 9, 26), D(2025, 10, 11), 6),  # 28, 29, 30 Sep, 9, 10, 11 Oct
    (D(2025, 10, 9), D(2025, 10, 14), 4),  # 10, 11, 13, 14 Oct
    (D(2025, 9, 27), D(2025, 9, 28), 1),  # the end counts
    (D(2025, 9, 28), D(2025, 9, 29), 1),  # the start does not
    (D(2025, 10, 9), D(2025, 10, 9), 0),
    (D(2025, 10, 14), D(2025, 10, 9), 0),  # backwards
    (D(2025, 1, 24), D(2025, 2, 8), 6),  # 26, 27 Jan, 5, 6, 7, 8 Feb
    (D(2025, 12, 31), D(2026, 1, 5), 2),  # 4 and 5 Jan 2026
    (D(2026, 2, 13), D(2026, 2, 28), 6),  # 14, 24, 25, 26, 27, 28 Feb
    # 2025 in full: 261 weekdays − 18 weekday holidays + 5 make-up days.
    (D(2024, 12, 31), D(2025, 12, 31), 248),
]


@pytest.mark.parametrize(
    ("start", "end", "expected"), BETWEEN, ids=[f"{s}..{e}" for s, e, _ in BETWEEN]
)
def test_working_days_between(cal: WorkingCalendar, start: date, end: date, expected: int) -> None:
    assert cal.working_days_between(start, end) == expected


@pytest.mark.parametrize("count", [1, 5, 20, 45])
def test_counting_undoes_adding(cal: WorkingCalendar, count: int) -> None:
    for start in days(D(2025, 9, 20), D(2025, 10, 15)):
        assert cal.working_days_between(start, cal.add_working_days(start, count)) == count


def test_business_time_zone_is_shanghai(cal: WorkingCalendar) -> None:
    assert cal.tz == SHANGHAI


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2025, 9, 30, 15, 59, 59, tzinfo=UTC), D(2025, 9, 30)),
        (datetime(2025, 9, 30, 16, 0, 0, tzinfo=UTC), D(2025, 10, 1)),  # midnight in Beijing
        (datetime(2025, 10, 1, 0, 30, tzinfo=SHANGHAI), D(2025, 10, 1)),
        (datetime(2025, 9, 30, 12, 0, tzinfo=ZoneInfo("America/New_York")), D(2025, 10, 1)),
    ],
    ids=["utc-before-midnight", "utc-at-midnight", "shanghai", "new-york-noon"],
)
def test_date_of_is_the_business_date(
    cal: WorkingCalendar, moment: datetime, expected: date
) -> None:
    assert cal.date_of(moment) == expected


def test_end_of_day_is_235959_in_shanghai(cal: WorkingCalendar) -> None:
    end = cal.end_of_day(D(2025, 12, 4))
    assert end == datetime(2025, 12, 4, 15, 59, 59, tzinfo=UTC)
    assert end.utcoffset() == timedelta(hours=8)
    assert end.isoformat() == "2025-12-04T23:59:59+08:00"
    assert cal.date_of(end) == D(2025, 12, 4)
    assert cal.date_of(end + timedelta(seconds=1)) == D(2025, 12, 5)
