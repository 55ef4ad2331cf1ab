"""A server that fails as it starts closes what it had opened: no connection is left behind."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from licenceflow.api.app import create_app
from licenceflow.config import Settings
from tests.polling import eventually


def as_role(url: str, role: str) -> str:
    """The same URL, logging in as `role` (no password: the test servers trust their clients)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rpartition('@')[2]}"))


async def test_a_server_refused_a_connection_at_start_leaves_none_open(database_url: str) -> None:
    """The role may hold two connections: the pool's first and the batched reads' one open, the
    batched filings' first is refused, and the start fails after two steps that opened some."""
    role = f"limited_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2")
        await admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        settings = Settings(
            database_url=as_role(database_url, role),
            redis_url=None,
            jwt_secret="test-secret-" + "x" * 32,
            clock_speed=0,
            db_pool_min=1,
            db_pool_max=1,
        )

        with pytest.RaisesGroup(asyncpg.TooManyConnectionsError):  # from the client's task group
            async with AsyncTestClient(create_app(settings)):
                pass

        async def none_left() -> bool:
            query = "SELECT count(*) FROM pg_stat_activity WHERE usename = $1"
            return bool(await admin.fetchval(query, role) == 0)

        await eventually(none_left, f"every connection of {role} closed", deadline=5)
    finally:
        await admin.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()
