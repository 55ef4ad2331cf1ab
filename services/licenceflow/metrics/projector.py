"""The projector: applies application events to the Redis read model, exactly once.

Order and completeness: a `bigserial` is allocated at insert but visible at commit, so reading
"events after the last seq" would skip an event whose transaction commits after a later one.
The projector instead reads events of transactions below the horizon of transactions still in
flight (`pg_snapshot_xmin`), ordered by (transaction id, seq): every transaction below the
horizon has finished, so no event can appear there later, and none is skipped. Events of one
application keep their order (each action locks the application's row first).

Exactly once: a batch's operations and the new position are applied by one Lua script that
first checks the stored position; a projector that dies after reading, or a second projector,
cannot apply a batch twice.

Each pass records its health for `/metrics` (see `telemetry`): events waiting when it began,
and how long its worst event took from being written to being visible."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, NamedTuple

from licenceflow.domain.deadlines import Calendar
from licenceflow.metrics import keys, telemetry
from licenceflow.metrics.projection import Fact, ops_for
from licenceflow.store import projection as projection_store
from licenceflow.store.pool import Connection

log = logging.getLogger(__name__)

BATCH = 500
POLL_SECONDS = 1.0

_APPLY = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
local i = 5
for _ = 1, tonumber(ARGV[4]) do
  local command, key, field, value = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if command == 'HINCRBY' then redis.call('HINCRBY', key, field, value)
  elseif command == 'ZADD' then redis.call('ZADD', key, value, field)
  else redis.call('ZREM', key, field) end
  i = i + 4
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1
"""


def parse_position(position: str) -> tuple[str, int]:
    if not position:
        return "0", 0
    xact, seq = position.split(":")
    return xact, int(seq)


async def read_batch(conn: Connection, position: str, limit: int = BATCH) -> list[Fact]:
    xact, seq = parse_position(position)
    return [
        Fact(**dict(row)) for row in await projection_store.events_after(conn, xact, seq, limit)
    ]


async def apply_batch(
    redis: Any, generation: keys.Generation, position: str, facts: list[Fact], calendar: Calendar
) -> bool:
    """Apply `facts` after `position`; False (nothing written) if the position moved meanwhile."""
    ops = [op for fact in facts for op in ops_for(fact, generation.key, calendar)]
    last = facts[-1]
    args: list[str] = [position, f"{last.xact}:{last.seq}", last.at.isoformat(), str(len(ops))]
    for op in ops:
        args += [op.command, op.key, op.field, op.value]
    applied = await redis.eval(_APPLY, 2, generation.position, generation.as_of, *args)
    return bool(applied)


class Pass(NamedTuple):
    applied: int
    lag_seconds: float  # the worst applied event: written → visible, real seconds (0: none)


async def project_once(
    conn: Connection, redis: Any, generation: keys.Generation, calendar: Calendar
) -> Pass:
    """Apply every event now below the horizon to `generation`."""
    applied, lag = 0, 0.0
    while True:
        position = (await redis.get(generation.position) or b"").decode()
        facts = await read_batch(conn, position)
        if not facts:
            return Pass(applied, lag)
        if await apply_batch(redis, generation, position, facts, calendar):
            applied += len(facts)
            lag = max(lag, time.time() - min(fact.recorded for fact in facts))


async def events_behind(conn: Connection, redis: Any, generation: keys.Generation) -> int:
    """Committed events the generation has not applied yet."""
    xact, seq = parse_position((await redis.get(generation.position) or b"").decode())
    return await projection_store.events_behind(conn, xact, seq)


async def one_pass(conn: Connection, redis: Any, calendar: Calendar) -> Pass:
    """Catch up with every committed event, and record the pass for `/metrics`."""
    generation = await keys.current(redis)
    behind = await events_behind(conn, redis, generation)
    done = await project_once(conn, redis, generation, calendar)
    seen = {"projector_heartbeat": time.time(), "projector_events_behind": behind}
    if done.applied:  # an idle pass keeps the last lag: it measured nothing
        seen["projector_lag_seconds"] = done.lag_seconds
    await telemetry.record(redis, **seen)
    return done


async def run(conn: Connection, redis: Any, calendar: Calendar, stop: asyncio.Event) -> None:
    """Project until `stop` is set: woken by PostgreSQL's notification at each commit of events,
    and at least every POLL_SECONDS (a notification can be missed while reconnecting). Stopping
    between passes is always safe: a batch is applied whole or not at all."""
    wake = asyncio.Event()
    await conn.add_listener("licenceflow_events", lambda *_: wake.set())
    while not stop.is_set():
        wake.clear()
        try:
            started = time.monotonic()
            done = await one_pass(conn, redis, calendar)
            if done.applied:
                log.info(
                    "projected %d events in %.0f ms (worst lag %.3f s)",
                    done.applied,
                    (time.monotonic() - started) * 1000,
                    done.lag_seconds,
                )
        except (OSError, ConnectionError) as error:  # Redis away: keep polling, lose nothing
            log.warning("projector: %r; retrying", error)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_SECONDS):
                await wake.wait()
