"""An open-loop HTTP load: requests sent on a fixed schedule, each timed from its scheduled send.

A closed-loop client (wrk) waits for an answer before it sends again, so a stall of the server
also stalls the client, and the requests that should have been sent meanwhile are never timed:
the stall disappears from the percentiles. Here request i is due at start + i / rate whatever
happened before; its latency runs from that moment to the last byte of its answer, waiting for
a free connection included. Raw HTTP/1.1 on keep-alive connections keeps the client cheap."""

from __future__ import annotations

import asyncio
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

STALE = 2.0  # seconds idle after which a connection is closed, not used: servers close keep-alive
# connections idle for a few seconds (uvicorn: 5), and a request sent as one closes is lost
WAKE = 0.001  # seconds a sleep may overrun
DRAIN = 60.0  # seconds the last answers may take once every request is due


@dataclass
class Outcome:
    rate: float  # requests per second asked for
    sent: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, from the scheduled send
    statuses: dict[int, int] = field(default_factory=dict)
    by_status: dict[int, list[float]] = field(default_factory=dict)  # the latencies, per status
    errors: int = 0
    elapsed: float = 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    @property
    def achieved(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def summary(self) -> dict[str, float]:
        return {
            "rate": self.rate,
            "achieved_rps": round(self.achieved, 1),
            "p50_ms": round(self.percentile(0.50) * 1000, 2),
            "p99_ms": round(self.percentile(0.99) * 1000, 2),
            "max_ms": round(max(self.latencies, default=float("nan")) * 1000, 2),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2) if self.latencies else 0,
            "errors": self.errors,
        }


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request at a time, its answer parsed by Content-Length."""

    def __init__(self, answered: Callable[[_Connection, int | None], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.due = 0.0  # when the request it is carrying was due (the event loop's clock)
        self.freed = 0.0  # when it last went idle
        self._answered = answered
        self._now = asyncio.get_running_loop().time
        self._buffer = bytearray()
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def send(self, payload: bytes, due: float) -> bool:
        """False when the connection has closed meanwhile (idle, the server may close it)."""
        if self.transport is None:
            return False
        # from its scheduled send, or from the send itself when that was early
        self.due, self._busy = min(due, self._now()), True
        self.transport.write(payload)
        return True

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[: end + 4 + length]
        self._busy = False
        self._answered(self, int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._busy:
            self._busy = False
            self._answered(self, None)


async def run(
    host: str,
    port: int,
    request: Callable[[int], bytes],
    *,
    rate: float,
    seconds: float,
    max_connections: int = 256,
) -> Outcome:
    """Send `request(i)` (raw HTTP/1.1 bytes, keep-alive) at `rate` per second for `seconds`.

    Requests due while every connection is busy wait in order for the first to come free (a
    new one is opened while there are fewer than `max_connections`); their wait counts in
    their latency. The client does no more per request than a write and a parse: it shares
    the machine with the server it measures."""
    loop = asyncio.get_running_loop()
    outcome = Outcome(rate=rate)
    total = int(rate * seconds)
    idle: deque[_Connection] = deque()  # the most recently freed on the right
    waiting: deque[tuple[int, float]] = deque()
    connections: list[_Connection] = []
    opening = 0
    finished = loop.create_future()

    def answered(conn: _Connection, status: int | None) -> None:
        if status is None:
            outcome.errors += 1
        else:
            latency = loop.time() - conn.due
            outcome.latencies.append(latency)
            outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
            outcome.by_status.setdefault(status, []).append(latency)
        settle()
        if conn.transport is not None:
            free(conn)

    def settle() -> None:
        if len(outcome.latencies) + outcome.errors == total and not finished.done():
            finished.set_result(None)

    def free(conn: _Connection) -> None:
        """A connection ready for a request: the oldest waiting one, or it waits idle."""
        if waiting:
            i, due = waiting.popleft()
            conn.send(request(i), due)
        else:
            conn.freed = loop.time()
            idle.append(conn)

    def dispatch(i: int, due: float) -> bool:
        while idle and loop.time() - idle[0].freed > STALE:  # the server may be closing it
            stale = idle.popleft()
            if stale.transport is not None:
                stale.transport.close()
        while idle:
            if idle.pop().send(request(i), due):
                return True
        waiting.append((i, due))
        return False

    async def open_one() -> None:
        nonlocal opening
        try:
            _, conn = await loop.create_connection(lambda: _Connection(answered), host, port)
        except OSError:
            if waiting:  # the request it was opened for fails
                waiting.popleft()
                outcome.errors += 1
                settle()
            return
        finally:
            opening -= 1
        connections.append(conn)
        free(conn)

    opens: set[asyncio.Task[None]] = set()
    start = loop.time() + 0.05
    began = loop.time()
    for i in range(total):
        due = start + i / rate
        if due - loop.time() > WAKE:
            # epoll's timeout is in whole milliseconds, so a sleep ends up to one late: sleep
            # one less, and the request goes out at about its time (timed from the send if early)
            await asyncio.sleep(due - loop.time() - WAKE)
        if dispatch(i, due):
            continue
        alive = sum(c.transport is not None for c in connections)
        if alive + opening < max_connections:
            opening += 1
            task = asyncio.create_task(open_one())
            opens.add(task)
            task.add_done_callback(opens.discard)
    if total:
        try:
            await asyncio.wait_for(finished, DRAIN)
        except TimeoutError:  # answers that never came (connections lost, requests waiting)
            outcome.errors = total - len(outcome.latencies)
    outcome.sent = total
    outcome.elapsed = loop.time() - began
    for conn in connections:
        if conn.transport is not None:
            conn.transport.close()
    return outcome
