"""Deleting a draft (issue 20, item 8): an exporter's draft never counted as filed, so it may be
deleted: it is gone from every read, list and figure, and the audit keeps its timeline, ended by
the `delete` event with what the draft was."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.domain import applications as domain
from licenceflow.domain.access import Visibility
from licenceflow.domain.audit import Actor, Role
from licenceflow.metrics import maintenance
from licenceflow.store import applications as store
from licenceflow.store import events
from licenceflow.store.pool import Connection
from tests.examples import application_body
from tests.integration.conftest import Tokens, project_all
from tests.integration.races import holding

Client = AsyncTestClient[Litestar]
ROW_LOCK = "SELECT 1 FROM applications WHERE id = $1 FOR UPDATE"


async def draft(client: Client | httpx.AsyncClient, auth: Tokens, **overrides: Any) -> Any:
    created = await client.post(
        "/v1/applications", json=application_body(**overrides), headers=auth("exporter")
    )
    assert created.status_code == 201, created.text
    return created


async def test_a_deleted_draft_is_gone_and_its_timeline_stays(
    client: Client, auth: Tokens, db: Connection
) -> None:
    created = await draft(client, auth, contract_ref="PO-DEL-1")
    app_id, reference = created.json()["id"], created.json()["reference"]
    edited = await client.patch(
        f"/v1/applications/{app_id}", json={"end_use": "motors"}, headers=auth("exporter")
    )
    assert edited.status_code == 200, edited.text

    deleted = await client.delete(
        f"/v1/applications/{app_id}",
        headers={**auth("exporter"), "If-Match": edited.headers["etag"]},
    )
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""

    for path in (
        f"/v1/applications/{app_id}",
        f"/v1/applications/by-reference/{reference}",
        f"/v1/applications/{app_id}/events",
    ):
        assert (await client.get(path, headers=auth("exporter"))).status_code == 404, path
    listed = await client.get("/v1/applications?contract_ref=PO-DEL-1", headers=auth("exporter"))
    assert listed.json()["items"] == []
    again = await client.delete(f"/v1/applications/{app_id}", headers=auth("exporter"))
    assert again.status_code == 404

    timeline = await db.fetch(
        "SELECT action, from_status, to_status, actor_sub, details FROM events"
        " WHERE stream_id = $1 ORDER BY seq",
        UUID(app_id),
    )
    assert [(e["action"], e["from_status"], e["to_status"]) for e in timeline] == [
        ("create", None, "draft"),
        ("edit", "draft", "draft"),
        ("delete", "draft", "deleted"),
    ]
    assert timeline[-1]["actor_sub"] == "exporter-1"
    kept = json.loads(timeline[-1]["details"])
    assert kept["reference"] == reference
    assert (kept["filing"]["contract_ref"], kept["filing"]["end_use"]) == ("PO-DEL-1", "motors")


async def test_a_filed_application_is_withdrawn_not_deleted(client: Client, auth: Tokens) -> None:
    created = await draft(client, auth, submit=True)
    app_id = created.json()["id"]
    refused = await client.delete(f"/v1/applications/{app_id}", headers=auth("exporter"))
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"].endswith("/invalid-transition")
    assert (problem["current_status"], problem["action"]) == ("submitted", "delete")
    assert "withdrawn" in problem["detail"]
    still = await client.get(f"/v1/applications/{app_id}", headers=auth("exporter"))
    assert still.json()["status"] == "submitted"


async def test_only_the_organisations_exporters_delete_its_drafts(
    client: Client, auth: Tokens
) -> None:
    created = await draft(client, auth)
    path = f"/v1/applications/{created.json()['id']}"
    viewer = await client.delete(path, headers=auth("viewer"))
    assert viewer.status_code == 403
    assert "viewer" in viewer.json()["detail"]
    # drafts never reach the authority, and another organisation's are not there for it
    assert (await client.delete(path, headers=auth("officer"))).status_code == 404
    assert (await client.delete(path, headers=auth("exporter", org="other"))).status_code == 404
    stale = await client.delete(path, headers={**auth("exporter"), "If-Match": '"7"'})
    assert stale.status_code == 412
    assert (await client.get(path, headers=auth("exporter"))).status_code == 200


async def test_a_deleted_draft_leaves_the_backlog_and_the_check_agrees(
    client: Client, auth: Tokens, db: Connection, redis: Any
) -> None:
    kept = await draft(client, auth)
    gone = await draft(client, auth)
    await project_all(db, redis)
    before = (await client.get("/v1/metrics/backlog", headers=auth("viewer"))).json()
    assert before["by_status"]["draft"] == 2

    deleted = await client.delete(f"/v1/applications/{gone.json()['id']}", headers=auth("exporter"))
    assert deleted.status_code == 204
    await project_all(db, redis)
    after = (await client.get("/v1/metrics/backlog", headers=auth("viewer"))).json()
    assert after["by_status"]["draft"] == 1
    assert await maintenance.check(db, redis) == []
    still = await client.get(f"/v1/applications/{kept.json()['id']}", headers=auth("exporter"))
    assert still.status_code == 200


async def test_an_idempotency_key_goes_with_its_deleted_draft(client: Client, auth: Tokens) -> None:
    """A retry of the filing after its draft was deleted files a new draft: the key's answer
    named an application that is no more (API.md, "Delete a draft")."""
    headers = {**auth("exporter"), "Idempotency-Key": "draft-77"}
    body = application_body()
    first = await client.post("/v1/applications", json=body, headers=headers)
    deleted = await client.delete(
        f"/v1/applications/{first.json()['id']}", headers=auth("exporter")
    )
    assert deleted.status_code == 204
    retried = await client.post("/v1/applications", json=body, headers=headers)
    assert retried.status_code == 201
    assert "Idempotency-Replayed" not in retried.headers
    assert retried.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("first", ["submit", "delete"])
async def test_a_submit_and_a_delete_at_once_are_judged_in_turn(
    first: str, served: httpx.AsyncClient, auth: Tokens, db: Connection, database_url: str
) -> None:
    """Both queue behind the draft's row lock, in the order sent: the second is judged on what
    the first left (a submitted file is not deleted: 409; a deleted one is not submitted: 404),
    never a 412 for a request that named no version, never both done."""
    created = await draft(served, auth)
    app_id = created.json()["id"]
    path = f"/v1/applications/{app_id}"

    def submit() -> Any:
        return served.post(f"{path}/actions", json={"action": "submit"}, headers=auth("exporter"))

    def delete() -> Any:
        return served.delete(path, headers=auth("exporter"))

    requests = {"submit": submit, "delete": delete}
    order = [first, *(name for name in requests if name != first)]
    async with holding(database_url, ROW_LOCK, app_id) as hold:
        sent = {}
        for n, name in enumerate(order, start=1):
            sent[name] = asyncio.create_task(requests[name]())
            await hold.queued(n, f"the {name}")
    codes = {name: (await task).status_code for name, task in sent.items()}
    expected = {"submit": {"submit": 200, "delete": 409}, "delete": {"delete": 204, "submit": 404}}
    assert codes == expected[first]
    actions = await db.fetch(
        "SELECT action FROM events WHERE stream_id = $1 ORDER BY seq", UUID(app_id)
    )
    assert [a["action"] for a in actions] == ["create", first]
    stored = await db.fetchval("SELECT status FROM applications WHERE id = $1", UUID(app_id))
    assert stored == ("submitted" if first == "submit" else None)


async def test_a_delete_on_a_stale_version_deletes_nothing(
    client: Client, auth: Tokens, db: Connection
) -> None:
    """The store's compare-and-set, under the row lock's belt: a delete that read version N
    deletes nothing, and records nothing, once the row is at N + 1."""
    created = await draft(client, auth)
    app_id = UUID(created.json()["id"])
    read = await store.get(db, app_id, Visibility(org="acme", officer=False))
    assert read is not None
    edited = await client.patch(
        f"/v1/applications/{app_id}", json={"end_use": "magnets"}, headers=auth("exporter")
    )
    assert edited.status_code == 200
    event = domain.delete(read, Actor(sub="exporter-1", role=Role.EXPORTER), read.created_at)
    entry = events.Entry(stream="application", stream_id=app_id, org="acme", event=event, outbox={})
    assert not await store.delete(db, read, [entry], expected_version=read.version)
    assert await db.fetchval("SELECT version FROM applications WHERE id = $1", app_id) == 2
    assert await db.fetchval("SELECT count(*) FROM events WHERE action = 'delete'") == 0
