"""The backlog held in memory: dashboards' polls cost no Redis round trip, yet every write Redis
reports, business time moving an age or a deadline, and a lost watch all show at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.api.app import create_app
from licenceflow.clock import BusinessClock
from licenceflow.config import Settings
from licenceflow.metrics.invalidations import CLIENT_NAME
from licenceflow.store.pool import Connection
from tests.examples import application_body
from tests.integration.conftest import Tokens, project_all, relayed
from tests.polling import eventually
from tests.private_redis import PrivateRedis

Client = AsyncTestClient[Litestar]
BACKLOG = "/v1/metrics/backlog"


async def reads(redis: Any) -> int:
    """How many backlog reads Redis has served (each is one MULTI with one ZCARD)."""
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_zcard", {}).get("calls", 0))


async def pending(client: Client, auth: Tokens) -> int:
    answer = await client.get(BACKLOG, headers=auth("viewer"))
    assert answer.status_code == 200
    return int(answer.json()["pending"]["count"])


async def pending_is(client: Client, auth: Tokens, count: int) -> bool:
    return await pending(client, auth) == count


async def file(client: Client, auth: Tokens) -> str:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    assert created.status_code == 201
    return str(created.json()["id"])


async def served_from_memory(client: Client, auth: Tokens, redis: Any) -> bool:
    """Whether a poll was answered without reading Redis."""
    before = await reads(redis)
    await pending(client, auth)
    return await reads(redis) == before


async def watches(redis: Any) -> list[dict[str, Any]]:
    return [c for c in await redis.client_list() if c["name"] == CLIENT_NAME]


@pytest.fixture
async def alone(
    settings: Settings, private_redis: PrivateRedis
) -> AsyncIterator[tuple[Client, Any]]:
    """An app on a Redis of the test's own, and a client of that Redis: the server's command
    counts are then this test's alone (a task another test published late would otherwise
    invalidate the body and count as a read)."""
    app = create_app(msgspec.structs.replace(settings, redis_url=private_redis.url))
    redis = aioredis.from_url(private_redis.url)
    try:
        async with AsyncTestClient(app) as client:
            yield client, redis
    finally:
        await redis.aclose()


async def test_polls_are_served_from_memory_until_a_write_changes_the_figures(
    alone: tuple[Client, Any], auth: Tokens, db: Connection
) -> None:
    client, redis = alone
    await file(client, auth)
    await relayed(db)  # the filing's task is on its queue: that push invalidates no more
    await project_all(db, redis)
    assert await pending(client, auth) == 1
    # the last invalidation reaches the app over Redis's notifications, a moment later
    await eventually(lambda: served_from_memory(client, auth, redis), "the body held in memory")
    before = await reads(redis)
    for _ in range(20):
        assert await pending(client, auth) == 1
    assert await reads(redis) == before

    await file(client, auth)
    await project_all(db, redis)  # its writes invalidate the body as soon as Redis says so
    await eventually(lambda: pending_is(client, auth, 2), "the poll showing the new filing")


async def test_business_time_moves_overdue_and_ages_without_a_write(
    client: Client, auth: Tokens, db: Connection, redis: Any, clock: BusinessClock
) -> None:
    accepted = await client.post(
        f"/v1/applications/{await file(client, auth)}/actions",
        json={"action": "accept"},
        headers=auth("officer"),
    )
    assert accepted.status_code == 200
    await project_all(db, redis)
    first = (await client.get(BACKLOG, headers=auth("viewer"))).json()
    assert first["pending"]["overdue"] == 0

    clock.advance(timedelta(days=80))  # past the 45 working days
    later = (await client.get(BACKLOG, headers=auth("viewer"))).json()
    assert later["pending"]["overdue"] == 1
    assert later["pending"]["oldest_age_working_days"] > first["pending"]["oldest_age_working_days"]


async def test_a_lost_watch_reads_redis_until_it_is_back(
    client: Client, auth: Tokens, db: Connection, redis: Any
) -> None:
    await file(client, auth)
    await project_all(db, redis)
    assert await pending(client, auth) == 1
    await eventually(lambda: watches(redis), "the app's invalidation watch")
    for watch in await watches(redis):
        await redis.client_kill_filter(_id=watch["id"])

    await file(client, auth)  # while no invalidation can arrive
    await project_all(db, redis)
    await eventually(lambda: pending_is(client, auth, 2), "the write made while the watch was lost")

    await eventually(
        lambda: served_from_memory(client, auth, redis),
        "the watch coming back and the cache with it",
    )
    assert await pending(client, auth) == 2
