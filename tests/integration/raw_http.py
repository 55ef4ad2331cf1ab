"""HTTP/1.1 written byte for byte to a served process: for what a client library would refuse
or correct (a Latin-1 byte in a header) and for clients that send slowly or stop mid-body."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx


def head(method: str, path: str, headers: dict[str, bytes], *, length: int | None = None) -> bytes:
    """A request's head; `length` (the body's declared size) adds Content-Length."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: licenceflow", b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    if length is not None:
        lines.append(b"Content-Length: " + str(length).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


@contextlib.asynccontextmanager
async def connected(
    base: httpx.URL,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(base.host, base.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def status_of(reader: asyncio.StreamReader) -> int:
    """The status of the response the server writes (reading it to its end)."""
    response = await reader.read()
    return int(response.split(b" ", 2)[1])


async def exchange(base: httpx.URL, request: bytes) -> int:
    """Send `request` as it is; the response's status."""
    async with connected(base) as (reader, writer):
        writer.write(request)
        await writer.drain()
        return await status_of(reader)
