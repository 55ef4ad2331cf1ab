"""Reads by key that arrive together go to PostgreSQL together.

A read by id costs a pool checkout, a round trip and a statement, nearly all of it per
statement and not per row. Here a read joins the batch that has not been sent yet: one query
is in flight at a time, the reads that arrive meanwhile wait for it to return and then go
together in the next one. A lone read is sent at once. A read never joins a query already sent,
so it sees every commit that ended before it arrived: read-your-writes holds as it did with a
query per read.

The query takes a connection from the pool, so whoever waits on a read must not hold one of
the same pool: with every connection held by such waiters, the query would never get one (it
gives up after CONNECTION_WAIT, and its reads fail as with the database out of reach).

Reads of an application by id, the path compliance teams poll, go this way
(`store.applications.reads`). A licence's read needs its shipments from the same connection,
so it keeps a query of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from licenceflow.store.pool import Connection, Pool

K = TypeVar("K")
V = TypeVar("V")

MOST_PER_QUERY = 500  # a batch beyond this waits for the next query: bounded statement size
CONNECTION_WAIT = 10.0  # seconds a query waits for a pool connection before its reads fail (503)

Fetch = Callable[[Connection, Sequence[K]], Awaitable[Sequence[V]]]


class BatchedReads(Generic[K, V]):
    """`get(key)` through `fetch(conn, keys)`, which answers one value per key, in order."""

    def __init__(self, pool: Pool, fetch: Fetch[K, V]) -> None:
        self._pool = pool
        self._fetch = fetch
        self._waiting: list[tuple[K, asyncio.Future[V]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V:
        answer: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, answer))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        return await answer

    async def _send(self) -> None:
        batch: list[tuple[K, asyncio.Future[V]]] = []
        try:
            while self._waiting:
                batch = self._waiting[:MOST_PER_QUERY]
                del self._waiting[:MOST_PER_QUERY]
                try:
                    async with self._pool.acquire(timeout=CONNECTION_WAIT) as conn:
                        values = await self._fetch(conn, [key for key, _ in batch])
                    for (_, answer), value in zip(batch, values, strict=True):
                        if not answer.done():  # its request may have gone (cancelled)
                            answer.set_result(value)
                except Exception as error:  # the query failed: so does every read it carried
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(error)
        finally:  # ended (no more reads) or cancelled (shutdown): no read is left waiting
            for _, answer in batch + self._waiting:
                answer.cancel()
            self._waiting.clear()
            self._sender = None
