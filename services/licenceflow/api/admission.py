"""What a request must get past before the application spends anything on it: room in the
process (a cap on requests in flight: beyond it a fast 503), and its whole body, read within a
deadline (a slow client gets 408) and within the size limit (413). Only then do the handler's
dependencies run, so a connection from the pool is never held while a client dawdles: five
requests sending 5 of 100 promised bytes used to take every pooled connection, and every other
request waited for ever."""

from __future__ import annotations

import asyncio

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import (
    ASGIApp,
    HTTPRequestEvent,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from licenceflow.api.errors import send_problem

EXEMPT = ("/health/",)  # an orchestrator's probes are answered whatever the load


class Admission(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, *, max_in_flight: int, body_timeout: float, max_body_bytes: int) -> None:
        self.max_in_flight = max_in_flight
        self.body_timeout = body_timeout
        self.max_body_bytes = max_body_bytes
        self.in_flight = 0

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["path"].startswith(EXEMPT):
            await next_app(scope, receive, send)
            return
        body = await self._body(scope, receive, send)
        if body is None:
            return
        # counted once its body is in: a client dawdling over its body (bounded by the body
        # timeout) takes no room from those that are ready to be worked on
        if self.in_flight >= self.max_in_flight:
            await send_problem(
                send,
                503,
                "Service unavailable",
                "the server is at capacity; retry shortly",
                slug="overloaded",
                retry_after=1,
            )
            return
        self.in_flight += 1
        try:
            await next_app(scope, _replay(body, receive), send)
        finally:
            self.in_flight -= 1

    async def _body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None once the client was answered (or left)."""
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _too_large(send, self.max_body_bytes)
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        await _too_large(send, self.max_body_bytes)
                        return None
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            await send_problem(
                send,
                408,
                "Request timeout",
                f"the request body did not arrive within {self.body_timeout:g} s",
                slug="request-timeout",
                close=True,
            )
            return None


async def _too_large(send: Send, limit: int) -> None:
    await send_problem(
        send,
        413,
        "Request entity too large",
        f"the body is over {limit} bytes",
        slug="request-entity-too-large",
        close=True,
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the application the body already read, then waits on the
    client's own `receive` (for its disconnect)."""
    sent = False

    async def replayed() -> ReceiveMessage:
        nonlocal sent
        if not sent:
            sent = True
            request: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": False}
            return request
        return await receive()

    return replayed
