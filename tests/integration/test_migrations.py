"""`licenceflow migrate` is idempotent, safe when two run at once, and starts the business
clock."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from licenceflow.store import migrations
from tests import harness


async def test_two_migrators_at_once_apply_everything_once(servers: harness.Servers) -> None:
    name, url = await harness.create_database(servers.postgres_url)
    try:
        env = {**os.environ, "LICENCEFLOW_DATABASE_URL": url, "LICENCEFLOW_CLOCK_SPEED": "1440"}
        runs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "licenceflow",
                "migrate",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outputs = await asyncio.gather(*(run.communicate() for run in runs))
        assert [run.returncode for run in runs] == [0, 0], outputs
        said = sorted(out.decode() for out, _ in outputs)
        assert said[0].startswith("applied: 0001_core.sql")
        assert said[1].strip() == "schema is current"
        conn = await asyncpg.connect(url)
        try:
            assert await migrations.is_current(conn)
            versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
            assert [r["version"] for r in versions] == [m.version for m in migrations.available()]
            assert await migrations.migrate(conn) == []
            # the business clock is stored too: workers started before any API can act
            assert await conn.fetchval("SELECT speed FROM business_clock") == 1440
        finally:
            await conn.close()
    finally:
        await harness.drop_database(servers.postgres_url, name)


async def test_ready_reports_pending_migrations(servers: harness.Servers) -> None:
    from litestar.testing import AsyncTestClient

    from licenceflow.api.app import create_app
    from licenceflow.config import Settings

    name, url = await harness.create_database(servers.postgres_url)
    try:
        conn = await asyncpg.connect(url)
        await conn.execute(
            """CREATE TABLE business_clock (singleton boolean PRIMARY KEY DEFAULT true,
               real_anchor timestamptz NOT NULL, business_anchor timestamptz NOT NULL,
               speed double precision NOT NULL)"""
        )
        await conn.close()
        app = create_app(Settings(database_url=url, dev_mode=True, redis_url=None))
        async with AsyncTestClient(app) as client:
            response = await client.get("/health/ready")
            assert response.status_code == 503
            assert response.json()["postgres"] == "migrations pending"
            assert response.json()["redis"] == "not configured"
            assert (await client.get("/health/live")).status_code == 200
    finally:
        await harness.drop_database(servers.postgres_url, name)
