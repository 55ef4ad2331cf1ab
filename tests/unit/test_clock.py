"""`BusinessClock` driven by an injected real clock: fixed (speed 0), real (speed 1),
accelerated (speed 86400: one business day per real second), `advance` only forwards, and
`reanchor` adopting a stored anchor only when it does not take business time backwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from licenceflow.clock import BusinessClock, ClockAnchor

REAL_START = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
BUSINESS_START = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


class FakeRealTime:
    """The real clock, moved by hand."""

    def __init__(self) -> None:
        self.now = REAL_START

    def __call__(self) -> datetime:
        return self.now

    def pass_(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def real() -> FakeRealTime:
    return FakeRealTime()


def clock(real: FakeRealTime, speed: float) -> BusinessClock:
    return BusinessClock(ClockAnchor(real=REAL_START, business=BUSINESS_START, speed=speed), real)


def test_a_fixed_clock_does_not_move_with_real_time(real: FakeRealTime) -> None:
    fixed = clock(real, 0)
    assert fixed.now() == BUSINESS_START
    real.pass_(timedelta(days=3))
    assert fixed.now() == BUSINESS_START


def test_speed_one_follows_real_time(real: FakeRealTime) -> None:
    live = clock(real, 1)
    real.pass_(timedelta(minutes=90))
    assert live.now() == BUSINESS_START + timedelta(minutes=90)


def test_speed_86400_runs_a_business_day_per_real_second(real: FakeRealTime) -> None:
    fast = clock(real, 86400)
    real.pass_(timedelta(seconds=1))
    assert fast.now() == BUSINESS_START + timedelta(days=1)
    real.pass_(timedelta(milliseconds=500))
    assert fast.now() == BUSINESS_START + timedelta(days=1, hours=12)


def test_now_keeps_its_time_zone(real: FakeRealTime) -> None:
    assert clock(real, 1).now().utcoffset() == timedelta(0)


def test_advance_moves_a_fixed_clock_forward(real: FakeRealTime) -> None:
    fixed = clock(real, 0)
    fixed.advance(timedelta(days=45))
    assert fixed.now() == BUSINESS_START + timedelta(days=45)
    assert fixed.anchor.business == BUSINESS_START + timedelta(days=45)


def test_advance_adds_to_an_accelerated_clock(real: FakeRealTime) -> None:
    fast = clock(real, 86400)
    real.pass_(timedelta(seconds=2))
    fast.advance(timedelta(hours=6))
    assert fast.now() == BUSINESS_START + timedelta(days=2, hours=6)


def test_advance_refuses_to_go_backwards(real: FakeRealTime) -> None:
    fixed = clock(real, 0)
    with pytest.raises(ValueError, match="backwards"):
        fixed.advance(timedelta(seconds=-1))
    assert fixed.now() == BUSINESS_START


def test_advance_by_nothing_is_allowed(real: FakeRealTime) -> None:
    fixed = clock(real, 0)
    fixed.advance(timedelta(0))
    assert fixed.now() == BUSINESS_START


def test_reanchor_adopts_an_anchor_that_is_ahead(real: FakeRealTime) -> None:
    fixed = clock(real, 0)
    ahead = ClockAnchor(real=REAL_START, business=BUSINESS_START + timedelta(days=1), speed=0)
    fixed.reanchor(ahead)
    assert fixed.anchor == ahead
    assert fixed.now() == BUSINESS_START + timedelta(days=1)


def test_reanchor_adopts_a_new_speed_from_the_same_instant(real: FakeRealTime) -> None:
    fixed = clock(real, 0)
    real.pass_(timedelta(seconds=10))
    faster = ClockAnchor(real=real.now, business=BUSINESS_START, speed=86400)
    fixed.reanchor(faster)
    assert fixed.now() == BUSINESS_START
    real.pass_(timedelta(seconds=1))
    assert fixed.now() == BUSINESS_START + timedelta(days=1)


def test_reanchor_never_moves_backwards(real: FakeRealTime) -> None:
    fixed = clock(real, 0)
    fixed.advance(timedelta(days=10))
    stale = ClockAnchor(real=REAL_START, business=BUSINESS_START, speed=0)
    fixed.reanchor(stale)
    assert fixed.now() == BUSINESS_START + timedelta(days=10)
    assert fixed.anchor.business == BUSINESS_START + timedelta(days=10)


def test_reanchor_refuses_an_accelerated_anchor_that_is_behind_now(real: FakeRealTime) -> None:
    fast = clock(real, 86400)
    real.pass_(timedelta(seconds=5))  # five business days on
    slower = ClockAnchor(real=REAL_START, business=BUSINESS_START, speed=1)  # five seconds on
    fast.reanchor(slower)
    assert fast.now() == BUSINESS_START + timedelta(days=5)
