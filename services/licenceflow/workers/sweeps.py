"""Sweeps the scheduler (Celery beat) queues: housekeeping that the business clock makes due.

Each sweep works in small transactions and holds a transaction-scoped advisory lock named after
itself, so two schedulers (or a slow sweep overtaken by the next beat) never run the same sweep
at once; the row locks with SKIP LOCKED make a sweep safe even without that lock."""

from __future__ import annotations

import logging

from celery import shared_task

from licenceflow.store.pool import Connection
from licenceflow.workers.runtime import runtime
from licenceflow.workflow import licences

log = logging.getLogger(__name__)


async def _claim(conn: Connection, sweep: str) -> bool:
    claimed: bool = await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtext('licenceflow.sweep'), hashtext($1))", sweep
    )
    return claimed


async def expire_licences() -> int:
    """Expire every live licence whose last valid day has passed; returns how many."""
    rt = runtime()
    total = 0
    async with rt.pool.acquire() as conn:
        while True:
            async with conn.transaction():
                if not await _claim(conn, "expire_licences"):
                    log.info("sweep expire_licences: another sweep holds the lock")
                    return total
                expired = await licences.expire_due(conn, await rt.context(conn))
            total += expired
            if expired < licences.EXPIRY_BATCH:
                break
    log.info("sweep expire_licences: %d expired", total)
    return total


@shared_task(name="licenceflow.sweep.expire_licences")
def expire_licences_task() -> int:
    return runtime().run(expire_licences())
