"""Statements that arrive together go to PostgreSQL together.

A read by id, or a new application's insert, costs a round trip and a statement, nearly all of
it per statement and not per row; an insert also costs a commit, which waits for its WAL flush.
Here a request joins the batch that has not been sent yet. A batcher has a few lanes (one for
reads, two for filings), each a connection with at most one batch in flight: a request goes
out at once on a lane with nothing in flight; while every lane is busy, the requests that
arrive wait, and the first lane back sends them all together. A request never joins a batch
already sent, so a read sees every commit that ended before it arrived: read-your-writes holds
as it did with a query per read.

The lanes' connections are the batcher's own (`Batched.open`), not the service's pool's:
- a lane has one batch out at a time, so one connection is all it ever uses (a pool's
  checkout and return would buy nothing);
- a handler may hold a connection of the service's pool while it waits on a batch: with the
  batches drawing on the same pool, handlers holding every connection would starve them;
- its session plans each statement once, generically. PostgreSQL plans a prepared statement
  anew at each execution for as long as a plan for the arguments given looks cheaper than a
  generic one. For a statement over `unnest($keys)` it always does when the batches are small
  (the generic plan guesses ten keys), which is when requests come one at a time: planning
  then cost more than the lookup itself (measured in tests/perf/README.md, "planning"). The
  generic plan is the same nested loop over the primary key for any number of keys.

Reads of an application by id, the path compliance teams poll, go this way
(`store.applications.reads`), and so do the filings of new applications without an
Idempotency-Key (`store.applications.filings`): a batch of them is one transaction, so one
commit and one turn of the year's reference counter for all of them (migration 0006). A
licence's read needs its shipments from the same connection, so it keeps a query of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg

from licenceflow.store.pool import COMMAND_TIMEOUT, Connection, connect

K = TypeVar("K")
V = TypeVar("V")

MOST_PER_BATCH = 500  # a batch beyond this waits for the next one: bounded statement size
CONNECTION_WAIT = 10.0  # seconds a batch waits for its connection to open (then: a 503)

# what a batch raises when its connection went away under it (the socket closed, PostgreSQL
# ended the session, or asyncpg met the end in the middle of a message)
LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)

# `send(conn, items)` answers each item, in order: its value, or the exception its request raises
Send = Callable[[Connection, Sequence[K]], Awaitable[Sequence[V | Exception]]]


def lost(conn: Connection, error: BaseException) -> bool:
    """Whether `error` means `conn` is gone (or in a state it may not know yet), rather than
    that the statement failed on it."""
    return conn.is_closed() or isinstance(error, LOST)


class Batched(Generic[K, V]):
    """`submit(item)` through `send(conn, items)`, on `lanes` connections of the batcher's own.

    A request goes out at once on a lane with nothing in flight; while every lane has a batch
    out, requests wait, and the first lane back takes them all as its next batch.

    `repeatable`: a batch whose connection was lost (PostgreSQL restarted, an administrator
    ended it) goes again, once, on a new one; right for reads, which change nothing. A batch
    that writes is not repeatable: its commit may have happened before the connection went, so
    its requests fail (a 503), as a lone statement's would."""

    def __init__(self, dsn: str, send: Send[K, V], *, repeatable: bool, lanes: int = 1) -> None:
        self._dsn = dsn
        self._send = send
        self._repeatable = repeatable
        self._conns: list[Connection | None] = [None] * lanes
        self._senders: list[asyncio.Task[None] | None] = [None] * lanes
        self._closed = False
        self._waiting: list[tuple[K, asyncio.Future[V]]] = []

    @classmethod
    async def open(
        cls, dsn: str, send: Send[K, V], *, repeatable: bool, lanes: int = 1
    ) -> Batched[K, V]:
        """A batcher through `send`, its connections opened now: a database out of reach (or out
        of connections) fails here, at start, rather than at the first busy moment."""
        batched = cls(dsn, send, repeatable=repeatable, lanes=lanes)
        try:
            for lane in range(lanes):
                await batched._connection(lane)
        except BaseException:
            await batched.close()
            raise
        return batched

    async def close(self) -> None:
        """Fails the requests still waiting (and any after) and closes the connections. A batch
        in flight is let finish, so that a write's requests hear how it ended."""
        self._closed = True
        for sender in self._senders:
            if sender is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
        for conn in self._conns:
            if conn is not None:
                conn.terminate()  # nothing is in flight on it: no round trip

    async def submit(self, item: K) -> V:
        if self._closed:
            raise ConnectionError("the batched statements are closed (the server is stopping)")
        answer: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        if None in self._senders:  # a lane with nothing in flight
            lane = self._senders.index(None)
            self._senders[lane] = asyncio.create_task(self._batches(lane))
        return await answer

    async def _connection(self, lane: int) -> Connection:
        conn = self._conns[lane]
        if conn is None or conn.is_closed():  # not yet, or lost
            conn = await asyncio.wait_for(
                connect(self._dsn, generic_plans=True, command_timeout=COMMAND_TIMEOUT),
                CONNECTION_WAIT,
            )
            self._conns[lane] = conn
        return conn

    async def _one_batch(self, lane: int, items: list[K]) -> Sequence[V | Exception]:
        conn = await self._connection(lane)
        try:
            return await self._send(conn, items)
        except Exception as error:
            if not lost(conn, error):
                raise  # the statement failed, not the connection
            conn.terminate()
            self._conns[lane] = None
            if not self._repeatable:
                raise
        return await self._send(await self._connection(lane), items)  # once more, on a new one

    async def _batches(self, lane: int) -> None:
        batch: list[tuple[K, asyncio.Future[V]]] = []
        try:
            while self._waiting and not self._closed:
                taken = self._waiting[:MOST_PER_BATCH]
                del self._waiting[:MOST_PER_BATCH]
                batch = [(item, future) for item, future in taken if not future.done()]
                if not batch:  # every request taken has gone (cancelled): nothing to send
                    continue
                try:
                    answers = await self._one_batch(lane, [item for item, _ in batch])
                    for (_, future), answer in zip(batch, answers, strict=True):
                        if future.done():  # its request has gone (cancelled)
                            continue
                        if isinstance(answer, Exception):
                            future.set_exception(answer)
                        else:
                            future.set_result(answer)
                except Exception as error:  # the batch failed: so does every request in it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                batch = []
        finally:  # no more requests, or closed: none is left waiting on this lane's account
            stranded = batch + (self._waiting if self._closed else [])
            for _, future in stranded:
                if not future.done():
                    future.set_exception(ConnectionError("the batched statements were closed"))
            if self._closed:
                self._waiting.clear()
            self._senders[lane] = None
