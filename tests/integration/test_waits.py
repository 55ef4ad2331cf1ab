"""The benchmark's wait sampler counts each session of the database by what it is waiting on."""

from __future__ import annotations

import asyncio

from licenceflow.store.pool import connect
from tests.perf import waits
from tests.polling import eventually

SECONDS = 0.5
HZ = 100.0
LOCK = 7_140_001  # an advisory lock key no other test takes


async def test_each_session_is_counted_by_its_wait(database_url: str) -> None:
    holder, blocked, sleeper, watcher = [await connect(database_url) for _ in range(4)]
    try:
        holding = holder.transaction()
        await holding.start()
        await holder.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
        waiting = asyncio.create_task(blocked.execute("SELECT pg_advisory_lock($1)", LOCK))
        sleeping = asyncio.create_task(sleeper.execute("SELECT pg_sleep(30)"))

        async def both_waiting() -> bool:
            events = await watcher.fetch(
                "SELECT wait_event FROM pg_stat_activity WHERE pid = ANY($1::int[])",
                [blocked.get_server_pid(), sleeper.get_server_pid()],
            )
            return {row[0] for row in events} == {"advisory", "PgSleep"}

        await eventually(both_waiting, "both statements waiting")
        done = asyncio.Event()
        asyncio.get_running_loop().call_later(SECONDS, done.set)

        found = await waits.sample(database_url, done, HZ)

        taken = found["samples"]
        # how many depends on the machine's load (the rate is the bench's concern, not this
        # test's); never more than the rate allows, and each sample sees every session
        assert 1 <= taken <= SECONDS * HZ + 1
        sessions = found["sessions"]
        holding_lock = "idle in transaction, after: SELECT pg_advisory_xact_lock($1)"
        assert sessions[holding_lock] == taken  # the holder, its transaction waiting on us
        assert sessions["Lock:advisory"] == taken  # the session queued behind it
        assert sessions["Timeout:PgSleep"] == taken
        assert "Client:ClientRead" not in sessions  # idle sessions (the watcher) are not counted
        assert abs(sum(waits.shares(found).values()) - 1) < 1e-9

        await holding.rollback()
        await waiting
        sleeping.cancel()
    finally:
        for conn in (holder, blocked, sleeper, watcher):
            conn.terminate()
