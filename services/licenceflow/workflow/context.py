"""What every use-case needs besides its connection: the clock, the calendar, the regime."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from licenceflow.clock import BusinessClock, WorkingCalendar


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    clock: BusinessClock
    calendar: WorkingCalendar
    regime_country: str = "CN"
    idempotency_ttl: timedelta = timedelta(hours=24)
