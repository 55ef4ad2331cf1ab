"""The outbox relay's fast path inside an API process: woken after every committed write, it
publishes the new follow-up work off the request's path. The scheduler's relay sweep is the
safety net for anything this misses (the broker down, the process killed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from licenceflow import background
from licenceflow.outbox import relay
from licenceflow.store.pool import Pool
from licenceflow.workflow.context import Context

log = logging.getLogger(__name__)
MIN_BACKOFF, MAX_BACKOFF = 1.0, 30.0
# seconds a woken relay waits before its pass, so that the writes committing right behind the
# one that woke it share the pass: a pass is a transaction of four round trips and a commit
GATHER_SECONDS = 0.005


class RelayLoop:
    def __init__(
        self,
        pool: Pool,
        context: Callable[[], Context],
        publish: relay.Publish,
        *,
        simulated: bool,
        has_intake: bool,
    ) -> None:
        self._pool = pool
        self._context = context
        self._publish = publish
        self._simulated = simulated
        self._has_intake = has_intake
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def kick(self) -> None:
        """A write committed: publish its follow-up work soon (never blocks the request).
        Safe from any thread or event loop: the relay's own loop sets its wake-up."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        await background.stop(self._task)

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            if backoff:  # the broker failed: try again on our own, less and less often
                # asyncio.timeout rather than wait_for: on 3.11 wait_for can swallow the
                # cancellation `stop` sends if it lands as the wait ends
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await self._wake.wait()
            else:
                await self._wake.wait()
                await asyncio.sleep(GATHER_SECONDS)
            self._wake.clear()
            try:
                async with self._pool.acquire() as conn:
                    while (
                        await relay.relay_due(
                            conn,
                            self._context(),
                            self._publish,
                            simulated=self._simulated,
                            has_intake=self._has_intake,
                        )
                        == relay.BATCH
                    ):
                        pass
                backoff = 0.0
            except relay.BrokerUnavailable as error:
                backoff = min(MAX_BACKOFF, max(MIN_BACKOFF, backoff * 2))
                log.warning("outbox relay: %s; retrying in %.0f s", error, backoff)
            except Exception:
                backoff = min(MAX_BACKOFF, max(MIN_BACKOFF, backoff * 2))
                log.exception("outbox relay fast path failed; retrying in %.0f s", backoff)
