"""The benchmark's wait sampler counts each session of the database by what it is waiting on."""

from __future__ import annotations

import asyncio

from licenceflow.store.pool import connect
from tests.perf import waits

SECONDS = 0.5
HZ = 100.0
LOCK = 7_140_001  # an advisory lock key no other test takes


async def test_each_session_is_counted_by_its_wait(database_url: str) -> None:
    holder, blocked, sleeper = [await connect(database_url) for _ in range(3)]
    try:
        holding = holder.transaction()
        await holding.start()
        await holder.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
        waiting = asyncio.create_task(blocked.execute("SELECT pg_advisory_lock($1)", LOCK))
        sleeping = asyncio.create_task(sleeper.execute("SELECT pg_sleep(5)"))
        await asyncio.sleep(0.1)  # both statements on their way

        found = await waits.sample(database_url, SECONDS, HZ)

        taken = found["samples"]
        assert SECONDS * HZ * 0.8 <= taken <= SECONDS * HZ + 1
        sessions = found["sessions"]
        holding_lock = "idle in transaction, after: SELECT pg_advisory_xact_lock($1)"
        assert sessions[holding_lock] >= taken - 1  # the holder, waiting on us
        assert sessions["Lock:advisory"] >= taken - 1  # the session queued behind it
        assert sessions["Timeout:PgSleep"] >= taken - 1
        assert "Client:ClientRead" not in sessions  # idle sessions are not counted
        assert abs(sum(waits.shares(found).values()) - 1) < 1e-9

        await holding.rollback()
        await waiting
        sleeping.cancel()
    finally:
        for conn in (holder, blocked, sleeper):
            conn.terminate()
