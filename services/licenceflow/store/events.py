"""The audit timeline and the outbox: written together, in the transition's transaction."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from licenceflow.domain.audit import Event
from licenceflow.store.pool import Connection


class StoredEvent(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    event: Event


async def record(
    conn: Connection,
    *,
    stream: str,
    stream_id: UUID,
    org: str,
    event: Event,
    outbox: dict[str, Any] | None = None,
) -> int:
    """Append `event` to the stream's timeline, and its follow-up work to the outbox (one
    statement: one round trip); the event's seq, which the outbox row carries as `event_seq`."""
    follow_up = (
        ""
        if outbox is None
        else """, follow_up AS (
               INSERT INTO outbox (topic, payload, created_at)
               SELECT $13, $14::jsonb || jsonb_build_object('event_seq', seq), $4 FROM event)"""
    )
    extra = () if outbox is None else (f"{stream}.{event.action}", outbox)
    seq: int = await conn.fetchval(
        f"""WITH event AS (
               INSERT INTO events (stream, stream_id, org, at, action, from_status, to_status,
                                   actor_sub, actor_role, reason, reason_code, details)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq){follow_up}
           SELECT seq FROM event""",
        stream,
        stream_id,
        org,
        event.at,
        event.action,
        event.from_status,
        event.to_status,
        event.actor.sub,
        event.actor.role,
        event.reason,
        event.reason_code,
        event.details,
        *extra,
    )
    return seq


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
