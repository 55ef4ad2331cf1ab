"""The load run's servers: the PostgreSQL server the integration tests found (the same fixture,
so the same order: environment, testcontainers, embedded), with a database of the run's own, and
a private Redis for the broker and the read model, so the queues and the backlog are the run's.

Nothing here touches the integration tests' database or Redis: the run's rows, its business
clock and its projector position stay out of their way, and no truncation is needed."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import pytest

from tests import harness
from tests.integration.conftest import private_redis, servers

__all__ = ["private_redis", "servers"]


@pytest.fixture
async def database_url(servers: harness.Servers) -> AsyncIterator[str]:
    """A database of the load run's own, prepared as a deployment does (`licenceflow migrate`:
    the schema and the business clock), dropped after it."""
    name, url = await harness.create_database(servers.postgres_url)
    migrate = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "licenceflow",
        "migrate",
        env={**os.environ, "LICENCEFLOW_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await migrate.communicate()
    assert migrate.returncode == 0, out.decode()
    yield url
    await harness.drop_database(servers.postgres_url, name)
