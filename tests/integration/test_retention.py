"""Idempotency-Keys belong to a principal and live 24 real hours; what is only operational
(expired keys, outbox rows handed over, authority runs finished) is purged on a schedule, in
bounded batches, and the audit trail (events) never is (issue 18)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.clock import BusinessClock
from licenceflow.config import Settings
from licenceflow.domain.applications import AWAITING_AUTHORITY
from licenceflow.store import idempotency, outbox
from licenceflow.store.pool import Connection
from tests.integration.conftest import Tokens, application_body
from tests.integration.served import serving
from tests.polling import eventually
from tests.private_redis import PrivateRedis
from tests.processes import Processes

Client = AsyncTestClient[Litestar]


async def file(client: Client, auth: Tokens, key: str, **token: Any) -> Any:
    return await client.post(
        "/v1/applications",
        json=application_body(),
        headers={**auth("exporter", **token), "Idempotency-Key": key},
    )


async def test_idempotency_keys_are_per_principal(client: Client, auth: Tokens) -> None:
    """Two people of one organisation who happen to pick the same key file two applications."""
    alice = await file(client, auth, "order-1", sub="alice")
    bob = await file(client, auth, "order-1", sub="bob")
    assert alice.status_code == bob.status_code == 201
    assert alice.json()["id"] != bob.json()["id"]
    again = await file(client, auth, "order-1", sub="alice")
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json()["id"] == alice.json()["id"]


async def test_a_key_lives_24_real_hours_whatever_the_business_clock(
    client: Client, auth: Tokens, clock: BusinessClock, db: Connection
) -> None:
    """At 1,440 times real time the business clock passes 24 hours in a real minute: a key
    expired with it, and a retry a minute later filed a duplicate."""
    first = await file(client, auth, "k-1")
    clock.advance(timedelta(days=3))  # three business days, no real time
    retry = await file(client, auth, "k-1")
    assert retry.headers["idempotency-replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    # 24 real hours later (moved in PostgreSQL, whose clock keeps the time), the key is free
    await db.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
    later = await file(client, auth, "k-1")
    assert later.status_code == 201
    assert "idempotency-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 1


async def until_short(purge: Any, limit: int) -> int:
    """Purge in batches of `limit` until a batch comes back short, as the sweep does."""
    total = 0
    while (done := await purge(limit)) == limit:
        total += done
    return total + done


async def test_the_purges_keep_what_is_recent_and_never_touch_events(
    client: Client, auth: Tokens, db: Connection
) -> None:
    for n in range(7):
        await file(client, auth, f"k-{n}")
    await db.execute(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 hour' WHERE key <> 'k-0'"
    )
    events = await db.fetchval("SELECT count(*) FROM events")
    rows = await db.fetchval("SELECT count(*) FROM outbox")
    assert rows == 7
    await db.execute(  # five handed over a week ago, one just now, one still waiting
        """UPDATE outbox SET published_at = CASE
             WHEN id <= (SELECT min(id) + 4 FROM outbox) THEN now() - interval '8 days'
             WHEN id = (SELECT max(id) FROM outbox) THEN NULL ELSE now() END"""
    )
    week = timedelta(days=7)
    assert await until_short(lambda n: idempotency.purge_expired(db, limit=n), 2) == 6
    owed = [status.value for status in AWAITING_AUTHORITY]
    # a file a desk still owes keeps its rows, however old: its task may wait in a long queue
    await db.execute(
        """UPDATE applications SET status = 'submitted'
           WHERE id = (SELECT (payload->>'application_id')::uuid FROM outbox ORDER BY id LIMIT 1)"""
    )
    assert (
        await until_short(
            lambda n: outbox.purge_published(db, older_than=week, owed=owed, limit=n), 2
        )
        == 4
    )
    assert await db.fetchval("SELECT count(*) FROM outbox") == 3
    assert await db.fetchval("SELECT key FROM idempotency_keys") == "k-0"
    assert await db.fetchval("SELECT count(*) FROM events") == events


@pytest.fixture
def own_redis(settings: Settings, private_redis: PrivateRedis) -> Settings:
    """A Redis of the test's own: the desks see this test's tasks only (the shared one holds
    tasks other tests queued and no worker took)."""
    return msgspec.structs.replace(settings, redis_url=private_redis.url)


@pytest.fixture
def processes(own_redis: Settings, tmp_path: Path) -> Iterator[Processes]:
    # retention of 1.8 s: the scheduler's purge sweep (every 0.5 s) catches up within seconds
    running = Processes(own_redis, tmp_path, LICENCEFLOW_RETENTION_HOURS="0.0005")
    yield running
    running.stop()


async def test_the_tables_stop_growing_in_a_running_system(
    own_redis: Settings, auth: Tokens, db: Connection, processes: Processes, tmp_path: Path
) -> None:
    """Three waves of filings decided by the real desks: after each, the scheduler's purge takes
    the outbox rows and authority runs back to none, while the events only ever grow."""
    logs = [
        processes.start("worker"),
        processes.start("scheduler", "--schedule-file", str(processes.folder / "beat")),
    ]
    async with (
        serving(own_redis, tmp_path / "serve.log") as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        await waves(client, auth, db, logs)
    assert "sweep purge_outbox" in logs[0].read_text()


async def waves(client: httpx.AsyncClient, auth: Tokens, db: Connection, logs: list[Path]) -> None:
    """Three waves of ten filings, each decided and purged before the next; events only grow."""
    seen_events = 0
    for wave in range(3):
        for _ in range(10):
            created = await client.post(
                "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
            )
            assert created.status_code == 201

        async def handled(filed: int = 10 * (wave + 1)) -> bool:
            """Every filing of the waves so far has been worked on by a desk, and purged."""
            acted = await db.fetchval(
                """SELECT count(DISTINCT stream_id) FROM events
                   WHERE stream = 'application' AND actor_role = 'officer'"""
            )
            kept = await db.fetchval(  # what only a file no desk owes any more may lose
                """SELECT (SELECT count(*) FROM outbox o
                            WHERE published_at IS NOT NULL AND NOT EXISTS (
                              SELECT 1 FROM applications a
                               WHERE a.id = (o.payload->>'application_id')::uuid
                                 AND a.status IN ('submitted', 'under_review', 'delayed')))
                        + (SELECT count(*) FROM authority_runs)"""
            )
            return bool(acted == filed and kept == 0)

        await eventually(handled, f"wave {wave + 1} decided and purged", logs)
        events = await db.fetchval("SELECT count(*) FROM events")
        assert events > seen_events  # the audit trail keeps everything
        seen_events = events
