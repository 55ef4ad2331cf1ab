"""New applications filed together go in one transaction: one commit numbers them all, yet each
request gets what filing alone would have given it: its application, numbered, with its
timeline and follow-up work, or its own error, never another's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol

import asyncpg
import pytest
from litestar import Litestar

from licenceflow.domain.access import Principal
from licenceflow.domain.applications import Application
from licenceflow.domain.audit import Role
from licenceflow.store import applications as store
from licenceflow.store.applications import Filed
from licenceflow.store.batched import Batched, Send
from licenceflow.store.pool import Connection, connect
from licenceflow.workflow import applications as workflow
from tests.examples import new_application
from tests.polling import eventually

EXPORTER = Principal(sub="alice", org="acme", roles=frozenset({Role.EXPORTER}))
BODY = new_application(submit=True)
WAIT = 30  # seconds: a bound on a wait that is expected to end at once

File = Callable[[store.Filings], Awaitable[Application]]  # files one application in a batch


class Opens(Protocol):
    def __call__(
        self, send: Send[Filed, Application], *, lanes: int = 1
    ) -> Awaitable[store.Filings]: ...


@pytest.fixture
async def batched(database_url: str) -> AsyncIterator[Opens]:
    """Opens batched filings through a given send; closed after the test."""
    opened: list[store.Filings] = []

    async def open_filings(send: Send[Filed, Application], *, lanes: int = 1) -> store.Filings:
        opened.append(await Batched.open(database_url, send, repeatable=False, lanes=lanes))
        return opened[-1]

    yield open_filings
    for filings in opened:
        await filings.close()


@pytest.fixture
async def file(app: Litestar, db: Connection) -> Callable[[store.Filings], Awaitable[Application]]:
    """Files one application through the workflow, in `filings`' next batch (answered once
    committed, not yet read back numbered)."""

    async def through(filings: store.Filings) -> Application:
        created = await workflow.create(
            db, app.state.services.context, EXPORTER, BODY, filings=filings
        )
        return created.application

    return through


class Recorded:
    """insert_many, keeping the applications of every batch it sends."""

    def __init__(self) -> None:
        self.batches: list[list[Application]] = []

    async def __call__(
        self, conn: Connection, filed: Sequence[Filed]
    ) -> list[Application | Exception]:
        self.batches.append([app for app, _ in filed])
        return await store.insert_many(conn, filed)


class Held(Recorded):
    """Holds the first batch's answer until `release` is set, once it has committed."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(
        self, conn: Connection, filed: Sequence[Filed]
    ) -> list[Application | Exception]:
        answers = await super().__call__(conn, filed)
        if len(self.batches) == 1:
            self.sent.set()
            await asyncio.wait_for(self.release.wait(), WAIT)
        return answers


@contextlib.asynccontextmanager
async def elsewhere(database_url: str) -> AsyncIterator[Connection]:
    """A session of its own in an open transaction, rolled back on leaving: its locks held
    until then."""
    conn = await connect(database_url)
    transaction = conn.transaction()
    await transaction.start()
    try:
        yield conn
    finally:
        await transaction.rollback()
        await conn.close()


async def references(db: Connection, apps: Sequence[Application]) -> list[str]:
    return [(await store.numbered(db, app)).reference for app in apps]


async def stored(db: Connection) -> dict[str, list[str]]:
    """Each stored application's reference → its timeline's actions, in order, each once in
    the outbox."""
    rows = await db.fetch(
        """SELECT a.reference, array_agg(e.action ORDER BY e.seq) AS actions,
                  count(o.id) AS follow_ups
           FROM applications a
           JOIN events e ON e.stream_id = a.id
           LEFT JOIN outbox o ON (o.payload ->> 'event_seq')::bigint = e.seq
           GROUP BY a.reference"""
    )
    assert all(r["follow_ups"] == len(r["actions"]) for r in rows), rows
    return {r["reference"]: list(r["actions"]) for r in rows}


async def test_filings_arriving_together_commit_together_each_numbered_with_its_timeline(
    batched: Opens, file: File, db: Connection
) -> None:
    send = Held()
    filings = await batched(send)
    first = asyncio.create_task(file(filings))
    await asyncio.wait_for(send.sent.wait(), WAIT)  # the first batch is out, alone
    together = [asyncio.create_task(file(filings)) for _ in range(6)]
    await asyncio.sleep(0)  # one turn of the loop: each task runs to its submit
    send.release.set()

    answers = await asyncio.wait_for(asyncio.gather(first, *together), WAIT)

    assert [len(b) for b in send.batches] == [1, 6]
    assert [a.id for a in answers] == [a.id for b in send.batches for a in b]
    numbered = await references(db, answers)
    assert numbered == [f"EL-2025-{n:06d}" for n in range(1, 8)]
    assert await stored(db) == {r: ["create", "submit"] for r in numbered}


async def test_a_filing_goes_out_at_once_while_a_lane_has_nothing_in_flight(
    batched: Opens, file: File, db: Connection
) -> None:
    send = Held()
    filings = await batched(send, lanes=2)
    first = asyncio.create_task(file(filings))
    await asyncio.wait_for(send.sent.wait(), WAIT)  # held on its lane

    second = await asyncio.wait_for(file(filings), WAIT)  # on the other lane, not behind it

    assert not first.done()
    send.release.set()
    both = [await asyncio.wait_for(first, WAIT), second]
    assert [len(b) for b in send.batches] == [1, 1]
    assert await references(db, both) == ["EL-2025-000001", "EL-2025-000002"]


async def test_a_filing_the_database_refuses_fails_alone(
    batched: Opens, file: File, db: Connection
) -> None:
    """One application of a batch breaks a constraint: the transaction fails, each goes again
    on its own, and only that one's request hears of it. Numbers stay gapless."""
    send = Held()
    filings = await batched(send)
    first = asyncio.create_task(file(filings))
    await asyncio.wait_for(send.sent.wait(), WAIT)
    good = [asyncio.create_task(file(filings)) for _ in range(3)]
    taken = send.batches[0][0]  # committed: its id is taken
    again = asyncio.create_task(filings.submit((taken, [])))
    await asyncio.sleep(0)  # one turn of the loop: each task runs to its submit
    send.release.set()

    answers = await asyncio.wait_for(
        asyncio.gather(first, *good, again, return_exceptions=True), WAIT
    )

    assert isinstance(answers[-1], asyncpg.UniqueViolationError), answers[-1]
    filed = [a for a in answers[:-1] if isinstance(a, Application)]
    numbered = await references(db, filed)
    assert numbered == [f"EL-2025-{n:06d}" for n in range(1, 5)]
    assert [len(b) for b in send.batches] == [1, 4]
    assert sorted(await stored(db)) == numbered


async def test_a_batch_whose_connection_is_lost_is_not_sent_again(
    batched: Opens, file: File, db: Connection
) -> None:
    """Its commit may have happened: its requests fail (a 503), none is filed twice, and the
    next batch goes out on a new connection."""
    servers: list[int] = []

    async def ended_before_the_second(
        conn: Connection, filed: Sequence[Filed]
    ) -> list[Application | Exception]:
        servers.append(conn.get_server_pid())
        if len(servers) == 2:
            assert await db.fetchval("SELECT pg_terminate_backend($1, 5000)", servers[-1])
        return await store.insert_many(conn, filed)

    filings = await batched(ended_before_the_second)
    await file(filings)

    with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError)):
        await asyncio.wait_for(file(filings), WAIT)
    third = await asyncio.wait_for(file(filings), WAIT)

    assert len(servers) == 3
    assert servers[2] != servers[1]
    assert await references(db, [third]) == ["EL-2025-000002"]
    assert await db.fetchval("SELECT count(*) FROM applications") == 2


async def test_closing_lets_the_batch_in_flight_answer_and_fails_those_waiting(
    batched: Opens, file: File, db: Connection
) -> None:
    send = Held()
    filings = await batched(send)
    in_flight = asyncio.create_task(file(filings))
    await asyncio.wait_for(send.sent.wait(), WAIT)
    waiting = asyncio.create_task(file(filings))
    await asyncio.sleep(0)
    closing = asyncio.create_task(filings.close())
    await asyncio.sleep(0)
    send.release.set()
    await asyncio.wait_for(closing, WAIT)

    answered = await in_flight
    assert await references(db, [answered]) == ["EL-2025-000001"]
    with pytest.raises(ConnectionError):  # a 503: it was never sent
        await waiting
    with pytest.raises(ConnectionError):
        await file(filings)
    assert await db.fetchval("SELECT count(*) FROM applications") == 1


async def test_a_filing_given_up_before_its_batch_went_out_is_not_filed(
    batched: Opens, file: File, db: Connection
) -> None:
    send = Held()
    filings = await batched(send)
    first = asyncio.create_task(file(filings))
    await asyncio.wait_for(send.sent.wait(), WAIT)
    given_up = asyncio.create_task(file(filings))
    kept = asyncio.create_task(file(filings))
    await asyncio.sleep(0)  # one turn of the loop: each task runs to its submit
    given_up.cancel()  # its client went away before its batch went out
    send.release.set()

    answers = await asyncio.wait_for(asyncio.gather(first, kept), WAIT)

    assert given_up.cancelled()
    assert [len(b) for b in send.batches] == [1, 1]
    assert await references(db, answers) == ["EL-2025-000001", "EL-2025-000002"]
    assert await db.fetchval("SELECT count(*) FROM applications") == 2


async def test_filings_committed_one_by_one_keep_their_answers_when_the_connection_goes(
    app: Litestar, database_url: str, db: Connection
) -> None:
    """PostgreSQL refuses a batch (one filing's id is taken), so each goes again alone: the
    first commits, the taken one is refused, and the third waits on a lock until its session
    is ended. The first keeps its answer; the third, and any after it, get the failure."""
    ctx = app.state.services.context
    unsent = db.transaction()  # three applications made, none kept
    await unsent.start()
    made = [(await workflow.create(db, ctx, EXPORTER, BODY)).application for _ in range(3)]
    await unsent.rollback()
    taken, first, third = made
    await store.insert(db, taken, [])
    conn = await connect(database_url)
    try:
        async with elsewhere(database_url) as blocker:
            await store.insert(blocker, third, [])  # uncommitted: the third's insert waits on it
            batch = asyncio.create_task(
                store.insert_many(conn, [(first, []), (taken, []), (third, [])])
            )
            pid = conn.get_server_pid()

            async def third_waits() -> bool:
                return await db.fetchval(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
                )

            await eventually(third_waits, "the third filing waits on the lock", deadline=WAIT)
            assert await db.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
            outcomes = await asyncio.wait_for(batch, WAIT)
    finally:
        await conn.close()

    assert isinstance(outcomes[0], Application)
    assert outcomes[0].id == first.id
    assert isinstance(outcomes[1], asyncpg.UniqueViolationError)
    assert isinstance(outcomes[2], (asyncpg.PostgresConnectionError, asyncpg.InterfaceError))
    stored_ids = {r["id"] for r in await db.fetch("SELECT id FROM applications")}
    assert stored_ids == {taken.id, first.id}


async def test_a_batch_cancelled_on_timeout_fails_its_requests_and_files_none(
    batched: Opens,
    file: File,
    db: Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its commit waits for the year's counter row, held elsewhere, past the command timeout:
    asyncpg asks PostgreSQL to cancel it, and its requests hear how it ended, here cancelled
    (a 503), nothing of it stored. (Had its commit got the row before the cancel arrived, they
    would hear it was filed.)"""
    monkeypatch.setattr("licenceflow.store.batched.COMMAND_TIMEOUT", 0.5)
    filings = await batched(store.insert_many)
    await file(filings)  # the year's counter row exists
    async with elsewhere(database_url) as blocker:
        await blocker.execute("SELECT * FROM reference_counters FOR UPDATE")
        answers = await asyncio.wait_for(
            asyncio.gather(file(filings), file(filings), return_exceptions=True), WAIT
        )

    assert [type(a) for a in answers] == [TimeoutError, TimeoutError]
    after = await asyncio.wait_for(file(filings), WAIT)
    assert await references(db, [after]) == ["EL-2025-000002"]
    assert await db.fetchval("SELECT count(*) FROM applications") == 2
