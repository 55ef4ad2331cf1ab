"""A database made ready for the processes: its migrations applied, and the business clock's
anchor stored before any process acts on it (the first anchor stored wins; every process of
the database runs on it)."""

from __future__ import annotations

import asyncpg

from licenceflow.clock import ClockAnchor
from licenceflow.config import Settings
from licenceflow.store import clock as stored_clock
from licenceflow.store import migrations


async def prepare(settings: Settings) -> list[str]:
    """The migrations it applied."""
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        applied = await migrations.migrate(conn)
        await stored_clock.load_anchor(
            conn, ClockAnchor.proposed(settings.clock_start, settings.clock_speed)
        )
    finally:
        await conn.close()
    return applied
