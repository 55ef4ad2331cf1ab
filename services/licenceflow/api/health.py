"""Liveness (no I/O) and readiness (PostgreSQL reachable and migrated; Redis reported only)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import asyncpg
import msgspec
from litestar import Response, get
from litestar.datastructures import State
from redis.exceptions import RedisError

from licenceflow.api.services import services
from licenceflow.store import migrations
from licenceflow.store.pool import Pool

READY_TIMEOUT = 2.0


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ready", "unavailable"]
    postgres: Literal["ok", "unreachable", "migrations pending"]
    redis: Literal["ok", "unreachable", "not configured"]


@get(
    "/health/live",
    tags=["health"],
    summary="The process is up",
    include_in_schema=True,
    description=("Answers while the process runs; no dependency is asked."),
)
async def live() -> dict[str, str]:
    return {"status": "live"}


@get(
    "/health/ready",
    tags=["health"],
    summary="PostgreSQL reachable and migrations current",
    description=("200 when PostgreSQL answers and every migration is applied; 503 otherwise."),
)
async def ready(state: State) -> Response[Readiness]:
    postgres = await _postgres(services(state).pool)
    redis = await _redis(services(state).redis)
    ok = postgres == "ok"
    return Response(
        Readiness(status="ready" if ok else "unavailable", postgres=postgres, redis=redis),
        status_code=200 if ok else 503,
        headers={} if ok else {"Retry-After": "5"},
    )


async def _postgres(pool: Pool) -> Literal["ok", "unreachable", "migrations pending"]:
    try:
        async with asyncio.timeout(READY_TIMEOUT), pool.acquire() as conn:
            current = await migrations.is_current(conn)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return "unreachable"  # a bug is not an outage: anything else is logged as one (500)
    return "ok" if current else "migrations pending"


async def _redis(client: Any) -> Literal["ok", "unreachable", "not configured"]:
    if client is None:
        return "not configured"
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await client.ping()
    except (OSError, TimeoutError, RedisError):
        return "unreachable"
    return "ok"
