"""Races over real connections. Litestar's in-process test client runs one request at a time, so
a race goes to `licenceflow serve` as a process of its own (the `served` fixture), and the test
makes it certain: it holds a lock the requests need, in a transaction of its own, sees them queue
behind it in `pg_stat_activity`, and only then lets them go."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from tests.polling import eventually

WAITING = """SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND wait_event_type = 'Lock'"""


SESSIONS = """SELECT pid, state, wait_event_type, wait_event, left(query, 80) AS query
              FROM pg_stat_activity WHERE datname = current_database()"""


class Hold:
    """A transaction of the test's own, holding what `holding` locked."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def waiting(self) -> int:
        """Sessions of this database waiting for a lock (behind this hold, in a race)."""
        # pg_stat_activity is read once per transaction unless its snapshot is cleared
        await self.conn.execute("SELECT pg_stat_clear_snapshot()")
        count: int = await self.conn.fetchval(WAITING)
        return count

    async def queued(self, sessions: int, what: str) -> None:
        """Returns once `sessions` sessions wait behind the hold."""

        async def enough() -> bool:
            return await self.waiting() >= sessions

        try:
            await eventually(enough, f"{sessions} sessions queued behind the hold: {what}")
        except AssertionError as failed:
            await self.conn.execute("SELECT pg_stat_clear_snapshot()")
            seen = await self.conn.fetch(SESSIONS)
            raise AssertionError(f"{failed}\n" + "\n".join(map(str, seen))) from None


@contextlib.asynccontextmanager
async def holding(database_url: str, lock: str, *args: Any) -> AsyncIterator[Hold]:
    """Run `lock` (a `SELECT … FOR UPDATE`, an advisory lock) in a transaction kept open for the
    block; rolled back, so released, when the block ends."""
    conn = await asyncpg.connect(database_url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(lock, *args)
            yield Hold(conn)
        finally:
            await transaction.rollback()
    finally:
        await conn.close()
