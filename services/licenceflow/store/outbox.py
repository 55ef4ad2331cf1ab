"""The outbox: follow-up work written in a transition's transaction, published after commit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec

from licenceflow.store.pool import Connection


class Row(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    topic: str
    payload: dict[str, Any]
    task_id: UUID  # the id its task is published under (given when the row is written)


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


async def claim_due(
    conn: Connection, now: datetime, *, published_at: datetime, limit: int
) -> list[Row]:
    """Unpublished rows due by business time `now`, oldest first, marked `published_at` and
    locked for the caller's transaction (rows another relay holds are skipped), in one
    statement. A row the caller then fails to publish goes back with `unclaim`. The due rows
    are chosen once (a materialized CTE): a `LIMIT … FOR UPDATE SKIP LOCKED` subquery under
    `IN` may be run again by the plan and lock more than `limit`."""
    rows = await conn.fetch(
        """WITH due AS MATERIALIZED (
             SELECT id FROM outbox
              WHERE published_at IS NULL AND (available_at IS NULL OR available_at <= $1)
              ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
           UPDATE outbox SET published_at = $3 FROM due WHERE outbox.id = due.id
           RETURNING outbox.id, outbox.topic, outbox.payload, outbox.task_id""",
        now,
        limit,
        published_at,
    )
    rows = sorted(rows, key=lambda row: row["id"])  # RETURNING keeps no order
    return [_row(r) for r in rows]


async def due(conn: Connection, id: int, now: datetime) -> Row | None:
    """One row whose work is due by business time `now`, published or not (None: no such row,
    not due yet, or purged). Not only published ones: the relay hands a row to the broker
    before its own transaction commits, so a fast worker may see it unmarked."""
    row = await conn.fetchrow(
        """SELECT id, topic, payload, task_id FROM outbox
           WHERE id = $1 AND (available_at IS NULL OR available_at <= $2)""",
        id,
        now,
    )
    return None if row is None else _row(row)


def _row(record: Any) -> Row:
    return Row(
        id=record["id"],
        topic=record["topic"],
        payload=_payload.decode(record["payload"]),
        task_id=record["task_id"],
    )


async def commit_without_flush(conn: Connection) -> None:
    """The caller's transaction commits without waiting for its WAL flush: a crash right after
    may lose it. For the relay's markings only: see `outbox.relay.relay_due`."""
    assert conn.is_in_transaction(), "outside a transaction, SET LOCAL changes nothing"
    await conn.execute("SET LOCAL synchronous_commit = off")


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


async def purge_published(
    conn: Connection, *, older_than: timedelta, owed: list[str], limit: int
) -> int:
    """Delete up to `limit` rows published (or settled) more than `older_than` ago: the events
    they followed are the audit trail, these were only the hand-over. A row of an application
    still in an `owed` status is kept, however old: its task may still wait in a long queue,
    and a desk acts only on a row it can read back."""
    deleted: int = await conn.fetchval(
        """WITH gone AS (
             DELETE FROM outbox WHERE id IN (
               SELECT o.id FROM outbox o
                WHERE o.published_at < now() - $1::interval
                  AND NOT EXISTS (
                    SELECT 1 FROM applications a
                     WHERE a.id = (o.payload->>'application_id')::uuid
                       AND a.status = ANY($2::text[]))
                LIMIT $3)
             RETURNING 1)
           SELECT count(*) FROM gone""",
        older_than,
        owed,
        limit,
    )
    return deleted
