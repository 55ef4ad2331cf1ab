"""The simulated licensing authority: intake and review desks as Celery queues.

A task carries an application id only. It reloads the application; if it is not in a status the
desk works on, the task is acknowledged, logged, and writes nothing (a redelivery, a duplicate,
or a case the exporter withdrew). Otherwise the officer draws a decision and a service time from
the scenario, holds the worker slot for that time on the business clock, and acts through the
same workflow functions as the API, conditional on the version it started from. The decision,
its event and outbox row, and the measured run commit together."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from celery import Task, shared_task
from celery.signals import task_postrun

from licenceflow.domain.access import Principal
from licenceflow.domain.applications import Status
from licenceflow.domain.audit import Role
from licenceflow.domain.elements import any_controlled
from licenceflow.domain.errors import Conflict, StaleVersion
from licenceflow.simulation import model
from licenceflow.store import applications as store
from licenceflow.store import outbox
from licenceflow.store.applications import Visibility
from licenceflow.store.pool import Connection
from licenceflow.workers.runtime import Runtime, runtime
from licenceflow.workflow import applications as workflow

log = logging.getLogger(__name__)

OFFICERS = Visibility(org=None, officer=True)
WORKS_ON: dict[model.Desk, frozenset[Status]] = {
    "intake": frozenset({Status.SUBMITTED}),
    # without an intake desk the reviewer accepts the file first
    "review": frozenset({Status.SUBMITTED, Status.UNDER_REVIEW, Status.DELAYED}),
}
FAULT_POINT = "LICENCEFLOW_TEST_PAUSE_AT"  # tests only: pause here so a kill lands there
FAULT_MARKER = "LICENCEFLOW_TEST_PAUSE_MARKER"


def _now() -> datetime:
    return datetime.now(UTC)


def pause_point(name: str) -> None:
    """A test-only hook: when the environment names this point, announce it and wait to be
    killed. Never set in production."""
    if os.environ.get(FAULT_POINT) == name:
        marker = os.environ[FAULT_MARKER]
        with open(marker, "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()}\n")
        time.sleep(3600)


async def work(
    rt: Runtime, desk: model.Desk, application_id: UUID, task_id: str, published_at: str | None
) -> str:
    started = _now()
    scenario = rt.scenario
    async with rt.pool.acquire() as conn:
        app = await store.get(conn, application_id, OFFICERS)
        if app is None or app.status not in WORKS_ON[desk]:
            log.info(
                "%s: %s is %s; nothing to do",
                desk,
                application_id,
                app.status if app else "unknown",
            )
            return "skipped"
        rng = model.rng_for(scenario, app.id, desk, app.version)
        if desk == "intake":
            controlled = any_controlled(app.filing.symbols(), rt.calendar.date_of(started))
            decision = model.decide_intake(scenario, app.filing, controlled=controlled, rng=rng)
        else:
            decision = model.decide_review(
                scenario,
                app.filing,
                referred=app.referred,
                asked_before=await _asked_before(conn, app.id),
                rng=rng,
            )
        ctx = await rt.context(conn)
        begun = ctx.clock.now()
        done_at = model.business_end(scenario, begun, decision.service_days, rt.calendar)
        speed = ctx.clock.anchor.speed
        if speed > 0:  # the officer works on the case: the slot is held for the service time
            await asyncio.sleep((done_at - begun).total_seconds() / speed)
        officer = Principal(
            sub=f"desk:{desk}:{socket.gethostname()}",
            org="authority",
            roles=frozenset({Role.OFFICER}),
        )
        try:
            async with conn.transaction():
                ctx = await rt.context(conn)
                version = app.version
                if desk == "review" and app.status is Status.SUBMITTED:
                    accepted = await workflow.act(
                        conn,
                        ctx,
                        officer,
                        app.id,
                        {"action": "accept"},
                        if_match=frozenset({version}),
                    )
                    version = accepted.version
                decided = await workflow.act(
                    conn, ctx, officer, app.id, _body(decision), if_match=frozenset({version})
                )
                if decision.follow_up_days is not None:
                    await outbox.add(
                        conn,
                        "authority.review",
                        {"application_id": str(app.id)},
                        created_at=ctx.clock.now(),
                        available_at=model.business_end(
                            scenario, ctx.clock.now(), decision.follow_up_days, rt.calendar
                        ),
                    )
                await conn.execute(
                    """INSERT INTO authority_runs (application_id, desk, task_id, worker, outcome,
                           published_at, started_at, finished_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                    app.id,
                    desk,
                    task_id,
                    officer.sub,
                    decision.action,
                    datetime.fromisoformat(published_at) if published_at else None,
                    started,
                    _now(),
                )
        except (Conflict, StaleVersion) as refused:  # someone acted meanwhile: write nothing
            log.info("%s: %s changed while worked on (%s); nothing written", desk, app.id, refused)
            return "skipped"
    await rt.relay_after_commit()
    pause_point("after-commit")
    log.info("%s: %s → %s (%s)", desk, app.id, decided.status, decision.action)
    return decision.action


async def _asked_before(conn: Connection, application_id: UUID) -> bool:
    asked: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = $1 AND action = 'request_info')",
        application_id,
    )
    return asked


def _body(decision: model.Decision) -> dict[str, Any]:
    body: dict[str, Any] = {"action": decision.action}
    if decision.reason:
        body["reason"] = decision.reason
    if decision.reason_code:
        body["reason_code"] = decision.reason_code
    if decision.valid_months:
        body["valid_months"] = decision.valid_months
    return body


@shared_task(bind=True, name="licenceflow.authority.intake")
def intake(self: Task[Any, Any], application_id: str, published_at: str | None = None) -> str:
    return runtime().run(
        work(runtime(), "intake", UUID(application_id), str(self.request.id), published_at)
    )


@shared_task(bind=True, name="licenceflow.authority.review")
def review(self: Task[Any, Any], application_id: str, published_at: str | None = None) -> str:
    return runtime().run(
        work(runtime(), "review", UUID(application_id), str(self.request.id), published_at)
    )


@task_postrun.connect
def _slot_released(
    task_id: str | None = None, task: Task[Any, Any] | None = None, **_: Any
) -> None:
    """The slot is free again: record when, for the queueing measurements."""
    if task is None or not task.name.startswith("licenceflow.authority."):
        return
    rt = runtime()
    rt.run(
        rt.pool.execute(
            "UPDATE authority_runs SET released_at = $2 WHERE task_id = $1", task_id, _now()
        )
    )
