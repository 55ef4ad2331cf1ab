"""Authority tasks are idempotent and survive the deadline sweep: run in-process against the
real database (the clock fixed, so no service time is spent)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.clock import BusinessClock, ClockAnchor, WorkingCalendar, real_utc_now
from licenceflow.config import Settings
from licenceflow.outbox.broker import create_celery
from licenceflow.simulation import scenarios
from licenceflow.store.pool import Connection
from licenceflow.workers import authority
from licenceflow.workers.runtime import Runtime
from licenceflow.workflow import applications
from licenceflow.workflow.context import Context
from tests.integration.conftest import SHANGHAI, Tokens, application_body
from tests.polling import eventually
from tests.private_redis import PrivateRedis
from tests.processes import Processes


async def run_task(settings: Settings, desk: authority.model.Desk, job: authority.Job) -> str:
    """A worker process's turn, in a thread with its own loop and pool (as a worker has)."""

    def turn() -> str:
        create_celery(settings)  # the current app publishes follow-ups to the test broker
        rt = Runtime(settings)
        try:
            return rt.run(authority.work(rt, desk, job))
        finally:
            rt.close()

    return await asyncio.to_thread(turn)


async def job_for(db: Connection, app_id: str, seq: int) -> authority.Job:
    """The task the relay published for the outbox row of the application's event `seq`, under
    the task id written with the row."""
    query = """SELECT id, task_id FROM outbox
               WHERE payload->>'application_id' = $1 AND (payload->>'event_seq')::bigint = $2
                 AND published_at IS NOT NULL"""

    async def published() -> bool:
        return await db.fetchrow(query, app_id, seq) is not None

    await eventually(published, f"the relay publishing event {seq}'s row")
    row = await db.fetchrow(query, app_id, seq)
    return authority.Job(outbox_id=row["id"], application_id=app_id, task_id=str(row["task_id"]))


async def officer_events(db: Connection, app_id: str) -> list[str]:
    rows = await db.fetch(
        "SELECT action FROM events WHERE stream_id = $1 AND actor_role = 'officer' ORDER BY seq",
        app_id,
    )
    return [r["action"] for r in rows]


async def accepted(
    client: AsyncTestClient[Litestar], auth: Tokens, db: Connection
) -> tuple[str, int]:
    """A filed application an officer accepted over HTTP: its id, and the acceptance's event
    (what a review task it queued carries as its trigger)."""
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id: str = created.json()["id"]
    await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "accept"}, headers=auth("officer")
    )
    accept_seq: int = await db.fetchval(
        "SELECT seq FROM events WHERE stream_id = $1 AND action = 'accept'", app_id
    )
    return app_id, accept_seq


@pytest.mark.parametrize("sweep_first", [False, True], ids=["plain", "deadline-passed-meanwhile"])
async def test_a_review_decides_once_and_its_redelivery_writes_nothing(
    client: AsyncTestClient[Litestar],
    auth: Tokens,
    db: Connection,
    settings: Settings,
    sweep_first: bool,
) -> None:
    app_id, accept_seq = await accepted(client, auth, db)
    if sweep_first:  # the deadline passes while the task waits in the queue
        late = BusinessClock(
            ClockAnchor(
                real=real_utc_now(), business=datetime(2025, 9, 1, 9, tzinfo=SHANGHAI), speed=0
            )
        )
        async with db.transaction():
            ctx = Context(clock=late, calendar=WorkingCalendar())
            assert await applications.pass_deadlines(db, ctx) == 1
    job = await job_for(db, app_id, accept_seq)
    first = await run_task(settings, "review", job)
    assert first != "skipped"
    decided = await officer_events(db, app_id)
    assert decided[0] == "accept"
    assert len(decided) == 2
    again = await run_task(settings, "review", job)  # redelivered: the same task, again
    assert again == "skipped"
    assert await officer_events(db, app_id) == decided


async def test_a_task_for_a_withdrawn_application_writes_nothing(
    client: AsyncTestClient[Litestar], auth: Tokens, db: Connection, settings: Settings
) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = created.json()["id"]
    submit_seq = await db.fetchval(
        "SELECT seq FROM events WHERE stream_id = $1 AND action = 'submit'", app_id
    )
    await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "withdraw"}, headers=auth("exporter")
    )
    before = await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", app_id)
    job = await job_for(db, app_id, submit_seq)
    assert await run_task(settings, "intake", job) == "skipped"
    assert await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", app_id) == before


async def test_a_review_desk_that_accepts_and_decides_queues_no_second_review(
    client: AsyncTestClient[Litestar],
    auth: Tokens,
    db: Connection,
    settings: Settings,
    private_redis: PrivateRedis,
) -> None:
    """Without an intake desk the reviewer accepts and decides in one transaction: the
    acceptance's follow-up (a review) is that very task, so nothing more is queued."""
    no_intake = msgspec.structs.replace(settings, scenario="mmc", redis_url=private_redis.url)
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = created.json()["id"]
    submit_seq = await db.fetchval(
        "SELECT seq FROM events WHERE stream_id = $1 AND action = 'submit'", app_id
    )
    job = await job_for(db, app_id, submit_seq)
    assert await run_task(no_intake, "review", job) != "skipped"
    assert (await officer_events(db, app_id))[0] == "accept"
    unpublished = await db.fetchval(
        """SELECT count(*) FROM outbox
           WHERE published_at IS NULL AND payload->>'application_id' = $1""",
        app_id,
    )
    assert unpublished == 0
    assert app_id not in private_redis.queued_applications("review")


async def test_a_review_task_queued_before_a_referral_does_nothing(
    client: AsyncTestClient[Litestar],
    auth: Tokens,
    db: Connection,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A referral leaves the file `delayed`, a status the review desk works on: only the task's
    trigger (an officer acted after the event that queued it) tells a task queued before the
    referral — or one redelivered after it — that its work is void."""
    app_id, accept_seq = await accepted(client, auth, db)
    referred = await client.post(
        f"/v1/applications/{app_id}/actions",
        json={"action": "delay", "reason": "security review"},
        headers=auth("officer"),
    )
    assert referred.json()["status"] == "delayed"
    job = await job_for(db, app_id, accept_seq)
    with caplog.at_level("INFO", logger="licenceflow.workers.authority"):
        assert await run_task(settings, "review", job) == "skipped"
    assert f"review: {app_id} was acted on after event {accept_seq}; nothing to do" in caplog.text
    assert await officer_events(db, app_id) == ["accept", "delay"]


async def test_a_file_past_its_deadline_is_decided_not_referred_again(
    client: AsyncTestClient[Litestar],
    auth: Tokens,
    db: Connection,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The deadline sweep moved the file to `delayed` while its review task waited. Reviewers
    who refer every file they may still cannot refer this one again: the desk decides on the
    file as it is under the lock (here: asks for information), and the file is not left to
    no desk (before, the task drew `delay`, failed with a conflict, and was acknowledged)."""
    baseline = scenarios.load("baseline")
    always_refer = msgspec.structs.replace(
        baseline, review=msgspec.structs.replace(baseline.review, referral_share=1.0)
    )
    monkeypatch.setattr(scenarios, "load", lambda name: always_refer)
    app_id, accept_seq = await accepted(client, auth, db)
    late = BusinessClock(
        ClockAnchor(real=real_utc_now(), business=datetime(2025, 9, 1, 9, tzinfo=SHANGHAI), speed=0)
    )
    async with db.transaction():
        ctx = Context(clock=late, calendar=WorkingCalendar())
        assert await applications.pass_deadlines(db, ctx) == 1
    job = await job_for(db, app_id, accept_seq)
    assert await run_task(settings, "review", job) == "request_info"
    assert await officer_events(db, app_id) == ["accept", "request_info"]


@pytest.mark.parametrize(
    "forgery",
    ["no-such-row", "another-application", "another-desk", "not-yet-due", "another-task-id"],
)
async def test_a_task_naming_no_work_of_its_desk_writes_nothing(
    client: AsyncTestClient[Litestar],
    auth: Tokens,
    db: Connection,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    forgery: str,
) -> None:
    """The decision came from the message before (issue 18): a message naming the application
    and an event decided it. Now the task names an outbox row, and the work is read from it."""
    app_id, accept_seq = await accepted(client, auth, db)
    other_id, other_seq = await accepted(client, auth, db)
    job, desk = await job_for(db, app_id, accept_seq), "review"
    if forgery == "no-such-row":
        job = msgspec.structs.replace(job, outbox_id=2**62)
    elif forgery == "another-application":
        job = msgspec.structs.replace(
            job, outbox_id=(await job_for(db, other_id, other_seq)).outbox_id
        )
    elif forgery == "another-desk":  # the acceptance asks the review desk, not the intake desk
        desk = "intake"
    elif forgery == "not-yet-due":  # a referral's follow-up, or a parked file's
        await db.execute("UPDATE outbox SET available_at = 'infinity' WHERE id = $1", job.outbox_id)
    else:  # the right row and desk, but not the task the relay published for it
        job = msgspec.structs.replace(job, task_id=str(uuid4()))
    with caplog.at_level("WARNING", logger="licenceflow.workers.authority"):
        assert await run_task(settings, desk, job) == "refused"
    assert f"task {job.task_id} refused: no outbox row {job.outbox_id} due asks" in caplog.text
    assert await officer_events(db, app_id) == ["accept"]
    assert await db.fetchval("SELECT count(*) FROM authority_runs") == 0


async def test_no_task_runs_while_officers_decide_over_http(
    client: AsyncTestClient[Litestar], auth: Tokens, db: Connection, settings: Settings
) -> None:
    app_id, accept_seq = await accepted(client, auth, db)
    human = msgspec.structs.replace(settings, authority="human")
    assert await run_task(human, "review", await job_for(db, app_id, accept_seq)) == "refused"
    assert await officer_events(db, app_id) == ["accept"]


async def test_forged_messages_pushed_onto_the_queues_decide_nothing(
    client: AsyncTestClient[Litestar],
    auth: Tokens,
    db: Connection,
    settings: Settings,
    private_redis: PrivateRedis,
    tmp_path: Path,
) -> None:
    """Anyone who can write to the broker pushes tasks for a real file straight onto the
    queues, as the relay would, with every field a desk once trusted: a real worker refuses
    each one, and the file stays where it was."""
    app_id, accept_seq = await accepted(client, auth, db)
    celery = create_celery(msgspec.structs.replace(settings, redis_url=private_redis.url))
    forgeries = [
        ("review", {"application_id": app_id, "trigger_seq": accept_seq, "served": True}),
        ("review", {"application_id": app_id, "outbox_id": 2**62}),
        (
            "intake",
            {
                "application_id": app_id,
                "outbox_id": (await job_for(db, app_id, accept_seq)).outbox_id,
            },
        ),
        (  # the right row and desk, under a task id of the forger's
            "review",
            {
                "application_id": app_id,
                "outbox_id": (await job_for(db, app_id, accept_seq)).outbox_id,
            },
        ),
    ]
    for queue, kwargs in forgeries:
        celery.send_task(
            f"licenceflow.authority.{queue}", kwargs=kwargs, exchange="", routing_key=queue
        )
    processes = Processes(msgspec.structs.replace(settings, redis_url=private_redis.url), tmp_path)
    log = processes.start("worker", "--queues", "intake,review", "--concurrency", "1")
    try:

        def refusals() -> int:
            return tail(log).count(" refused")

        await eventually(lambda: refusals() == len(forgeries), "four refusals", [log])
    finally:
        processes.stop()
    assert await officer_events(db, app_id) == ["accept"]
    assert await db.fetchval("SELECT count(*) FROM authority_runs") == 0


def tail(log: Path) -> str:
    return log.read_text() if log.exists() else ""
