"""Operator tools for the read model: `rebuild` replays every event into fresh keys and swaps
them in; `check` recomputes the figures from PostgreSQL with its own SQL (not the projector's
code) as of the projector's position and lists every difference."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from licenceflow.clock import WorkingCalendar
from licenceflow.metrics import keys
from licenceflow.metrics.projector import parse_position, project_once
from licenceflow.store.pool import Connection

GENERATIONS = keys.PREFIX + "generations"

_EVENTS = """
WITH ev AS (
    SELECT e.org, e.from_status, e.to_status, e.reason_code, a.elements, a.destination_country,
           coalesce(e.from_status IN ('submitted','under_review','info_requested','delayed'),
                    false) AS was_pending,
           e.to_status IN ('submitted','under_review','info_requested','delayed') AS is_pending
    FROM events e JOIN applications a ON a.id = e.stream_id
    WHERE e.stream = 'application' AND (e.xact_id, e.seq) <= ($1::text::xid8, $2::bigint)
)
"""

_STATUS = (
    _EVENTS
    + """
SELECT org, status, sum(n)::bigint AS n FROM (
    SELECT org, to_status AS status, 1 AS n FROM ev
    UNION ALL SELECT org, from_status, -1 FROM ev WHERE from_status IS NOT NULL
) moves GROUP BY org, status
"""
)

_TOTALS = (
    _EVENTS
    + """
SELECT org, 'submitted' AS field, count(*) AS n FROM ev WHERE is_pending AND NOT was_pending
GROUP BY org
UNION ALL
SELECT org, to_status, count(*) FROM ev
WHERE was_pending AND to_status IN ('approved', 'temporarily_approved', 'rejected')
GROUP BY org, to_status
UNION ALL
SELECT org, 'refused', count(*) FROM ev WHERE was_pending AND reason_code = 'refused'
GROUP BY org
"""
)

_BUCKETS = (
    _EVENTS
    + """
SELECT org, kind, name || ':' || bucket AS field, sum(n)::bigint AS n FROM (
    SELECT org, 'pending' AS bucket, elements, destination_country,
           CASE WHEN is_pending AND NOT was_pending THEN 1 ELSE -1 END AS n
    FROM ev WHERE is_pending <> was_pending
    UNION ALL
    SELECT org, to_status, elements, destination_country, 1 FROM ev
    WHERE was_pending AND to_status IN ('approved', 'temporarily_approved', 'rejected')
) counted
CROSS JOIN LATERAL (
    SELECT 'element' AS kind, unnest(elements) AS name
    UNION ALL SELECT 'destination', destination_country
) named
GROUP BY org, kind, name, bucket
"""
)


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

    for row in await conn.fetch(_STATUS, xact, seq):
        count(row["org"], "status", row["status"], row["n"])
    for row in await conn.fetch(_TOTALS, xact, seq):
        count(row["org"], "totals", row["field"], row["n"])
    for row in await conn.fetch(_BUCKETS, xact, seq):
        count(row["org"], row["kind"], row["field"], row["n"])

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
            pending = sum(
                fields.get(s, 0) for s in ("submitted", "under_review", "info_requested", "delayed")
            )
            have = int(await redis.zcard(generation.key(scope, "pending")))
            if have != pending:
                drift.append(f"{scope} pending: redis {have}, postgres {pending}")
    return drift
