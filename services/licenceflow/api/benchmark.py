"""`GET /benchmark/static?size=N`: the benchmark's reference for a path that does no I/O.

A JSON document of (about) N bytes, built once per size and served as is: what the server, the
framework and the middleware cost on their own, to compare the backlog endpoint (a body of the
same size, from Redis) against. Mounted only with `LICENCEFLOW_BENCHMARK_ENDPOINT=true`."""

from __future__ import annotations

from functools import cache
from typing import Annotated

import msgspec
from litestar import Response, get
from litestar.params import QueryParameter

MAX_BYTES = 1 << 20


@cache
def document(size: int) -> bytes:
    padding = max(0, size - len(msgspec.json.encode({"padding": ""})))
    return msgspec.json.encode({"padding": "x" * padding})


@get("/benchmark/static", include_in_schema=False, sync_to_thread=False)
def static(
    size: Annotated[int, QueryParameter(ge=2, le=MAX_BYTES, description="body bytes")] = 1024,
) -> Response[bytes]:
    return Response(document(size), media_type="application/json")
