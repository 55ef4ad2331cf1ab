"""The audit timeline and the outbox: written together, in the statement that writes the
application or the licence they are about (`appending`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec

from licenceflow.domain.audit import Event, Role
from licenceflow.store.pool import Connection


class StoredEvent(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    event: Event


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """An event for a stream's timeline, and the follow-up work its outbox row announces."""

    stream: str
    stream_id: UUID
    org: str
    event: Event
    outbox: dict[str, Any]


_GIVEN = (  # an entry as the statement takes it: one array per column, in this order
    ("stream", "text"),
    ("stream_id", "uuid"),
    ("org", "text"),
    ("at", "timestamptz"),
    ("action", "text"),
    ("from_status", "text"),
    ("to_status", "text"),
    ("actor_sub", "text"),
    ("actor_role", "text"),
    ("reason", "text"),
    ("reason_code", "text"),
    ("details", "jsonb"),
    ("topic", "text"),
    ("payload", "jsonb"),
)
_EVENT_COLUMNS = ", ".join(name for name, _ in _GIVEN[:12])


def appending(first: int, *, only_if: str | None = None) -> str:
    """The CTEs that append entries: the events in the order given (the insert draws their seqs
    in that order), each with its outbox row, which carries its event's seq as `event_seq`.
    Their arguments, from `$first`, are `arguments(entries)`: any number of entries, one
    statement. `only_if`: a CTE of the same statement; the entries are appended only if it
    returned a row (a compare-and-set that wrote)."""
    arrays = ", ".join(f"${first + i}::{kind}[]" for i, (_, kind) in enumerate(_GIVEN))
    condition = f"WHERE EXISTS (SELECT FROM {only_if})" if only_if else ""
    return f"""given AS (
        SELECT * FROM unnest({arrays})
            WITH ORDINALITY AS given ({", ".join(name for name, _ in _GIVEN)}, n)
        {condition}
    ), event AS (
        INSERT INTO events ({_EVENT_COLUMNS})
        SELECT {_EVENT_COLUMNS} FROM given ORDER BY n
        RETURNING seq
    ), follow_up AS (
        INSERT INTO outbox (topic, payload, created_at)
        SELECT topic, payload || jsonb_build_object('event_seq', seq), at
        FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM event) AS drawn
        JOIN given USING (n)
    )"""


def arguments(entries: Sequence[Entry]) -> tuple[list[Any], ...]:
    return (
        [e.stream for e in entries],
        [e.stream_id for e in entries],
        [e.org for e in entries],
        [e.event.at for e in entries],
        [e.event.action for e in entries],
        [e.event.from_status for e in entries],
        [e.event.to_status for e in entries],
        [e.event.actor.sub for e in entries],
        [e.event.actor.role for e in entries],
        [e.event.reason for e in entries],
        [e.event.reason_code for e in entries],
        [e.event.details for e in entries],
        [f"{e.stream}.{e.event.action}" for e in entries],
        [e.outbox for e in entries],
    )


async def timeline(
    conn: Connection, stream_id: UUID, *, after_seq: int, limit: int
) -> list[StoredEvent]:
    rows = await conn.fetch(
        """SELECT seq, at, action, from_status, to_status, actor_sub, actor_role, reason,
                  reason_code, details
           FROM events WHERE stream_id = $1 AND seq > $2 ORDER BY seq LIMIT $3""",
        stream_id,
        after_seq,
        limit,
    )
    return [
        StoredEvent(
            seq=r["seq"],
            event=msgspec.convert(
                {
                    "action": r["action"],
                    "from_status": r["from_status"],
                    "to_status": r["to_status"],
                    "actor": {"sub": r["actor_sub"], "role": r["actor_role"]},
                    "at": r["at"],
                    "reason": r["reason"],
                    "reason_code": r["reason_code"],
                    "details": msgspec.json.decode(r["details"]),
                },
                Event,
            ),
        )
        for r in rows
    ]


async def last_seq(conn: Connection, stream_id: UUID) -> int:
    """The newest event of a stream (one that has any: every application and licence does)."""
    seq: int = await conn.fetchval("SELECT max(seq) FROM events WHERE stream_id = $1", stream_id)
    return seq


async def acted_since(conn: Connection, stream_id: UUID, seq: int, role: Role) -> bool:
    """Whether someone in `role` wrote an event on the stream after event `seq`."""
    acted: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM events
                          WHERE stream_id = $1 AND seq > $2 AND actor_role = $3)""",
        stream_id,
        seq,
        role.value,
    )
    return acted


async def ever_did(conn: Connection, stream_id: UUID, action: str) -> bool:
    """Whether the stream's timeline holds `action` at all."""
    did: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = $1 AND action = $2)",
        stream_id,
        action,
    )
    return did


async def since(conn: Connection, after_seq: int, *, limit: int = 200) -> list[Any]:
    """Events after `after_seq` in seq order, with the application's reference or the licence's
    number (for a console: a transaction committing late may show its events out of order)."""
    rows: list[Any] = await conn.fetch(
        """SELECT e.seq, e.at, e.stream, e.org, e.action, e.to_status, e.actor_sub,
                  coalesce(a.reference, l.number) AS name
           FROM events e
           LEFT JOIN applications a ON e.stream = 'application' AND a.id = e.stream_id
           LEFT JOIN licences l ON e.stream = 'licence' AND l.id = e.stream_id
           WHERE e.seq > $1 ORDER BY e.seq LIMIT $2""",
        after_seq,
        limit,
    )
    return rows


async def newest_seq(conn: Connection) -> int:
    seq: int = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM events")
    return seq
