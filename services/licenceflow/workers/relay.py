"""The outbox relay: publishes committed follow-up work to the Celery queues.

Rows are claimed `FOR UPDATE SKIP LOCKED` (two relays never publish the same row), handed to the
broker with a short socket timeout and no retry, and marked published in the same transaction.
When the broker is down the rows simply stay: the next pass publishes them. A crash between the
broker's acceptance and the commit publishes a row twice; tasks are idempotent, so that is safe.

Routing: which committed transition becomes which authority task, if any."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from celery import Celery

from licenceflow.store import outbox
from licenceflow.store.pool import Connection
from licenceflow.workflow.context import Context

log = logging.getLogger(__name__)

INTAKE, REVIEW = "intake", "review"
BATCH = 100
PUBLISH_TIMEOUT = 2.0


class Target(NamedTuple):
    task: str
    queue: str


def route(topic: str, *, simulated: bool, has_intake: bool) -> Target | None:
    """The authority task a committed outbox row asks for (None: nothing to queue)."""
    if not simulated:
        return None  # human officers decide over HTTP: no decision task is ever queued
    review = Target("licenceflow.authority.review", REVIEW)
    intake = Target("licenceflow.authority.intake", INTAKE)
    match topic:
        case "application.submit" | "authority.intake":
            return intake if has_intake else review
        case "application.accept" | "application.respond" | "authority.review":
            return review
        case _:
            return None


Publish = Callable[[Target, dict[str, Any]], None]


def celery_publisher(app: Celery) -> Publish:
    """A blocking publish through Celery's producer: no retries, short socket timeouts."""

    def publish(target: Target, kwargs: dict[str, Any]) -> None:
        app.send_task(target.task, kwargs=kwargs, queue=target.queue, retry=False)

    return publish


async def relay_due(
    conn: Connection,
    ctx: Context,
    publish: Publish,
    *,
    simulated: bool,
    has_intake: bool,
    limit: int = BATCH,
) -> int:
    """Publish up to `limit` due rows in one transaction; returns how many rows it settled."""
    async with conn.transaction():
        rows = await outbox.claim_due(conn, ctx.clock.now(), limit=limit)
        settled: list[int] = []
        for row in rows:
            target = route(row.topic, simulated=simulated, has_intake=has_intake)
            if target is not None:
                kwargs = {
                    "application_id": row.payload["application_id"],
                    "trigger_seq": row.payload["event_seq"],
                    "served": row.payload.get("served", False),
                    "published_at": datetime.now(UTC).isoformat(),
                }
                try:
                    await asyncio.wait_for(
                        asyncio.to_thread(publish, target, kwargs), PUBLISH_TIMEOUT
                    )
                except Exception as error:  # the broker is down or slow: try again later
                    log.warning(
                        "outbox relay: broker unavailable (%r); %d rows wait",
                        error,
                        len(rows) - len(settled),
                    )
                    break
            settled.append(row.id)
        if settled:
            await outbox.mark_published(conn, settled, datetime.now(UTC))
        return len(settled)
