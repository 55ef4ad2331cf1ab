"""Reads by id that arrive together share one query, yet each gets the answer its own query
would have given: its application or none, as its reader may see it, and never from before a
commit that ended before the read arrived."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from uuid import UUID, uuid4

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.api.app import create_app
from licenceflow.config import Settings
from licenceflow.domain.access import Visibility
from licenceflow.domain.applications import Application
from licenceflow.store import applications as store
from licenceflow.store.batched import MOST_PER_BATCH, Batched, Send
from licenceflow.store.pool import Connection
from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]
Key = tuple[UUID, Visibility]
ACME = Visibility(org="acme", officer=False)
OTHER = Visibility(org="other", officer=False)
OFFICER = Visibility(org="authority", officer=True)
WAIT = 30  # seconds: a bound on a wait that is expected to end at once


Reads = store.Reads
Opens = Callable[[Send[Key, Application | None]], Awaitable[Reads]]


@pytest.fixture
async def batched(database_url: str) -> AsyncIterator[Opens]:
    """Opens batched reads through a given fetch; closed after the test."""
    opened: list[Reads] = []

    async def open_reads(fetch: Send[Key, Application | None]) -> Reads:
        opened.append(await Batched.open(database_url, fetch, repeatable=True))
        return opened[-1]

    yield open_reads
    for reads in opened:
        await reads.close()


async def filed(client: Client, auth: Tokens, org: str, *, submit: bool) -> UUID:
    created = await client.post(
        "/v1/applications",
        json=application_body(submit=submit),
        headers=auth("exporter", org=org),
    )
    assert created.status_code == 201, created.text
    return UUID(created.json()["id"])


class Recorded:
    """get_many, keeping the keys of every query it sends."""

    def __init__(self) -> None:
        self.queries: list[list[Key]] = []

    async def __call__(self, conn: Connection, keys: Sequence[Key]) -> list[Application | None]:
        self.queries.append(list(keys))
        return await store.get_many(conn, keys)


class Held(Recorded):
    """Holds the first query's answer until `release` is set, once it has been read."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, conn: Connection, keys: Sequence[Key]) -> list[Application | None]:
        found = await super().__call__(conn, keys)
        if len(self.queries) == 1:
            self.fetched.set()
            await asyncio.wait_for(self.release.wait(), WAIT)
        return found


async def test_reads_arriving_together_go_in_one_query_each_seeing_what_its_reader_may(
    client: Client, auth: Tokens, batched: Opens
) -> None:
    submitted = await filed(client, auth, "acme", submit=True)
    draft = await filed(client, auth, "acme", submit=False)
    elsewhere = await filed(client, auth, "other", submit=True)
    expected: dict[Key, UUID | None] = {
        (submitted, ACME): submitted,
        (submitted, OTHER): None,  # another organisation's
        (submitted, OFFICER): submitted,
        (draft, ACME): draft,
        (draft, OFFICER): None,  # a draft never reached the authority
        (elsewhere, ACME): None,
        (elsewhere, OTHER): elsewhere,
        (uuid4(), ACME): None,  # no such application
    }
    keys = list(expected) * 5  # the same key twice in a batch is answered twice
    fetch = Recorded()
    reads = await batched(fetch)

    answers = await asyncio.gather(*(reads.submit(key) for key in keys))

    assert [a.id if a else None for a in answers] == [expected[key] for key in keys]
    assert fetch.queries == [keys]  # all forty in one query


async def test_a_read_arriving_while_a_query_is_out_sees_the_commits_before_it(
    client: Client, auth: Tokens, batched: Opens
) -> None:
    draft = await filed(client, auth, "acme", submit=False)
    fetch = Held()
    reads = await batched(fetch)
    first = asyncio.create_task(reads.submit((draft, ACME)))
    await asyncio.wait_for(fetch.fetched.wait(), WAIT)  # its query has read the draft

    submitted = await client.post(
        f"/v1/applications/{draft}/actions", json={"action": "submit"}, headers=auth("exporter")
    )
    assert submitted.status_code == 200, submitted.text
    second = asyncio.create_task(reads.submit((draft, ACME)))
    fetch.release.set()

    before, after = await asyncio.wait_for(asyncio.gather(first, second), WAIT)
    assert [a.status.value if a else None for a in (before, after)] == ["draft", "submitted"]
    assert len(fetch.queries) == 2


async def test_a_read_given_up_while_its_query_is_out_leaves_the_others_answered(
    client: Client, auth: Tokens, batched: Opens
) -> None:
    ids = [await filed(client, auth, "acme", submit=True) for _ in range(3)]
    fetch = Held()
    reads = await batched(fetch)
    tasks = [asyncio.create_task(reads.submit((id, ACME))) for id in ids]
    await asyncio.wait_for(fetch.fetched.wait(), WAIT)
    tasks[1].cancel()  # its client went away
    waiting = asyncio.create_task(reads.submit((ids[1], ACME)))  # for the next query
    fetch.release.set()

    first, given_up, third, later = await asyncio.wait_for(
        asyncio.gather(*tasks, waiting, return_exceptions=True), WAIT
    )
    assert isinstance(given_up, asyncio.CancelledError)
    assert [a.id for a in (first, third, later) if isinstance(a, Application)] == [
        ids[0],
        ids[2],
        ids[1],
    ]


async def test_a_failed_query_fails_the_reads_it_carried_and_the_next_query_goes_out(
    client: Client, auth: Tokens, batched: Opens
) -> None:
    id = await filed(client, auth, "acme", submit=True)
    poison = (uuid4(), ACME)

    async def failing(conn: Connection, keys: Sequence[Key]) -> list[Application | None]:
        if poison in keys:
            await conn.fetch("SELECT 1 / 0")  # PostgreSQL refuses the whole statement
        return await store.get_many(conn, keys)

    reads = await batched(failing)
    failed = await asyncio.gather(
        reads.submit(poison), reads.submit((id, ACME)), return_exceptions=True
    )
    assert all(isinstance(f, asyncpg.DivisionByZeroError) for f in failed), failed

    again = await asyncio.wait_for(reads.submit((id, ACME)), WAIT)
    assert again is not None
    assert again.id == id


async def test_more_reads_than_one_query_carries_go_in_as_many_queries_as_needed(
    client: Client, auth: Tokens, batched: Opens
) -> None:
    id = await filed(client, auth, "acme", submit=True)
    count = 2 * MOST_PER_BATCH + 7
    fetch = Recorded()
    reads = await batched(fetch)

    answers = await asyncio.gather(*(reads.submit((id, ACME)) for _ in range(count)))

    assert all(a is not None and a.id == id for a in answers)
    assert [len(q) for q in fetch.queries] == [MOST_PER_BATCH, MOST_PER_BATCH, 7]


async def test_a_server_with_one_connection_answers_reads_and_timelines(
    settings: Settings, auth: Tokens
) -> None:
    """A handler holding the pool's only connection while it waits on a batched read gets its
    answer: the reads have a connection of their own."""
    one = msgspec.structs.replace(settings, db_pool_min=1, db_pool_max=1)
    async with AsyncTestClient(create_app(one), timeout=WAIT) as client:
        id = await filed(client, auth, "acme", submit=True)
        headers = auth("exporter")
        read, timeline = await asyncio.wait_for(
            asyncio.gather(
                client.get(f"/v1/applications/{id}", headers=headers),
                client.get(f"/v1/applications/{id}/events", headers=headers),
            ),
            WAIT,  # beyond CONNECTION_WAIT: reads drawing on the same pool would get a 503
        )
    assert (read.status_code, timeline.status_code) == (200, 200)
    assert [e["action"] for e in timeline.json()["items"]] == ["create", "submit"]


async def test_reads_coming_one_at_a_time_are_not_planned_again_for_each_query(
    client: Client, auth: Tokens, batched: Opens
) -> None:
    """A trickle of reads sends batches of one key. PostgreSQL plans a statement for its
    arguments at its first five executions, then at every one for as long as such a plan looks
    cheaper than the generic plan (which guesses ten keys): on a table of any size, for one
    key, it does, and planning costs more than the lookup. Here no execution is planned."""
    id = await filed(client, auth, "acme", submit=True)
    plans: list[asyncpg.Record] = []

    async def fetch(conn: Connection, keys: Sequence[Key]) -> list[Application | None]:
        found = await store.get_many(conn, keys)
        plans.append(
            await conn.fetchrow(  # the batched statement's (the pattern is split: not this one)
                """SELECT generic_plans, custom_plans FROM pg_prepared_statements
                   WHERE statement LIKE '%unnest(' || '$1::uuid[]%'"""
            )
        )
        return found

    reads = await batched(fetch)
    for _ in range(10):  # PostgreSQL settles on a plan after five executions
        found = await reads.submit((id, ACME))
        assert found is not None
        assert found.id == id

    assert [(p["generic_plans"], p["custom_plans"]) for p in plans[-1:]] == [(10, 0)]


async def test_reads_go_on_once_their_connection_is_lost(
    client: Client, auth: Tokens, batched: Opens, db: Connection
) -> None:
    """A PostgreSQL restart (or an administrator) ends the reads' connection as a query goes
    out on it: the query goes again on a new one, and fails no reader."""
    id = await filed(client, auth, "acme", submit=True)
    servers: list[int] = []

    async def fetch(conn: Connection, keys: Sequence[Key]) -> list[Application | None]:
        servers.append(conn.get_server_pid())
        if len(servers) == 2:  # the second query's connection ends before it is sent
            assert await db.fetchval("SELECT pg_terminate_backend($1, 5000)", servers[-1])
        return await store.get_many(conn, keys)

    reads = await batched(fetch)
    assert await reads.submit((id, ACME)) is not None

    found = await asyncio.wait_for(reads.submit((id, ACME)), WAIT)

    assert found is not None
    assert found.id == id
    assert len(servers) == 3  # the first query, the one that met the end, the one again
    assert servers[2] != servers[1]


async def test_reads_after_close_fail_as_the_database_out_of_reach(batched: Opens) -> None:
    reads = await batched(store.get_many)
    await reads.close()

    with pytest.raises(ConnectionError):  # a 503, and no connection opened again
        await reads.submit((uuid4(), ACME))
