"""The outbox relay: committed work reaches the broker after commit, never lost when the broker
is down, never queued for a human authority."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from licenceflow.api.app import create_app
from licenceflow.clock import BusinessClock, ClockAnchor, WorkingCalendar
from licenceflow.config import Settings
from licenceflow.outbox import relay
from licenceflow.store import outbox
from licenceflow.store.pool import Connection
from licenceflow.workflow.context import Context
from tests.integration.conftest import Tokens, application_body
from tests.polling import eventually
from tests.private_redis import PrivateRedis


@pytest.fixture
async def human_client(
    settings: Settings, private_redis: PrivateRedis
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    human = msgspec.structs.replace(settings, authority="human", redis_url=private_redis.url)
    async with AsyncTestClient(create_app(human)) as client:
        yield client


async def test_a_human_authority_gets_no_decision_tasks(
    human_client: AsyncTestClient,  # type: ignore[type-arg]
    auth: Tokens,
    db: Connection,
    private_redis: PrivateRedis,
) -> None:
    created = await human_client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = created.json()["id"]
    accepted = await human_client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "accept"}, headers=auth("officer")
    )
    assert accepted.status_code == 200

    async def settled() -> bool:
        left = await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return bool(left == 0)

    await eventually(settled, "the relay settling the outbox")
    assert private_redis.queue_length("intake") == 0
    assert private_redis.queue_length("review") == 0
    decided = await human_client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "approve"}, headers=auth("officer")
    )
    assert decided.json()["status"] == "approved"


async def test_filings_succeed_with_the_broker_down_and_are_queued_when_it_returns(
    settings: Settings, auth: Tokens, db: Connection, private_redis: PrivateRedis
) -> None:
    simulated = msgspec.structs.replace(settings, redis_url=private_redis.url)
    async with AsyncTestClient(create_app(simulated)) as client:
        private_redis.stop()
        started = time.monotonic()
        ids = []
        for _ in range(5):
            response = await client.post(
                "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
            )
            assert response.status_code == 201
            ids.append(response.json()["id"])
        print(f"5 filings with the broker down: {time.monotonic() - started:.2f} s")
        await asyncio.sleep(0.5)  # let the relay try, and fail, to publish
        unpublished = await db.fetchval(
            """SELECT count(*) FROM outbox
               WHERE published_at IS NULL AND topic = 'application.submit'"""
        )
        assert unpublished == 5
        private_redis.start()  # back, and empty: the relay retries on its own

        async def all_queued() -> bool:
            return set(private_redis.queued_applications("intake")) == set(ids)

        await eventually(all_queued, "five intake tasks queued")
    left = await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    assert left == 0


async def test_a_relay_pass_leaves_its_connection_committing_durably(db: Connection) -> None:
    """The relay's commit does not wait for its WAL flush (a marking lost in a crash only
    publishes again), but only that commit: the setting ends with its transaction, and the next
    write on the same pooled connection, a filing's or a decision's, is durable as before."""
    now = datetime.now(UTC)
    context = Context(
        clock=BusinessClock(ClockAnchor(real=now, business=now, speed=0.0)),
        calendar=WorkingCalendar(),
    )
    payload = {"application_id": str(uuid4()), "event_seq": 2}
    await outbox.add(db, "application.submit", payload, created_at=now)

    def publish(target: relay.Target, kwargs: dict[str, object], task_id: str) -> None:
        raise AssertionError("a human authority queues nothing")

    settled = await relay.relay_due(db, context, publish, simulated=False, has_intake=False)

    assert settled == 1
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    assert await db.fetchval("SHOW synchronous_commit") == "on"


async def test_rows_the_broker_did_not_take_stay_unpublished(db: Connection) -> None:
    """A pass claims and marks its rows in one statement; those after a failed publish are
    unmarked before it commits, and the next pass publishes them."""
    now = datetime.now(UTC)
    context = Context(
        clock=BusinessClock(ClockAnchor(real=now, business=now, speed=0.0)),
        calendar=WorkingCalendar(),
    )
    submitted = [str(uuid4()) for _ in range(3)]
    for application_id in submitted:
        payload = {"application_id": application_id, "event_seq": 2}
        await outbox.add(db, "application.submit", payload, created_at=now)
    taken: list[str] = []
    calls = 0

    def broker_fails_second(target: relay.Target, kwargs: dict[str, object], task_id: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("the broker went away")
        taken.append(str(kwargs["application_id"]))

    with pytest.raises(relay.BrokerUnavailable, match="2 outbox rows wait"):
        await relay.relay_due(db, context, broker_fails_second, simulated=True, has_intake=True)

    unpublished = "SELECT payload->>'application_id' FROM outbox WHERE published_at IS NULL"
    assert taken == submitted[:1]
    assert sorted(r[0] for r in await db.fetch(unpublished)) == sorted(submitted[1:])

    settled = await relay.relay_due(
        db, context, broker_fails_second, simulated=True, has_intake=True
    )
    assert settled == 2
    assert taken == submitted
    assert await db.fetch(unpublished) == []
