"""The benchmark's open-loop client does not hide a stall: the requests due while the server is
stuck are timed from when they were due, not from when a connection let them go."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.perf import openloop

STALL = 0.3  # seconds the server sits on one request
RATE = 100.0  # requests per second


@pytest.fixture
async def stalling_server() -> AsyncIterator[int]:
    """HTTP/1.1 keep-alive, answering at once, except the 10th request: that one after STALL."""
    seen = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal seen
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                seen += 1
                if seen == 10:
                    await asyncio.sleep(STALL)  # the stall the client must not hide
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_requests_due_during_a_stall_count_their_wait(stalling_server: int) -> None:
    outcome = await openloop.run(
        "127.0.0.1",
        stalling_server,
        lambda _: b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
        rate=RATE,
        seconds=1.0,
        max_connections=1,  # every request after the stalled one queues behind it
    )

    assert outcome.statuses == {200: 100}
    assert outcome.errors == 0
    slow = [latency for latency in outcome.latencies if latency >= STALL / 3]
    # those due in the stall's first two thirds waited at least a third of it; a client timing
    # from its own send would show one slow request, the stalled one
    assert len(slow) >= int(RATE * STALL * 2 / 3) - 2, sorted(outcome.latencies)[-25:]
    assert max(outcome.latencies) >= STALL
    assert outcome.percentile(0.5) < STALL / 3  # the rest answered at once
