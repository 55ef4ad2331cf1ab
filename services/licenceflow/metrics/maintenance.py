"""Operator tools for the read model: `rebuild` replays every event into fresh keys and swaps
them in; `check` recomputes the figures from PostgreSQL with SQL of their own
(`store.projection.counts_as_of`, not the projector's code) as of the projector's position,
and lists every difference."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from licenceflow.clock import WorkingCalendar
from licenceflow.domain.applications import PENDING
from licenceflow.metrics import keys
from licenceflow.metrics.projector import parse_position, project_once
from licenceflow.store import projection as projection_store
from licenceflow.store.pool import Connection

GENERATIONS = keys.PREFIX + "generations"


async def rebuild(conn: Connection, redis: Any, calendar: WorkingCalendar) -> keys.Generation:
    """Replay every event into a new generation, then make it the one readers use."""
    old = await keys.current(redis)
    number = int(await redis.incr(GENERATIONS))
    if number <= old.number:
        number = old.number + 1
        await redis.set(GENERATIONS, number)
    fresh = keys.Generation(number)
    await project_once(conn, redis, fresh, calendar)
    await redis.set(keys.CURRENT, fresh.number)
    await project_once(conn, redis, fresh, calendar)  # what landed while we swapped
    async for key in redis.scan_iter(match=old.base + "*", count=1000):
        await redis.unlink(key)
    return fresh


ATTEMPTS = 20  # reads while the projector keeps moving, before saying so


async def check(conn: Connection, redis: Any) -> list[str]:
    """Every figure where Redis and PostgreSQL disagree, as of the projector's position.

    The figures are read after the position; a projector applying a batch in between would
    make them newer than it (a drift that is not one). The projector writes a batch and its
    position together, so the figures belong to the position when it is the same after them
    as before: read again until it is."""
    generation = await keys.current(redis)
    for _ in range(ATTEMPTS):
        position = (await redis.get(generation.position) or b"").decode()
        drift = await _drift(conn, redis, generation, position)
        if (await redis.get(generation.position) or b"").decode() == position:
            return drift
    return [f"the projector moved during each of {ATTEMPTS} reads: check again when it rests"]


async def _drift(
    conn: Connection, redis: Any, generation: keys.Generation, position: str
) -> list[str]:
    xact, seq = parse_position(position)
    expected: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)

    def count(org: str, name: str, field: str, n: int) -> None:
        for scope in ("g", f"o:{org}"):
            table = expected[(scope, name)]
            table[field] = table.get(field, 0) + n

    for org, name, field, n in await projection_store.counts_as_of(conn, xact, seq):
        count(org, name, field, n)

    drift = []
    for (scope, name), fields in sorted(expected.items()):
        stored = {
            k.decode(): int(v)
            for k, v in (await redis.hgetall(generation.key(scope, name))).items()
        }
        for field in sorted(set(fields) | set(stored)):
            want, have = fields.get(field, 0), stored.get(field, 0)
            if want != have:
                drift.append(f"{scope} {name} {field}: redis {have}, postgres {want}")
        if name == "status":
            pending = sum(fields.get(status, 0) for status in PENDING)
            have = int(await redis.zcard(generation.key(scope, "pending")))
            if have != pending:
                drift.append(f"{scope} pending: redis {have}, postgres {pending}")
    return drift
