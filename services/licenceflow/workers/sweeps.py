"""Sweeps the scheduler (Celery beat) queues on the housekeeping queue: work that the business
clock makes due, and the safety nets of the outbox and the broker.

Each sweep works in small transactions and holds a transaction-scoped advisory lock named after
itself, so two schedulers (or a slow sweep overtaken by the next beat) never run the same sweep
at once; the row locks with SKIP LOCKED keep it safe even without that lock."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from uuid import UUID

from celery import current_app, shared_task

from licenceflow.domain.applications import AWAITING_AUTHORITY, Status
from licenceflow.metrics import telemetry
from licenceflow.names import BROKER_EPOCH_KEY, sweep_task
from licenceflow.outbox import relay
from licenceflow.store import applications as applications_store
from licenceflow.store import authority_runs, events, idempotency, outbox
from licenceflow.store import sweeps as sweeps_store
from licenceflow.store.pool import Connection
from licenceflow.workers.runtime import Runtime, runtime
from licenceflow.workflow import applications, licences
from licenceflow.workflow.context import Context

log = logging.getLogger(__name__)

Step = Callable[[Connection, Context], Awaitable[int]]
RECONCILE_BATCH = 1_000  # applications read at a time
PURGE_BATCH = 1_000  # rows deleted per transaction: short locks, bounded WAL per commit


async def sweep(rt: Runtime, name: str, step: Step, batch: int) -> int:
    """Run `step` in transactions of up to `batch` rows until a batch comes back short."""
    total = 0
    async with rt.pool.acquire() as conn:
        while True:
            async with conn.transaction():
                if not await sweeps_store.claim(conn, name):
                    log.info("sweep %s: another sweep holds the lock", name)
                    return total
                done = await step(conn, await rt.context(conn))
            total += done
            if done < batch:
                break
    log.info("sweep %s: %d", name, total)
    return total


async def expire_licences(rt: Runtime) -> int:
    total = await sweep(rt, "expire_licences", licences.expire_due, licences.EXPIRY_BATCH)
    log.info("sweep expire_licences: %d expired", total)
    return total


async def deadlines(rt: Runtime) -> int:
    batch = applications.SWEEP_BATCH
    passed = await sweep(rt, "deadlines", applications.pass_deadlines, batch)
    lapsed = await sweep(rt, "lapses", applications.lapse_requests, batch)
    return passed + lapsed


async def purge(rt: Runtime) -> int:
    """Retention: expired Idempotency-Key records, outbox rows published and authority runs
    finished more than `retention_hours` ago, in bounded batches. Events are never purged:
    they are the audit trail."""
    age = timedelta(hours=rt.settings.retention_hours)

    async def keys(conn: Connection, _: Context) -> int:
        return await idempotency.purge_expired(conn, limit=PURGE_BATCH)

    async def published(conn: Connection, _: Context) -> int:
        return await outbox.purge_published(
            conn, older_than=age, owed=[s.value for s in AWAITING_AUTHORITY], limit=PURGE_BATCH
        )

    async def runs(conn: Connection, _: Context) -> int:
        return await authority_runs.purge_finished(conn, older_than=age, limit=PURGE_BATCH)

    total = 0
    for name, step in (("purge_keys", keys), ("purge_outbox", published), ("purge_runs", runs)):
        total += await sweep(rt, name, step, PURGE_BATCH)
    return total


async def relay_outbox(rt: Runtime) -> int:
    publish = relay.celery_publisher(current_app._get_current_object())  # type: ignore[attr-defined]

    async def step(conn: Connection, ctx: Context) -> int:
        return await relay.relay_due(
            conn,
            ctx,
            publish,
            simulated=rt.settings.authority == "simulated",
            has_intake=rt.scenario.intake is not None,
        )

    # What the fast paths left for the sweep: the outbox's lag, for `/metrics`.
    async with rt.pool.acquire() as conn:
        pending, oldest = await outbox.backlog(conn, (await rt.context(conn)).clock.now())
    await telemetry.record(
        rt.redis,
        outbox_checked_at=time.time(),
        outbox_pending=pending,
        outbox_oldest_recorded_at=oldest.timestamp() if oldest else 0,
    )
    return await sweep(rt, "relay_outbox", step, relay.BATCH)


async def reconcile(rt: Runtime) -> int:
    """Re-queue the authority's work when the broker lost its queues.

    The reconciler keeps the same random mark in Redis and in PostgreSQL. A Redis restarted
    without persistence comes back without it (another Redis has another mark): then every
    application a desk still has to act on, and with no follow-up waiting in the outbox, gets a
    fresh task through the outbox. A task that survived anyway and its duplicate decide once (a
    task is void once an officer acted after the event that queued it)."""
    if rt.settings.authority != "simulated":
        return 0
    in_redis = await rt.redis.get(BROKER_EPOCH_KEY)
    async with rt.pool.acquire() as conn, conn.transaction():
        if not await sweeps_store.claim(conn, "reconcile"):
            return 0
        in_postgres = await sweeps_store.broker_epoch(conn)
        if in_redis is not None and in_redis == (in_postgres or "").encode():
            return 0  # the mark survived: so did the queues
        epoch = uuid.uuid4().hex
        await sweeps_store.mark_broker(conn, epoch)
        # Lost, or never marked (the first reconcile may itself come after a loss): re-queue.
        # On a first start with intact queues this duplicates tasks, which decide once.
        requeued = await requeue_pending(conn, await rt.context(conn))
    await rt.redis.set(BROKER_EPOCH_KEY, epoch)
    if requeued:
        log.warning("sweep reconcile: the broker lost its queues; %d tasks re-queued", requeued)
    return requeued


async def requeue_pending(conn: Connection, ctx: Context, *, batch: int = RECONCILE_BATCH) -> int:
    """A fresh task for every application a desk still owes, with no follow-up waiting in the
    outbox: all of them, read `batch` at a time (oldest submission first)."""
    requeued = 0
    after: tuple[datetime, UUID] | None = None
    while pending := await applications_store.pending_ids(conn, after=after, limit=batch):
        waiting = await outbox.pending_for(conn, [str(id) for id, _, _ in pending])
        for id, status, _ in pending:
            if str(id) in waiting:
                continue
            topic = "authority.intake" if status is Status.SUBMITTED else "authority.review"
            seq = await events.last_seq(conn, id)
            await outbox.add(
                conn,
                topic,
                {"application_id": str(id), "event_seq": seq},
                created_at=ctx.clock.now(),
            )
            requeued += 1
        after = (pending[-1][2], pending[-1][0])
    return requeued


@shared_task(name=sweep_task("expire_licences"))
def expire_licences_task() -> int:
    return runtime().run(expire_licences(runtime()))


@shared_task(name=sweep_task("deadlines"))
def deadlines_task() -> int:
    return runtime().run(deadlines(runtime()))


@shared_task(name=sweep_task("relay_outbox"))
def relay_outbox_task() -> int:
    return runtime().run(relay_outbox(runtime()))


@shared_task(name=sweep_task("purge"))
def purge_task() -> int:
    return runtime().run(purge(runtime()))


@shared_task(name=sweep_task("reconcile"))
def reconcile_task() -> int:
    return runtime().run(reconcile(runtime()))
