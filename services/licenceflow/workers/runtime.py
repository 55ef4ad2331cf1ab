"""One event loop and one asyncpg pool per worker process.

Celery runs tasks synchronously; each process keeps a private loop on which tasks run their
coroutines, and a pool opened on that loop. Opened on `worker_process_init` (after the fork, so
no connection crosses a process boundary) or on first use, closed on process shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import redis.asyncio as aioredis

from licenceflow.clock import BusinessClock, WorkingCalendar
from licenceflow.config import Settings
from licenceflow.simulation import scenarios
from licenceflow.store import clock as stored_clock
from licenceflow.store.pool import Connection, Pool, open_pool
from licenceflow.workflow.context import Context

T = TypeVar("T")
log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        assert settings.database_url, "workers need LICENCEFLOW_DATABASE_URL"
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.calendar = WorkingCalendar(settings.holiday_country, settings.timezone)
        self.scenario = scenarios.load(settings.scenario)
        self.redis = aioredis.from_url(
            settings.redis_url or "redis://", socket_timeout=2, socket_connect_timeout=1
        )
        self.pool: Pool = self.loop.run_until_complete(
            open_pool(
                settings.database_url,
                min_size=1,
                max_size=settings.worker_pool_max,
            )
        )

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    async def context(self, conn: Connection) -> Context:
        """A context whose clock is the stored anchor, read now: every process agrees."""
        anchor = await stored_clock.current(conn)
        if anchor is None:
            raise RuntimeError("the database has no business clock yet: run `licenceflow migrate`")
        return Context(
            clock=BusinessClock(anchor),
            calendar=self.calendar,
            regime_country=self.settings.regime_country,
        )

    async def relay_after_commit(self) -> None:
        """The fast path: publish what the task just committed (the scheduler's relay sweep
        catches anything this misses, e.g. when the broker is down)."""
        from celery import current_app

        from licenceflow.outbox import relay

        app = current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            async with self.pool.acquire() as conn:
                await relay.relay_due(
                    conn,
                    await self.context(conn),
                    relay.celery_publisher(app),
                    simulated=self.settings.authority == "simulated",
                    has_intake=self.scenario.intake is not None,
                )
        except Exception as error:
            log.warning("outbox relay after commit failed (%s); the relay sweep will retry", error)

    def close(self) -> None:
        self.loop.run_until_complete(self.redis.aclose())
        self.loop.run_until_complete(self.pool.close())
        self.loop.close()


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(Settings.from_env())
    return _runtime


def close_runtime() -> None:
    global _runtime
    if _runtime is not None:
        _runtime.close()
        _runtime = None
