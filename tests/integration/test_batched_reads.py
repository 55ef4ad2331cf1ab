"""Reads by id that arrive together share one query, yet each gets the answer its own query
would have given: its application or none, as its reader may see it, and never from before a
commit that ended before the read arrived."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from uuid import UUID, uuid4

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.api.app import create_app
from licenceflow.config import Settings
from licenceflow.domain.applications import Application
from licenceflow.store import applications as store
from licenceflow.store.applications import Visibility
from licenceflow.store.batched import MOST_PER_QUERY, BatchedReads
from licenceflow.store.pool import Connection, Pool, open_pool
from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]
Key = tuple[UUID, Visibility]
ACME = Visibility(org="acme", officer=False)
OTHER = Visibility(org="other", officer=False)
OFFICER = Visibility(org="authority", officer=True)
WAIT = 30  # seconds: a bound on a wait that is expected to end at once


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    opened = await open_pool(database_url, min_size=1, max_size=4)
    yield opened
    await opened.close()


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
    client: Client, auth: Tokens, pool: Pool
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
    reads = BatchedReads(pool, fetch)

    answers = await asyncio.gather(*(reads.get(key) for key in keys))

    assert [a.id if a else None for a in answers] == [expected[key] for key in keys]
    assert fetch.queries == [keys]  # all forty in one query


async def test_a_read_arriving_while_a_query_is_out_sees_the_commits_before_it(
    client: Client, auth: Tokens, pool: Pool
) -> None:
    draft = await filed(client, auth, "acme", submit=False)
    fetch = Held()
    reads = BatchedReads(pool, fetch)
    first = asyncio.create_task(reads.get((draft, ACME)))
    await asyncio.wait_for(fetch.fetched.wait(), WAIT)  # its query has read the draft

    submitted = await client.post(
        f"/v1/applications/{draft}/actions", json={"action": "submit"}, headers=auth("exporter")
    )
    assert submitted.status_code == 200, submitted.text
    second = asyncio.create_task(reads.get((draft, ACME)))
    fetch.release.set()

    before, after = await asyncio.wait_for(asyncio.gather(first, second), WAIT)
    assert [a.status.value if a else None for a in (before, after)] == ["draft", "submitted"]
    assert len(fetch.queries) == 2


async def test_a_read_given_up_while_its_query_is_out_leaves_the_others_answered(
    client: Client, auth: Tokens, pool: Pool
) -> None:
    ids = [await filed(client, auth, "acme", submit=True) for _ in range(3)]
    fetch = Held()
    reads = BatchedReads(pool, fetch)
    tasks = [asyncio.create_task(reads.get((id, ACME))) for id in ids]
    await asyncio.wait_for(fetch.fetched.wait(), WAIT)
    tasks[1].cancel()  # its client went away
    waiting = asyncio.create_task(reads.get((ids[1], ACME)))  # for the next query
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
    client: Client, auth: Tokens, pool: Pool
) -> None:
    id = await filed(client, auth, "acme", submit=True)
    poison = (uuid4(), ACME)

    async def failing(conn: Connection, keys: Sequence[Key]) -> list[Application | None]:
        if poison in keys:
            await conn.fetch("SELECT 1 / 0")  # PostgreSQL refuses the whole statement
        return await store.get_many(conn, keys)

    reads = BatchedReads(pool, failing)
    failed = await asyncio.gather(reads.get(poison), reads.get((id, ACME)), return_exceptions=True)
    assert all(isinstance(f, asyncpg.DivisionByZeroError) for f in failed), failed

    again = await asyncio.wait_for(reads.get((id, ACME)), WAIT)
    assert again is not None
    assert again.id == id


async def test_more_reads_than_one_query_carries_go_in_as_many_queries_as_needed(
    client: Client, auth: Tokens, pool: Pool
) -> None:
    id = await filed(client, auth, "acme", submit=True)
    count = 2 * MOST_PER_QUERY + 7
    fetch = Recorded()
    reads = BatchedReads(pool, fetch)

    answers = await asyncio.gather(*(reads.get((id, ACME)) for _ in range(count)))

    assert all(a is not None and a.id == id for a in answers)
    assert [len(q) for q in fetch.queries] == [MOST_PER_QUERY, MOST_PER_QUERY, 7]


async def test_a_server_with_one_connection_answers_reads_and_timelines(
    settings: Settings, auth: Tokens
) -> None:
    """No handler waits on a batched read while it holds a connection: the read's query needs
    one from the same pool."""
    one = msgspec.structs.replace(settings, db_pool_min=1, db_pool_max=1)
    async with AsyncTestClient(create_app(one), timeout=WAIT) as client:
        id = await filed(client, auth, "acme", submit=True)
        headers = auth("exporter")
        read, timeline = await asyncio.wait_for(
            asyncio.gather(
                client.get(f"/v1/applications/{id}", headers=headers),
                client.get(f"/v1/applications/{id}/events", headers=headers),
            ),
            WAIT,  # beyond CONNECTION_WAIT: a handler holding the only connection gets a 503
        )
    assert (read.status_code, timeline.status_code) == (200, 200)
    assert [e["action"] for e in timeline.json()["items"]] == ["create", "submit"]
