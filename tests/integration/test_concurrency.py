"""Races are real: many HTTP requests at once against one application or one key."""

from __future__ import annotations

import asyncio
from uuid import UUID

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.domain.access import Principal, Visibility
from licenceflow.domain.applications import Status
from licenceflow.domain.audit import Role
from licenceflow.store import applications as store
from licenceflow.store.pool import Connection, connect
from licenceflow.workflow import applications as workflow
from tests.examples import new_application
from tests.integration.conftest import Tokens, application_body
from tests.integration.races import holding

Client = AsyncTestClient[Litestar]
ROW_LOCK = "SELECT 1 FROM applications WHERE id = $1 FOR UPDATE"
COUNTER_LOCK = "SELECT 1 FROM reference_counters FOR UPDATE"


async def accepted(http: httpx.AsyncClient, auth: Tokens) -> tuple[str, str]:
    """A filed application an officer accepted: its id and ETag."""
    created = await http.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = created.json()["id"]
    accept = await http.post(
        f"/v1/applications/{app_id}/actions", json={"action": "accept"}, headers=auth("officer")
    )
    assert accept.status_code == 200, accept.text
    return app_id, accept.headers["etag"]


@pytest.mark.smoke
async def test_twenty_concurrent_actions_one_wins(
    served: httpx.AsyncClient, auth: Tokens, db: Connection, database_url: str
) -> None:
    """Twenty writers with one ETag, queued behind the row at once: one wins, every other gets
    412 (If-Match), and the timeline has one more event."""
    app_id, etag = await accepted(served, auth)
    events_before = await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", app_id)
    officer_actions = [
        {"action": "approve"},
        {"action": "approve_temporary"},
        {"action": "reject", "reason": "refused"},
        {"action": "delay", "reason": "security review"},
        {"action": "request_info", "reason": "certificate"},
    ]
    writers = [(officer_actions[i % 5], auth("officer", sub=f"officer-{i}")) for i in range(15)] + [
        ({"action": "withdraw"}, auth("exporter", sub=f"exporter-{i}")) for i in range(5)
    ]
    async with holding(database_url, ROW_LOCK, app_id) as hold:
        sent = [
            asyncio.create_task(
                served.post(
                    f"/v1/applications/{app_id}/actions",
                    json=body,
                    headers={**headers, "If-Match": etag},
                )
            )
            for body, headers in writers
        ]
        await hold.queued(len(sent), "twenty writers")
    responses = await asyncio.gather(*sent)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [412] * 19, [(r.status_code, r.text[:80]) for r in responses]
    events_after = await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", app_id)
    assert events_after == events_before + 1
    final = await served.get(f"/v1/applications/{app_id}", headers=auth("officer"))
    winner = next(r for r in responses if r.status_code == 200)
    assert final.json()["status"] == winner.json()["status"]
    assert final.json()["version"] == int(etag.strip('"')) + 1


async def test_without_if_match_actions_are_judged_in_turn(
    served: httpx.AsyncClient, auth: Tokens, db: Connection, database_url: str
) -> None:
    """Ten accepts without If-Match, queued behind the row: each is judged on the state the one
    before it left (the row lock), so one accepts and nine are invalid transitions — never a
    412 (a stale read) for a request that named no version."""
    created = await served.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = created.json()["id"]
    async with holding(database_url, ROW_LOCK, app_id) as hold:
        sent = [
            asyncio.create_task(
                served.post(
                    f"/v1/applications/{app_id}/actions",
                    json={"action": "accept"},
                    headers=auth("officer"),
                )
            )
            for _ in range(10)
        ]
        await hold.queued(len(sent), "ten accepts")
    responses = await asyncio.gather(*sent)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 9, [(r.status_code, r.text[:80]) for r in responses]
    assert all(
        r.json()["type"].endswith("/invalid-transition")
        for r in responses[1:]
        if r.status_code == 409
    )
    accepts = await db.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = $1 AND action = 'accept'", app_id
    )
    assert accepts == 1


@pytest.mark.smoke
async def test_same_idempotency_key_ten_times_at_once_creates_one(
    served: httpx.AsyncClient, auth: Tokens, db: Connection, database_url: str
) -> None:
    """The first request with a key is held at its commit (the test holds the year's counter
    row), so it is still running when nine retries arrive: each gets 409 request-in-progress at
    once, without waiting for it. Then the first commits, and a retry gets its answer."""
    await served.post("/v1/applications", json=application_body(), headers=auth("exporter"))
    headers = {**auth("exporter"), "Idempotency-Key": "order-4711"}
    body = application_body(submit=True)
    async with holding(database_url, COUNTER_LOCK) as hold:
        first = asyncio.create_task(served.post("/v1/applications", json=body, headers=headers))
        await hold.queued(1, "the first request's commit")
        retries = await asyncio.wait_for(
            asyncio.gather(
                *(served.post("/v1/applications", json=body, headers=headers) for _ in range(9))
            ),
            timeout=30,  # they must not wait for the first: it waits for the test
        )
        assert not first.done()
    assert [r.status_code for r in retries] == [409] * 9
    assert all(r.json()["type"].endswith("/request-in-progress") for r in retries)
    created = await first
    assert created.status_code == 201, created.text
    assert await db.fetchval("SELECT count(*) FROM applications") == 2
    # Once the first has committed, a retry gets its answer back.
    replay = await served.post("/v1/applications", json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["idempotency-replayed"] == "true"
    assert replay.json()["id"] == created.json()["id"]


async def test_idempotency_replay_returns_the_first_answer(client: Client, auth: Tokens) -> None:
    headers = {**auth("exporter"), "Idempotency-Key": "k-1"}
    first = await client.post("/v1/applications", json=application_body(), headers=headers)
    await client.post(
        f"/v1/applications/{first.json()['id']}/actions",
        json={"action": "submit"},
        headers=auth("exporter"),
    )
    # Same body, keys reordered: compared as decoded JSON.
    reordered = dict(reversed(list(application_body().items())))
    again = await client.post("/v1/applications", json=reordered, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]


async def test_idempotency_key_with_another_body_is_422(client: Client, auth: Tokens) -> None:
    headers = {**auth("exporter"), "Idempotency-Key": "k-2"}
    await client.post("/v1/applications", json=application_body(), headers=headers)
    other = await client.post(
        "/v1/applications", json=application_body(contract_ref="PO-1"), headers=headers
    )
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")


async def test_idempotency_keys_are_per_organisation(client: Client, auth: Tokens) -> None:
    body = application_body()
    ours = await client.post(
        "/v1/applications", json=body, headers={**auth("exporter"), "Idempotency-Key": "same"}
    )
    theirs = await client.post(
        "/v1/applications",
        json=body,
        headers={**auth("exporter", org="rival"), "Idempotency-Key": "same"},
    )
    assert ours.status_code == theirs.status_code == 201
    assert ours.json()["id"] != theirs.json()["id"]
    assert "idempotency-replayed" not in theirs.headers


async def test_references_are_gapless_under_concurrency(
    served: httpx.AsyncClient, auth: Tokens, db: Connection, database_url: str
) -> None:
    """Thirty creations at once (batched, and one by one with Idempotency-Keys) queue behind the
    year's counter row, which the test holds; let go, they number 1..30 with no gap and no
    number twice, and a refused filing takes none."""
    first = await served.post("/v1/applications", json=application_body(), headers=auth("exporter"))
    assert first.status_code == 201
    bad = application_body(destination_country="CN")
    async with holding(database_url, COUNTER_LOCK) as hold:
        sent = [
            asyncio.create_task(
                served.post(
                    "/v1/applications",
                    json=application_body() if i % 3 else bad,
                    headers={
                        **auth("exporter"),
                        **({"Idempotency-Key": f"k-{i}"} if i % 2 else {}),
                    },
                )
            )
            for i in range(45)
        ]
        await hold.queued(2, "creations at their commit")
    responses = await asyncio.gather(*sent)
    assert sorted(r.status_code for r in responses) == [201] * 30 + [422] * 15
    references = sorted(
        r["reference"] for r in await db.fetch("SELECT reference FROM applications")
    )
    assert references == [f"EL-2025-{n:06d}" for n in range(1, 32)]


async def test_references_are_given_at_commit_in_commit_order(
    app: Litestar, database_url: str, db: Connection
) -> None:
    """Numbering waits for the commit: a creation still open holds no number (nor the year's
    counter), one rolled back never takes one, and numbers follow commit order."""
    exporter = Principal(sub="alice", org="acme", roles=frozenset({Role.EXPORTER}))
    ctx = app.state.services.context
    body = new_application(submit=True)
    slow, fast, abandoned = [await connect(database_url) for _ in range(3)]
    try:
        opened_first = slow.transaction()
        await opened_first.start()
        first = await workflow.create(slow, ctx, exporter, body)
        doomed = abandoned.transaction()
        await doomed.start()
        # neither waits for `slow`: an open creation holds no number, nor the year's counter
        await asyncio.wait_for(workflow.create(abandoned, ctx, exporter, body), timeout=10)
        await doomed.rollback()

        async def create_and_commit() -> workflow.Created:
            async with fast.transaction():
                return await workflow.create(fast, ctx, exporter, body)

        # created later, committed first, while `slow` is still open
        second = await asyncio.wait_for(create_and_commit(), timeout=10)
        await opened_first.commit()
        first = await workflow.numbered(slow, first)
        second = await workflow.numbered(fast, second)
    finally:
        for conn in (slow, fast, abandoned):
            conn.terminate()  # at once, whatever a failed step left open
    assert second.application.reference == "EL-2025-000001"
    assert first.application.reference == "EL-2025-000002"
    assert await db.fetchval("SELECT count(*) FROM applications") == 2


async def test_a_write_on_a_stale_version_writes_nothing(
    client: Client, auth: Tokens, db: Connection
) -> None:
    """The store's compare-and-set, under the row lock's belt: a write that read version N
    writes nothing once the row is at N + 1."""
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = UUID(created.json()["id"])
    read = await store.get(db, app_id, Visibility(org=None, officer=True))
    assert read is not None
    moved = await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "accept"}, headers=auth("officer")
    )
    assert moved.status_code == 200
    stale = msgspec.structs.replace(read, status=Status.WITHDRAWN, version=read.version + 1)
    assert not await store.update(db, stale, [], expected_version=read.version)
    now = await store.get(db, app_id, Visibility(org=None, officer=True))
    assert now is not None
    assert (now.status, now.version) == (Status.UNDER_REVIEW, read.version + 1)
