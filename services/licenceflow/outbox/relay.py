"""The outbox relay: publishes committed follow-up work to the Celery queues.

Rows are claimed `FOR UPDATE SKIP LOCKED` and marked published in one statement (two relays
never publish the same row), then handed to the broker with a short socket timeout and no retry,
in the same transaction. When the broker is down, the rows it did not take are unmarked before
the commit and simply stay: the next pass publishes them. A crash between the
broker's acceptance and the commit publishes a row twice; tasks are idempotent, so that is safe.

Routing: which committed transition becomes which authority task, if any."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, NamedTuple

from celery import Celery

from licenceflow.names import INTAKE, REVIEW, desk_task
from licenceflow.store import outbox
from licenceflow.store.pool import Connection
from licenceflow.workflow.context import Context

log = logging.getLogger(__name__)

BATCH = 100
PUBLISH_TIMEOUT = 2.0
# Kombu's connections are not thread-safe: every publish of this process goes through one
# thread, so a publish stuck on a dead broker never shares a connection with the next.
_PUBLISHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-publisher")


class Target(NamedTuple):
    task: str
    queue: str


def has_intake_desk(scenario: str) -> bool:
    """Whether the simulated authority's scenario sorts filings at an intake desk first
    (without one, the review desk accepts them)."""
    from licenceflow.simulation import scenarios

    return scenarios.load(scenario).intake is not None


def route(topic: str, *, simulated: bool, has_intake: bool) -> Target | None:
    """The authority task a committed outbox row asks for (None: nothing to queue)."""
    if not simulated:
        return None  # human officers decide over HTTP: no decision task is ever queued
    review = Target(desk_task(REVIEW), REVIEW)
    intake = Target(desk_task(INTAKE), INTAKE)
    match topic:
        case "application.submit" | "authority.intake":
            return intake if has_intake else review
        case "application.accept" | "application.respond" | "authority.review":
            return review
        case _:
            return None


Publish = Callable[[Target, dict[str, Any], str], None]  # target, kwargs, the task's id


def celery_publisher(app: Celery) -> Publish:
    """A blocking publish through Celery's producer: no retries, short socket timeouts.

    `app` must be the app itself, not the `current_app` proxy: the publish runs on the
    publisher thread, where the proxy would find another thread's current app.

    Published to the default exchange with the queue's name as routing key: the broker puts the
    message straight into that queue. Through a named exchange, a Redis restarted empty would
    have lost the exchange's bindings, and a publisher that believes them declared would drop
    the message silently."""

    def publish(target: Target, kwargs: dict[str, Any], task_id: str) -> None:
        # stamped here, on the publisher thread, as the message leaves for the broker: the wait
        # the desks measure starts now, not when the relay picked the row
        stamped = kwargs | {"published_at": datetime.now(UTC).isoformat()}
        app.send_task(
            target.task,
            kwargs=stamped,
            task_id=task_id,
            exchange="",
            routing_key=target.queue,
            retry=False,
        )

    return publish


class BrokerUnavailable(Exception):
    """The broker refused or timed out; what was not published stays in the outbox."""


async def relay_due(
    conn: Connection,
    ctx: Context,
    publish: Publish,
    *,
    simulated: bool,
    has_intake: bool,
    limit: int = BATCH,
) -> int:
    """Publish up to `limit` due rows in one transaction; returns how many rows it settled.
    Raises `BrokerUnavailable` (after settling what it could) when the broker fails.

    The transaction commits without waiting for its WAL flush. A relay commits about as often
    as the writes it follows, and a flush of its own for each queued with theirs at the disk,
    while filings held the year's counter row. A marking lost in a crash only publishes its
    rows again, which the relay already allows (a crash between the broker's acceptance and the
    commit): tasks are idempotent."""
    failure: Exception | None = None
    async with conn.transaction():
        await outbox.commit_without_flush(conn)
        rows = await outbox.claim_due(
            conn, ctx.clock.now(), published_at=datetime.now(UTC), limit=limit
        )
        settled = 0
        for row in rows:
            target = route(row.topic, simulated=simulated, has_intake=has_intake)
            if target is not None:
                # the row names the work; the desk reads it back from PostgreSQL (the message
                # decides nothing: a forged one names no row, or another application's)
                kwargs = {"outbox_id": row.id, "application_id": row.payload["application_id"]}
                try:
                    await asyncio.wait_for(
                        asyncio.get_running_loop().run_in_executor(
                            _PUBLISHER, publish, target, kwargs, str(row.task_id)
                        ),
                        PUBLISH_TIMEOUT,
                    )
                except Exception as error:  # the broker is down or slow: try again later
                    failure = error
                    break
            settled += 1
        if failure is not None:
            await outbox.unclaim(conn, [row.id for row in rows[settled:]])
    if failure is not None:
        waiting = len(rows) - settled
        raise BrokerUnavailable(f"{waiting} outbox rows wait for the broker: {failure!r}")
    return settled
