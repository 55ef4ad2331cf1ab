"""The reconciler re-queues every application a desk still owes, however many: it used to stop at
the first 10,000 and forget the rest (issue 18). Read in batches here of 7, over 25 files."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.store.pool import Connection
from licenceflow.workers import sweeps
from licenceflow.workflow.context import Context
from tests.integration.conftest import Tokens, application_body, relayed

Client = AsyncTestClient[Litestar]


async def test_every_owed_application_is_requeued_in_batches(
    app: Litestar, client: Client, auth: Tokens, db: Connection
) -> None:
    filed = []
    for _ in range(25):
        created = await client.post(
            "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
        )
        filed.append(created.json()["id"])
    for id in filed[:4]:  # under review: still owed to the review desk
        await client.post(
            f"/v1/applications/{id}/actions", json={"action": "accept"}, headers=auth("officer")
        )
    asked = filed[4:6]  # waiting for the exporter: owed to no desk
    for id in asked:
        await client.post(
            f"/v1/applications/{id}/actions", json={"action": "accept"}, headers=auth("officer")
        )
        await client.post(
            f"/v1/applications/{id}/actions",
            json={"action": "request_info", "reason": "end-user statement"},
            headers=auth("officer"),
        )
    await relayed(db)  # every task already handed to the broker: the outbox owes nothing
    context: Context = app.state.services.context
    async with db.transaction():
        requeued = await sweeps.requeue_pending(db, context, batch=7)
    owed = set(filed) - set(asked)
    assert requeued == len(owed) == 23
    queued = await db.fetch(
        """SELECT topic, payload->>'application_id' AS id FROM outbox
           WHERE published_at IS NULL AND topic LIKE 'authority.%'"""
    )
    assert sorted(r["id"] for r in queued) == sorted(owed)  # each once
    review = {r["id"] for r in queued if r["topic"] == "authority.review"}
    assert review == set(filed[:4])
