"""An open-loop HTTP load: requests sent on a fixed schedule, each timed from its scheduled send.

A closed-loop client (wrk) waits for an answer before it sends again, so a stall of the server
also stalls the client, and the requests that should have been sent meanwhile are never timed:
the stall disappears from the percentiles. Here request i is due at start + i / rate whatever
happened before; its latency runs from that moment to the last byte of its answer, waiting for
a free connection included. Raw HTTP/1.1 on keep-alive connections keeps the client cheap."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Outcome:
    rate: float  # requests per second asked for
    sent: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, from the scheduled send
    statuses: dict[int, int] = field(default_factory=dict)
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


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def run(
    host: str,
    port: int,
    request: Callable[[int], bytes],
    *,
    rate: float,
    seconds: float,
    max_connections: int = 256,
) -> Outcome:
    """Send `request(i)` (raw HTTP/1.1 bytes, keep-alive) at `rate` per second for `seconds`."""
    outcome = Outcome(rate=rate)
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    opened = 0
    loop = asyncio.get_running_loop()

    async def connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        nonlocal opened
        if idle.empty() and opened < max_connections:
            opened += 1
            return await asyncio.open_connection(host, port)
        return await idle.get()

    async def one(i: int, due: float) -> None:
        try:
            reader, writer = await connection()
            writer.write(request(i))
            status = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            outcome.errors += 1
            return
        outcome.latencies.append(loop.time() - due)
        outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
        idle.put_nowait((reader, writer))

    start = loop.time() + 0.05
    total = int(rate * seconds)
    tasks: list[asyncio.Task[None]] = []
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    began = time.monotonic()
    await asyncio.gather(*tasks)
    outcome.sent = total
    outcome.elapsed = seconds + (time.monotonic() - began)
    while not idle.empty():
        _, writer = idle.get_nowait()
        writer.close()
    return outcome
