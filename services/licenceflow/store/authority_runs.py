"""The simulated authority's task runs: one row per run, in real (wall-clock) time, measuring
the machinery (queueing, service, release). Operational records: purged once old."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from licenceflow.store.pool import Connection


class Run(msgspec.Struct, frozen=True, kw_only=True):
    application_id: UUID
    desk: str
    task_id: str
    worker: str  # the worker's host
    slot: str  # the worker process (host:pid)
    outcome: str
    published_at: datetime | None
    started_at: datetime
    finished_at: datetime
    service_seconds: float | None


async def record(conn: Connection, run: Run) -> None:
    await conn.execute(
        """INSERT INTO authority_runs (application_id, desk, task_id, worker, slot, outcome,
               published_at, started_at, finished_at, service_seconds)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        *msgspec.structs.astuple(run),
    )


async def release(conn: Connection, task_id: str, at: datetime) -> None:
    """The run's slot is free again."""
    await conn.execute("UPDATE authority_runs SET released_at = $2 WHERE task_id = $1", task_id, at)


async def purge_finished(conn: Connection, *, older_than: timedelta, limit: int) -> int:
    """Delete up to `limit` runs whose slot was released more than `older_than` ago."""
    deleted: int = await conn.fetchval(
        """WITH gone AS (
             DELETE FROM authority_runs WHERE id IN (
               SELECT id FROM authority_runs
                WHERE released_at < now() - $1::interval LIMIT $2)
             RETURNING 1)
           SELECT count(*) FROM gone""",
        older_than,
        limit,
    )
    return deleted
