"""What the backlog read model is made from: the applications' events in commit order (for
the projector), and the same figures counted straight from the events as of a position (for
`metrics check`, SQL of its own rather than the projector's code). A position is the last
applied event's (transaction id, seq): events become visible in that order. A deleted draft's
events have no application row left (a LEFT JOIN): a draft is in no element or destination."""

from __future__ import annotations

from asyncpg import Record

from licenceflow.domain.applications import DECIDED, PENDING
from licenceflow.store.pool import Connection

_PENDING = sorted(PENDING)
_DECIDED = sorted(DECIDED)

_AFTER = """
SELECT e.seq, e.xact_id::text::bigint AS xact, e.at, e.org, e.stream_id AS application_id,
       e.action, e.from_status, e.to_status, e.reason_code,
       coalesce(a.elements, '{}') AS elements, coalesce(a.destination_country, '') AS destination,
       a.submitted_at, a.due_at,
       extract(epoch FROM e.recorded_at)::float8 AS recorded
FROM events e LEFT JOIN applications a ON a.id = e.stream_id
WHERE e.stream = 'application'
  AND (e.xact_id, e.seq) > ($1::text::xid8, $2::bigint)
  AND e.xact_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY e.xact_id, e.seq
LIMIT $3
"""

_BEHIND = """
SELECT count(*) FROM events
WHERE stream = 'application' AND (xact_id, seq) > ($1::text::xid8, $2::bigint)
"""

# $3: the pending statuses, $4: the decided ones
_AS_OF = """
WITH ev AS (
    SELECT e.org, e.from_status, e.to_status, e.reason_code, a.elements, a.destination_country,
           coalesce(e.from_status = ANY($3::text[]), false) AS was_pending,
           e.to_status = ANY($3::text[]) AS is_pending
    FROM events e LEFT JOIN applications a ON a.id = e.stream_id
    WHERE e.stream = 'application' AND (e.xact_id, e.seq) <= ($1::text::xid8, $2::bigint)
)
"""

_STATUS = (
    _AS_OF
    + """
SELECT org, status, sum(n)::bigint AS n FROM (
    SELECT org, to_status AS status, 1 AS n FROM ev
    UNION ALL SELECT org, from_status, -1 FROM ev WHERE from_status IS NOT NULL
) moves GROUP BY org, status
"""
)

_TOTALS = (
    _AS_OF
    + """
SELECT org, 'submitted' AS field, count(*) AS n FROM ev WHERE is_pending AND NOT was_pending
GROUP BY org
UNION ALL
SELECT org, to_status, count(*) FROM ev WHERE was_pending AND to_status = ANY($4::text[])
GROUP BY org, to_status
UNION ALL
SELECT org, 'refused', count(*) FROM ev WHERE was_pending AND reason_code = 'refused'
GROUP BY org
"""
)

_BUCKETS = (
    _AS_OF
    + """
SELECT org, kind, name || ':' || bucket AS field, sum(n)::bigint AS n FROM (
    SELECT org, 'pending' AS bucket, elements, destination_country,
           CASE WHEN is_pending AND NOT was_pending THEN 1 ELSE -1 END AS n
    FROM ev WHERE is_pending <> was_pending
    UNION ALL
    SELECT org, to_status, elements, destination_country, 1 FROM ev
    WHERE was_pending AND to_status = ANY($4::text[])
) counted
CROSS JOIN LATERAL (
    SELECT 'element' AS kind, unnest(elements) AS name
    UNION ALL SELECT 'destination', destination_country
) named
GROUP BY org, kind, name, bucket
"""
)


async def events_after(conn: Connection, xact: str, seq: int, limit: int) -> list[Record]:
    """Up to `limit` events after the position, of transactions all finished (an event whose
    transaction commits late is never skipped: it is read once everything before it is in)."""
    rows: list[Record] = await conn.fetch(_AFTER, xact, seq, limit)
    return rows


async def events_behind(conn: Connection, xact: str, seq: int) -> int:
    """Committed events after the position."""
    behind: int = await conn.fetchval(_BEHIND, xact, seq)
    return behind


Figure = tuple[str, str, str, int]  # (org, name, field, n): `name` the read model's hash


async def counts_as_of(conn: Connection, xact: str, seq: int) -> list[Figure]:
    """Every figure the read model holds, counted from the events up to the position; `name`
    is `status`, `totals`, `element` or `destination`."""
    figures: list[Figure] = [
        (row["org"], "status", row["status"], row["n"])
        for row in await conn.fetch(_STATUS, xact, seq, _PENDING)
    ]
    figures += [
        (row["org"], "totals", row["field"], row["n"])
        for row in await conn.fetch(_TOTALS, xact, seq, _PENDING, _DECIDED)
    ]
    figures += [
        (row["org"], row["kind"], row["field"], row["n"])
        for row in await conn.fetch(_BUCKETS, xact, seq, _PENDING, _DECIDED)
    ]
    return figures
