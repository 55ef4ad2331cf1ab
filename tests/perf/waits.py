"""Where a database's sessions spend a load: `pg_stat_activity` sampled at a fixed rate.

py-spy shows where a Python process spends its CPU. A creation's latency is mostly spent in
PostgreSQL instead, and mostly waiting: for the year's counter row that another transaction
holds until its commit is flushed (`Lock:transactionid`), for its own commit's WAL flush
(`IO:WALSync`, `LWLock:WALWrite`), or for a core. Sampling every session of one database at a
fixed rate and counting what each was doing is the same kind of profile for that time.

    python -m tests.perf.waits DSN [HZ]   # "ready" once sampling; the counts as JSON on SIGTERM

Each sample counts every client session of the database but the sampler's own: `CPU` for one
running without a wait event, `Type:Event` for one waiting, `idle in transaction, after: …`
(the start of its last statement) for one whose transaction waits on its client. Idle sessions
are not counted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from licenceflow.store.pool import connect

HZ = 100.0  # samples per second: each is a query, on the machine being measured

SESSIONS = """
SELECT CASE
         WHEN state = 'idle in transaction' THEN 'idle in transaction, after: '
           || left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 40)
         WHEN wait_event_type IS NULL THEN 'CPU'
         ELSE wait_event_type || ':' || wait_event
       END
  FROM pg_stat_activity
 WHERE datname = current_database()
   AND backend_type = 'client backend'
   AND pid <> pg_backend_pid()
   AND state NOT IN ('idle', 'idle in transaction (aborted)')
"""


async def sample(
    dsn: str, done: asyncio.Event, hz: float = HZ, ready: Callable[[], None] = lambda: None
) -> dict[str, Any]:
    """Samples until `done` is set (`ready` is called once the first is taken). `samples`: how
    many were taken; `sessions`: per state, the samples' sessions in it."""
    conn = await connect(dsn)
    try:
        counts: Counter[str] = Counter()
        taken = 0
        start = time.monotonic()
        while not done.is_set():
            counts.update(row[0] for row in await conn.fetch(SESSIONS))
            taken += 1
            if taken == 1:
                ready()
            wait = max(0.0, start + taken / hz - time.monotonic())
            with contextlib.suppress(TimeoutError):  # the next sample is due
                async with asyncio.timeout(wait):
                    await done.wait()
        return {"samples": taken, "hz": hz, "sessions": dict(counts.most_common())}
    finally:
        await conn.close()


async def until_terminated(dsn: str, hz: float) -> dict[str, Any]:
    done = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    return await sample(dsn, done, hz, ready=lambda: print("ready", flush=True))


def shares(waits: dict[str, Any]) -> dict[str, float]:
    """Each state's share of the sessions counted, busiest first (they add up to 1)."""
    total = sum(waits["sessions"].values())
    return {state: count / total for state, count in waits["sessions"].items()} if total else {}


if __name__ == "__main__":
    dsn, *hz = sys.argv[1:]
    print(json.dumps(asyncio.run(until_terminated(dsn, float(hz[0]) if hz else HZ))))
