"""The business clock as the service sees it: dashboards and simulators read "now" and pace."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.di import NamedDependency

from licenceflow.api.services import services
from licenceflow.clock import BusinessClock
from licenceflow.domain.access import Principal
from licenceflow.store import clock as stored_clock
from licenceflow.store.pool import Pool

ANCHOR_REFRESH_SECONDS = 1.0
log = logging.getLogger(__name__)


class ClockResource(msgspec.Struct, frozen=True, kw_only=True):
    now: datetime
    today: date
    speed: float
    timezone: str
    working_day: bool


@get(
    "/v1/clock",
    tags=["reference"],
    summary="Business time: now, today, and the clock's speed",
    description=(
        "The business clock every deadline is counted on: now, today's business "
        "date, the speed (1 is real time) and the time zone."
    ),
)
async def business_clock(principal: NamedDependency[Principal], state: State) -> ClockResource:
    context = services(state).context
    now = context.clock.now().astimezone(context.calendar.tz)
    today = now.date()
    return ClockResource(
        now=now,
        today=today,
        speed=context.clock.anchor.speed,
        timezone=str(context.calendar.tz),
        working_day=context.calendar.is_working_day(today),
    )


async def follow_stored_anchor(pool: Pool, current: Callable[[], BusinessClock]) -> None:
    """Keep this process on the stored anchor: another process may have changed the clock's
    pace (a restart with another speed). Runs until cancelled; never moves time backwards."""
    while True:
        await asyncio.sleep(ANCHOR_REFRESH_SECONDS)
        try:
            async with pool.acquire() as conn:
                anchor = await stored_clock.current(conn)
        except Exception as error:  # PostgreSQL away: keep the anchor we have
            log.warning("could not re-read the business clock's anchor: %r", error)
            continue
        if anchor is not None:
            current().reanchor(anchor)
