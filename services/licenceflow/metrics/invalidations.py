"""Redis tells this process when keys it caches change (server-assisted client-side caching).

One connection of its own: `CLIENT TRACKING ON REDIRECT <itself> BCAST PREFIX …`, then
SUBSCRIBE to `__redis__:invalidate`. Redis then sends the name of every key under the prefixes
that any client writes (or `nil` for a flush), and this process counts them in `epoch`. A cache
keeps what it read at one epoch for as long as the epoch stays the same.

A lost message would leave a cache wrong, so the watch is `live` only while the connection
answers a PING every `heartbeat` seconds; a cache must not serve from memory while it is not.
On every (re)connection the epoch moves too: nothing read before it can be trusted."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

from licenceflow import background

log = logging.getLogger(__name__)

CHANNEL = "__redis__:invalidate"
CLIENT_NAME = "licenceflow-invalidations"
HEARTBEAT = 1.0  # seconds between PINGs; silent for three of them is dead


class Invalidations:
    def __init__(self, redis: Any, prefixes: Sequence[str], *, heartbeat: float = HEARTBEAT):
        self.epoch = 0
        self._pool = redis.connection_pool
        self._prefixes = prefixes
        self._heartbeat = heartbeat
        self._live_until = 0.0  # time.monotonic() until which the last PONG vouches
        self._task: asyncio.Task[None] | None = None

    def live(self) -> bool:
        return time.monotonic() < self._live_until

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis invalidations")

    async def stop(self) -> None:
        await background.stop(self._task)

    async def _run(self) -> None:
        while True:
            try:
                await self._watch()
            except Exception as error:  # any failure: not live, try again
                log.warning("Redis invalidations lost (%s); caches bypassed until back", error)
            finally:
                self._lost()
            await asyncio.sleep(self._heartbeat)

    def _lost(self) -> None:
        self._live_until = 0.0
        self.epoch += 1

    async def _watch(self) -> None:
        options = {  # RESP2: a SUBSCRIBE answers plain replies (redis-py's RESP3 wants hooks)
            **{k: v for k, v in self._pool.connection_kwargs.items() if "maint" not in k},
            "socket_timeout": None,
            "protocol": 2,
            "client_name": CLIENT_NAME,  # for CLIENT LIST
        }
        conn = self._pool.connection_class(**options)
        try:
            await conn.connect()
            wait = 3 * self._heartbeat
            await conn.send_command("CLIENT", "ID")
            me = await conn.read_response(timeout=wait)
            prefixes = [arg for prefix in self._prefixes for arg in ("PREFIX", prefix)]
            await conn.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", me, "BCAST", *prefixes)
            if (answer := await conn.read_response(timeout=wait)) not in (b"OK", "OK"):
                raise ConnectionError(f"CLIENT TRACKING answered {answer!r}")
            await conn.send_command("SUBSCRIBE", CHANNEL)
            subscribed = await conn.read_response(timeout=wait)  # None when it timed out
            if not (isinstance(subscribed, list) and subscribed[0] in (b"subscribe", "subscribe")):
                raise ConnectionError(f"SUBSCRIBE answered {subscribed!r}")
            self.epoch += 1  # whatever changed while no one watched
            self._live_until = time.monotonic() + wait
            async with asyncio.TaskGroup() as watching:
                watching.create_task(self._read(conn))
                watching.create_task(self._ping(conn))
        finally:
            await conn.disconnect(nowait=True)

    async def _read(self, conn: Any) -> None:
        while True:
            reply = await conn.read_response(timeout=math.inf)
            kind = reply[0] if isinstance(reply, list) and reply else None
            if kind in (b"pong", "pong"):
                self._live_until = time.monotonic() + 3 * self._heartbeat
            else:  # ["message", channel, [keys] or None]: something under the prefixes changed
                self.epoch += 1

    async def _ping(self, conn: Any) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            if not self.live():
                raise ConnectionError(f"no PONG for {3 * self._heartbeat} s")
            await conn.send_command("PING", check_health=False)  # no read but `_read`'s
