"""The simulated licensing authority: intake and review desks as Celery queues.

A task carries the id of the outbox row that asked for the desk's work, and nothing it acts on:
the work (the application, the event that asked, whether the service time was spent) is read
back from that row in PostgreSQL. A message naming no row, a row not due yet, a row for another
desk or another application, or one whose task id is not the row's (the relay publishes each
row's task under the id written with it) is refused and writes nothing, as is any task while
officers decide over HTTP (`LICENCEFLOW_AUTHORITY=human`): whoever can write to the broker
cannot make the authority decide. The task then reloads the application; if it is not in a
status the desk works on, the task is acknowledged, logged, and writes nothing (a redelivery,
a duplicate, or a case the exporter withdrew). Otherwise the officer draws a decision and a
service time from the scenario, holds the worker slot for that time on the business clock, and
acts through the same workflow functions as the API, conditional on the version it started
from. The decision, its event and outbox row, and the measured run commit together."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

import msgspec
from celery import Task, shared_task
from celery.signals import task_postrun

from licenceflow.domain.access import Principal, Visibility
from licenceflow.domain.applications import Accept, Action, ActionCommand, Application, Status
from licenceflow.domain.audit import Role
from licenceflow.domain.elements import any_controlled
from licenceflow.names import AUTHORITY_TASKS, INTAKE, REVIEW, desk_task
from licenceflow.outbox.relay import route
from licenceflow.simulation import model
from licenceflow.store import applications as store
from licenceflow.store import authority_runs, events, outbox
from licenceflow.store.pool import Connection
from licenceflow.workers.runtime import Runtime, runtime
from licenceflow.workflow import applications as workflow
from licenceflow.workflow.context import Context

log = logging.getLogger(__name__)

OFFICERS = Visibility(org=None, officer=True)
WORKS_ON: dict[model.Desk, frozenset[Status]] = {
    INTAKE: frozenset({Status.SUBMITTED}),
    # without an intake desk the reviewer accepts the file first
    REVIEW: frozenset({Status.SUBMITTED, Status.UNDER_REVIEW, Status.DELAYED}),
}


def _now() -> datetime:
    return datetime.now(UTC)


async def work(rt: Runtime, desk: model.Desk, message: Job) -> str:
    """One officer's turn at one application: decide, hold the slot for the service time, act."""
    started, picked_up = _now(), time.monotonic()
    scenario = rt.scenario
    async with rt.pool.acquire() as conn:
        job = await _owed(rt, conn, desk, message)
        if job is None:
            return "refused"
        app = await store.get(conn, job.application_id, OFFICERS)
        if app is None or await _done_already(conn, app, desk, job):
            return "skipped"
        ctx = await rt.context(conn)
        begun = ctx.clock.now()
        decision = await _decide(rt, conn, desk, app, job, begun)  # what the officer works on
        service_seconds: float | None = None  # measured from the pick-up to the decision
        if not job.served:
            done_at = model.business_end(scenario, begun, decision.service_days, rt.calendar)
            hold = _real_seconds(done_at - begun, ctx.clock.anchor.speed)
            if hold > rt.settings.broker_visibility_timeout / 2:
                # Longer than a task may stay unacknowledged: park the file until its service
                # time is over, and free the slot (the relay hands it back when due).
                async with conn.transaction():
                    await _follow_up(conn, ctx, desk, app.id, job.trigger_seq, done_at, True)
                log.info("%s: %s parked until %s", desk, app.id, done_at.isoformat())
                return "parked"
            # The officer works on the case from the moment the task picked it up (reading the
            # file is part of the work): the slot is held for the drawn service time in all.
            await asyncio.sleep(max(0.0, hold - (time.monotonic() - picked_up)))
            service_seconds = time.monotonic() - picked_up
        async with conn.transaction():
            locked = await store.get(conn, app.id, OFFICERS, for_update=True)
            if locked is None or await _done_already(conn, locked, desk, job):
                return "skipped"  # a duplicate or the exporter got there first: write nothing
            ctx = await rt.context(conn)
            # The officer acts on the file as it is now: the deadline sweep may have moved it
            # meanwhile (an action drawn for the state read before would not be allowed, and
            # the file would be left to no desk).
            decision = await _decide(rt, conn, desk, locked, job, ctx.clock.now())
            officer = _officer(desk)
            accepted = desk == "review" and locked.status is Status.SUBMITTED
            if accepted:
                await workflow.act(conn, ctx, officer, app.id, Accept())
            decided = await workflow.act(conn, ctx, officer, app.id, _command(decision))
            if accepted:  # the review the acceptance asks for is this very task: queue none
                await outbox.settle(conn, app.id, "application.accept", _now())
            if decision.follow_up_days is not None:  # a referral: decide again when it is over
                later = model.business_end(
                    scenario, ctx.clock.now(), decision.follow_up_days, rt.calendar
                )
                await _follow_up(
                    conn, ctx, "review", app.id, await events.last_seq(conn, app.id), later, False
                )
            await authority_runs.record(
                conn,
                authority_runs.Run(
                    application_id=app.id,
                    desk=desk,
                    task_id=message.task_id,
                    worker=socket.gethostname(),
                    slot=f"{socket.gethostname()}:{os.getpid()}",
                    outcome=decision.action,
                    published_at=message.published_at,
                    started_at=started,
                    finished_at=_now(),
                    service_seconds=service_seconds,
                ),
            )
    await rt.relay_after_commit()
    log.info("%s: %s → %s (%s)", desk, app.id, decided.application.status, decision.action)
    return decision.action


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """What a task carries: the outbox row that asked for this desk's work, the application it
    names (checked against the row), and when the relay published it (for the measurements)."""

    outbox_id: int
    application_id: UUID
    task_id: str
    published_at: datetime | None = None


class Owed(NamedTuple):
    """The work PostgreSQL holds for a task: the application, the event that asked for this
    desk's work (a task is void once an officer acted after it), and whether the service time
    was already spent."""

    application_id: UUID
    trigger_seq: int
    served: bool


async def _owed(rt: Runtime, conn: Connection, desk: model.Desk, job: Job) -> Owed | None:
    """The work `job` claims, if PostgreSQL holds it for this desk; None (logged) if not."""
    if rt.settings.authority != "simulated":
        log.warning("%s: task %s refused: officers decide over HTTP", desk, job.task_id)
        return None
    row = await outbox.due(conn, job.outbox_id, (await rt.context(conn)).clock.now())
    has_intake = rt.scenario.intake is not None
    target = None if row is None else route(row.topic, simulated=True, has_intake=has_intake)
    if (
        row is None
        or str(row.task_id) != job.task_id  # published under another id: not the relay's
        or target is None
        or target.queue != desk
        or row.payload.get("application_id") != str(job.application_id)
    ):
        log.warning(
            "%s: task %s refused: no outbox row %d due asks this desk to work on %s",
            desk,
            job.task_id,
            job.outbox_id,
            job.application_id,
        )
        return None
    return Owed(job.application_id, row.payload["event_seq"], row.payload.get("served", False))


async def _done_already(conn: Connection, app: Application, desk: model.Desk, job: Owed) -> bool:
    """Whether this task is void: the application left the desk's statuses, or an officer acted
    on it after the event that queued the task (this task ran already, or a duplicate did)."""
    if app.status not in WORKS_ON[desk]:
        log.info("%s: %s is %s; nothing to do", desk, app.id, app.status)
        return True
    acted = await events.acted_since(conn, app.id, job.trigger_seq, Role.OFFICER)
    if acted:
        log.info("%s: %s was acted on after event %d; nothing to do", desk, app.id, job.trigger_seq)
    return acted


async def _follow_up(
    conn: Connection,
    ctx: Context,
    desk: model.Desk,
    application_id: UUID,
    trigger_seq: int,
    due: datetime,
    served: bool,
) -> None:
    await outbox.add(
        conn,
        f"authority.{desk}",
        {"application_id": str(application_id), "event_seq": trigger_seq, "served": served},
        created_at=ctx.clock.now(),
        available_at=due,
    )


def _officer(desk: model.Desk) -> Principal:
    """The desk's officer as the timeline shows it to exporters: the desk, not the machine (the
    worker's host and process are in `authority_runs`, for operators)."""
    return Principal(
        sub=f"desk:{desk}",
        org="authority",
        roles=frozenset({Role.OFFICER}),
    )


def _real_seconds(business: timedelta, speed: float) -> float:
    """Real seconds for a business duration; a fixed clock (speed 0) takes no time at all."""
    return business.total_seconds() / speed if speed > 0 else 0.0


async def _decide(
    rt: Runtime, conn: Connection, desk: model.Desk, app: Application, job: Owed, now: datetime
) -> model.Decision:
    """The officer's decision on `app` as it stands, drawn from the task's own seed: the same
    file in the same state draws the same decision, before the service time and under the
    lock alike."""
    rng = model.rng_for(rt.scenario, app.reference, desk, job.trigger_seq)
    if desk == "intake":
        controlled = any_controlled(app.filing.symbols(), rt.calendar.date_of(now))
        return model.decide_intake(rt.scenario, app.filing, controlled=controlled, rng=rng)
    return model.decide_review(
        rt.scenario,
        app.filing,
        # a file already delayed (referred, or past its deadline) cannot be referred again
        referred=app.referred or app.status is Status.DELAYED,
        asked_before=await events.ever_did(conn, app.id, Action.REQUEST_INFO),
        rng=rng,
    )


def _command(decision: model.Decision) -> ActionCommand:
    """The command the officer's decision is: only the fields the decision has."""
    fields: dict[str, Any] = {"action": decision.action}
    if decision.reason:
        fields["reason"] = decision.reason
    if decision.reason_code:
        fields["reason_code"] = decision.reason_code
    if decision.valid_months:
        fields["valid_months"] = decision.valid_months
    command: ActionCommand = msgspec.convert(fields, ActionCommand)
    return command


def _run(task: Task[Any, Any], desk: model.Desk, kwargs: dict[str, Any]) -> str:
    try:
        job = msgspec.convert(kwargs | {"task_id": str(task.request.id)}, Job, strict=False)
    except msgspec.ValidationError as error:
        log.warning("%s: task %s refused: %s", desk, task.request.id, error)
        return "refused"
    return runtime().run(work(runtime(), desk, job))


@shared_task(bind=True, name=desk_task(INTAKE))
def intake(self: Task[Any, Any], /, **kwargs: Any) -> str:
    return _run(self, "intake", kwargs)


@shared_task(bind=True, name=desk_task(REVIEW))
def review(self: Task[Any, Any], /, **kwargs: Any) -> str:
    return _run(self, "review", kwargs)


@task_postrun.connect
def _slot_released(
    task_id: str | None = None, task: Task[Any, Any] | None = None, **_: Any
) -> None:
    """The slot is free again: record when, for the queueing measurements."""
    if task is None or not task.name.startswith(AUTHORITY_TASKS):
        return
    rt = runtime()

    async def release() -> None:
        async with rt.pool.acquire() as conn:
            await authority_runs.release(conn, task_id or "", _now())

    rt.run(release())
