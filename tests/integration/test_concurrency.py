"""Races are real: many HTTP requests at once against one application or one key."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.domain.access import Principal
from licenceflow.domain.audit import Role
from licenceflow.store.pool import Connection, connect
from licenceflow.workflow import applications as workflow
from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]


@pytest.mark.smoke
async def test_twenty_concurrent_actions_one_wins(
    client: Client, auth: Tokens, db: Connection
) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = created.json()["id"]
    accepted = await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "accept"}, headers=auth("officer")
    )
    etag = accepted.headers["etag"]
    events_before = await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", app_id)
    officer_actions = [
        {"action": "approve"},
        {"action": "approve_temporary"},
        {"action": "reject", "reason": "refused"},
        {"action": "delay", "reason": "security review"},
        {"action": "request_info", "reason": "certificate"},
    ]
    requests = [
        client.post(
            f"/v1/applications/{app_id}/actions",
            json=officer_actions[i % 5],
            headers={**auth("officer", sub=f"officer-{i}"), "If-Match": etag},
        )
        for i in range(15)
    ] + [
        client.post(
            f"/v1/applications/{app_id}/actions",
            json={"action": "withdraw"},
            headers={**auth("exporter", sub=f"exporter-{i}"), "If-Match": etag},
        )
        for i in range(5)
    ]
    responses = await asyncio.gather(*requests)
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1, codes
    assert set(codes) <= {200, 409, 412}, codes
    events_after = await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", app_id)
    assert events_after == events_before + 1
    final = await client.get(f"/v1/applications/{app_id}", headers=auth("officer"))
    winner = next(r for r in responses if r.status_code == 200)
    assert final.json()["status"] == winner.json()["status"]
    assert final.json()["version"] == int(etag.strip('"')) + 1


async def test_without_if_match_actions_are_judged_in_turn(
    client: Client, auth: Tokens, db: Connection
) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = created.json()["id"]
    responses = await asyncio.gather(
        *(
            client.post(
                f"/v1/applications/{app_id}/actions",
                json={"action": "accept"},
                headers=auth("officer"),
            )
            for _ in range(10)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 9
    accepts = await db.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = $1 AND action = 'accept'", app_id
    )
    assert accepts == 1


@pytest.mark.smoke
async def test_same_idempotency_key_ten_times_at_once_creates_one(
    client: Client, auth: Tokens, db: Connection
) -> None:
    headers = {**auth("exporter"), "Idempotency-Key": "order-4711"}
    body = application_body(submit=True)
    responses = await asyncio.gather(
        *(client.post("/v1/applications", json=body, headers=headers) for _ in range(10))
    )
    codes = [r.status_code for r in responses]
    assert set(codes) <= {201, 409}, codes
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    in_progress = [r for r in responses if r.status_code == 409]
    assert all(r.json()["type"].endswith("/request-in-progress") for r in in_progress)
    assert await db.fetchval("SELECT count(*) FROM applications") == 1
    # Once the first has committed, a retry gets its answer back.
    replay = await client.post("/v1/applications", json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["idempotency-replayed"] == "true"
    assert replay.json()["id"] in created


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
    client: Client, auth: Tokens, db: Connection
) -> None:
    bad = application_body(destination_country="CN")
    await asyncio.gather(
        *(
            client.post(
                "/v1/applications",
                json=application_body() if i % 3 else bad,
                headers=auth("exporter"),
            )
            for i in range(30)
        )
    )
    references = sorted(
        r["reference"] for r in await db.fetch("SELECT reference FROM applications")
    )
    assert references == [f"EL-2025-{n:06d}" for n in range(1, 21)]


async def test_references_are_given_at_commit_in_commit_order(
    app: Litestar, database_url: str, db: Connection
) -> None:
    """Numbering waits for the commit: a creation still open holds no number (nor the year's
    counter), one rolled back never takes one, and numbers follow commit order."""
    exporter = Principal(sub="alice", org="acme", roles=frozenset({Role.EXPORTER}))
    ctx = app.state.context
    body = msgspec.json.encode(application_body(submit=True))
    slow, fast, abandoned = [await connect(database_url) for _ in range(3)]
    try:
        opened_first = slow.transaction()
        await opened_first.start()
        first = await workflow.create(slow, ctx, exporter, body)
        doomed = abandoned.transaction()
        await doomed.start()
        await workflow.create(abandoned, ctx, exporter, body)
        await doomed.rollback()

        async def create_and_commit() -> workflow.Created:
            async with fast.transaction():
                return await workflow.create(fast, ctx, exporter, body)

        # created later, committed first, while `slow` is still open: it must not wait for it
        second = await asyncio.wait_for(create_and_commit(), timeout=10)
        await opened_first.commit()
        first = await workflow.numbered(slow, first)
        second = await workflow.numbered(fast, second)
    finally:
        for conn in (slow, fast, abandoned):
            await conn.close()
    assert second.application.reference == "EL-2025-000001"
    assert first.application.reference == "EL-2025-000002"
    assert await db.fetchval("SELECT count(*) FROM applications") == 2
