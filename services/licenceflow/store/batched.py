"""Reads by key that arrive together go to PostgreSQL together.

A read by id costs a round trip and a statement, nearly all of it per statement and not per
row. Here a read joins the batch that has not been sent yet: one query is in flight at a time,
the reads that arrive meanwhile wait for it to return and then go together in the next one. A
lone read is sent at once. A read never joins a query already sent, so it sees every commit
that ended before it arrived: read-your-writes holds as it did with a query per read.

The reads have a connection of their own (`BatchedReads.open`), not one from the service's pool:
- one query is out at a time, so one connection is all they ever use (a pool's checkout and
  return would buy nothing);
- a handler may hold a connection of the service's pool while it waits on a read: with the
  reads drawing on the same pool, handlers holding every connection would starve them;
- its session plans the batched statement once, generically. PostgreSQL plans a prepared
  statement anew at each execution for as long as a plan for the arguments given looks
  cheaper than a generic one. For a statement over `unnest($keys)` it always does when the
  batches are small (the generic plan guesses ten keys), which is when reads come one at a
  time: planning then cost more than the lookup itself (pgbench, one key per query: 8,600
  queries/s planned each time against 34,000 for the point lookup). The generic plan is the
  same nested loop over the primary key for any number of keys.

Reads of an application by id, the path compliance teams poll, go this way
(`store.applications.reads`). A licence's read needs its shipments from the same connection,
so it keeps a query of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg

from licenceflow.store.pool import COMMAND_TIMEOUT, Connection, connect

K = TypeVar("K")
V = TypeVar("V")

MOST_PER_QUERY = 500  # a batch beyond this waits for the next query: bounded statement size
CONNECTION_WAIT = 10.0  # seconds a query waits for its connection to open (then: a 503)

# what a query raises when its connection went away under it (the socket closed, PostgreSQL
# ended the session, or asyncpg met the end in the middle of a message)
LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)

Fetch = Callable[[Connection, Sequence[K]], Awaitable[Sequence[V]]]


class BatchedReads(Generic[K, V]):
    """`get(key)` through `fetch(conn, keys)`, which answers one value per key, in order, on a
    connection of the reads' own. A batch whose connection was lost (PostgreSQL restarted, an
    administrator ended it) goes again, once, on a new one: a read changes nothing."""

    def __init__(self, dsn: str, fetch: Fetch[K, V]) -> None:
        self._dsn = dsn
        self._fetch = fetch
        self._conn: Connection | None = None
        self._closed = False
        self._waiting: list[tuple[K, asyncio.Future[V]]] = []
        self._sender: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, dsn: str, fetch: Fetch[K, V]) -> BatchedReads[K, V]:
        """Reads through `fetch`, their connection opened now: a database out of reach fails
        here, at start, rather than at the first read."""
        reads = cls(dsn, fetch)
        await reads._connection()
        return reads

    async def close(self) -> None:
        """Fails the reads still waiting (and any read after) and closes the connection."""
        self._closed = True
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        if self._conn is not None:
            self._conn.terminate()  # a read-only session, nothing to finish: no round trip

    async def get(self, key: K) -> V:
        if self._closed:
            raise ConnectionError("the batched reads are closed (the server is stopping)")
        answer: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, answer))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        return await answer

    async def _connection(self) -> Connection:
        if self._conn is None or self._conn.is_closed():  # not yet, or lost
            self._conn = await asyncio.wait_for(
                connect(self._dsn, generic_plans=True, command_timeout=COMMAND_TIMEOUT),
                CONNECTION_WAIT,
            )
        return self._conn

    async def _query(self, keys: list[K]) -> Sequence[V]:
        conn = await self._connection()
        try:
            return await self._fetch(conn, keys)
        except Exception as error:
            if not (conn.is_closed() or isinstance(error, LOST)):
                raise  # the query failed, not the connection
        conn.terminate()  # lost, or in a state it may not know yet
        self._conn = None
        return await self._fetch(await self._connection(), keys)  # once more, on a new one

    async def _send(self) -> None:
        batch: list[tuple[K, asyncio.Future[V]]] = []
        try:
            while self._waiting:
                batch = self._waiting[:MOST_PER_QUERY]
                del self._waiting[:MOST_PER_QUERY]
                try:
                    values = await self._query([key for key, _ in batch])
                    for (_, answer), value in zip(batch, values, strict=True):
                        if not answer.done():  # its request may have gone (cancelled)
                            answer.set_result(value)
                except Exception as error:  # the query failed: so does every read it carried
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(error)
        finally:  # ended (no more reads) or cancelled (closed): no read is left waiting
            for _, answer in batch + self._waiting:
                if not answer.done():
                    answer.set_exception(ConnectionError("the batched reads were closed"))
            self._waiting.clear()
            self._sender = None
