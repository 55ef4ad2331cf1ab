"""What every use-case needs besides its connection: the clock, the calendar, the regime."""

from __future__ import annotations

from dataclasses import dataclass

from licenceflow.clock import BusinessClock, WorkingCalendar


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    clock: BusinessClock
    calendar: WorkingCalendar
    regime_country: str = "CN"
