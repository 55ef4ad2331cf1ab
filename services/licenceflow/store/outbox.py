"""The outbox: follow-up work written in a transition's transaction, published after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from licenceflow.store.pool import Connection


class Row(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    topic: str
    payload: dict[str, Any]


_payload = msgspec.json.Decoder(dict[str, Any])


async def add(
    conn: Connection,
    topic: str,
    payload: dict[str, Any],
    *,
    created_at: datetime,
    available_at: datetime | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO outbox (topic, payload, created_at, available_at) VALUES ($1, $2, $3, $4)",
        topic,
        payload,
        created_at,
        available_at,
    )


async def claim_due(conn: Connection, now: datetime, at: datetime, *, limit: int) -> list[Row]:
    """Unpublished rows due by business time `now`, oldest first, marked published `at` and
    locked for the caller's transaction (rows another relay holds are skipped), in one
    statement. A row the caller then fails to publish goes back with `unclaim`.

    The transaction then commits without waiting for its WAL flush. A relay commits about as
    often as the writes it follows, and a flush of its own for each queued with theirs at the
    disk: filings held the year's counter row the longer. A marking lost in a crash only
    publishes its rows again, which the relay already allows (a crash between the broker's
    acceptance and the commit): tasks are idempotent."""
    await conn.execute("SET LOCAL synchronous_commit = off")
    rows = await conn.fetch(
        """UPDATE outbox SET published_at = $3
           WHERE id IN (SELECT id FROM outbox
                        WHERE published_at IS NULL AND (available_at IS NULL OR available_at <= $1)
                        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING id, topic, payload""",
        now,
        limit,
        at,
    )
    rows = sorted(rows, key=lambda row: row["id"])  # RETURNING keeps no order
    return [Row(id=r["id"], topic=r["topic"], payload=_payload.decode(r["payload"])) for r in rows]


async def unclaim(conn: Connection, ids: list[int]) -> None:
    await conn.execute("UPDATE outbox SET published_at = NULL WHERE id = ANY($1::bigint[])", ids)


async def settle(conn: Connection, application_id: UUID, topic: str, at: datetime) -> None:
    """Mark the application's unpublished `topic` rows done without publishing them (the work
    they ask for happens in this very transaction)."""
    await conn.execute(
        """UPDATE outbox SET published_at = $3
           WHERE published_at IS NULL AND topic = $2 AND payload->>'application_id' = $1""",
        str(application_id),
        topic,
        at,
    )


async def pending_for(conn: Connection, application_ids: list[str]) -> set[str]:
    """Which of these applications still have unpublished follow-up work."""
    rows = await conn.fetch(
        """SELECT DISTINCT payload->>'application_id' AS id FROM outbox
           WHERE published_at IS NULL AND payload->>'application_id' = ANY($1::text[])""",
        application_ids,
    )
    return {r["id"] for r in rows}


async def backlog(conn: Connection, now: datetime) -> tuple[int, datetime | None]:
    """Due rows not yet published, and when the oldest row that was due at once was written
    (real time; a deferred row's wait starts at a business time, not comparable)."""
    row = await conn.fetchrow(
        """SELECT count(*) AS pending,
                  min(recorded_at) FILTER (WHERE available_at IS NULL) AS oldest
           FROM outbox
           WHERE published_at IS NULL AND (available_at IS NULL OR available_at <= $1)""",
        now,
    )
    assert row is not None
    return int(row["pending"]), row["oldest"]
