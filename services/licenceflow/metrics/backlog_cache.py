"""The backlog, rendered, held in memory until Redis says it changed.

Every dashboard polls the same few bodies, and each poll used to cost a Redis round trip of
17 commands. Here a rendered body (JSON and its ETag) is kept per scope and served until one of:
- a write under the read model's keys or to a queue it counts (`Invalidations.epoch` moves);
- business time reaches the moment its figures change by themselves (`Reading.holds_until`: an
  application falling overdue, the next day);
- the invalidation watch is not live (then every request reads Redis, as if uncached).

A request joins a read already on its way only if no invalidation came since that read began.
A body can outlive a write only by the invalidation's delivery: Redis sends it as it answers
the writer, and this process handles it at its next turn of the event loop (up to three
heartbeats if the connection stalls without closing, after which nothing is served from
memory). The projector writes asynchronously anyway: a dashboard never had a tighter bound."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from licenceflow.clock import WorkingCalendar
from licenceflow.metrics import backlog
from licenceflow.metrics.invalidations import Invalidations

SCOPES = 1024  # rendered bodies kept (the global one and per-org ones), least recently used out


class Rendered(NamedTuple):
    body: bytes
    etag: str


class _Entry(NamedTuple):
    rendered: Rendered
    epoch: int  # the invalidation epoch when its read began
    read_at: float  # the business time (POSIX) it was read for
    holds_until: float  # see `backlog.Reading`

    def covers(self, now: datetime) -> bool:
        """Its figures are the ones for `now`, short of a write."""
        return self.read_at <= now.timestamp() < self.holds_until


def render(reading: backlog.Reading) -> Rendered:
    body = msgspec.json.encode(reading.figures)
    return Rendered(body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"')


class BacklogCache:
    def __init__(self, redis: Any, invalidations: Invalidations, *, scopes: int = SCOPES):
        self._redis = redis
        self._invalidations = invalidations
        self._scopes = scopes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._reading: dict[str, tuple[int, asyncio.Task[_Entry]]] = {}  # scope → epoch, read

    async def get(self, scope: str, now: datetime, calendar: WorkingCalendar) -> Rendered:
        if not self._invalidations.live():
            return (await self._read(scope, now, calendar, epoch=-1)).rendered
        epoch = self._invalidations.epoch
        entry = self._entries.get(scope)
        if entry is not None and entry.epoch == epoch and entry.covers(now):
            self._entries.move_to_end(scope)
            return entry.rendered
        began, reading = self._reading.get(scope) or (None, None)
        if reading is None or began != epoch:
            reading = self._read_and_keep(scope, now, calendar, epoch)
        entry = await asyncio.shield(reading)  # a client leaving does not cancel the others' read
        if entry.covers(now):
            return entry.rendered
        return (await self._read(scope, now, calendar, epoch=-1)).rendered  # read for another time

    def _read_and_keep(
        self, scope: str, now: datetime, calendar: WorkingCalendar, epoch: int
    ) -> asyncio.Task[_Entry]:
        async def read_and_keep() -> _Entry:
            entry = await self._read(scope, now, calendar, epoch=epoch)
            if self._invalidations.live() and self._invalidations.epoch == epoch:
                self._entries[scope] = entry
                self._entries.move_to_end(scope)
                while len(self._entries) > self._scopes:
                    self._entries.popitem(last=False)
            return entry

        def done(task: asyncio.Task[_Entry]) -> None:  # also when cancelled before it ran
            if self._reading.get(scope, (None, None))[1] is task:
                del self._reading[scope]
            if not task.cancelled():
                task.exception()  # retrieved: each waiter has its own copy

        task = asyncio.create_task(read_and_keep())
        task.add_done_callback(done)
        self._reading[scope] = (epoch, task)
        return task

    async def _read(
        self, scope: str, now: datetime, calendar: WorkingCalendar, *, epoch: int
    ) -> _Entry:
        reading = await backlog.read(self._redis, scope, now, calendar)
        return _Entry(render(reading), epoch, now.timestamp(), reading.holds_until)
