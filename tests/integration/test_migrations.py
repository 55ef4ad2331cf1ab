"""`licenceflow migrate` is idempotent, safe when two run at once, and starts the business
clock."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from uuid import uuid4

import asyncpg
import msgspec

from licenceflow.domain.access import Visibility
from licenceflow.store import applications as store
from licenceflow.store import licences as licence_store
from licenceflow.store import migrations
from tests import harness
from tests.examples import line, new_application


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


async def test_an_upgrade_fills_the_new_columns_from_what_is_stored(
    servers: harness.Servers,
) -> None:
    """Migrations 0009 and 0010 on a database written before them: the references a file is
    found by come from its filing, and a file waiting on its exporter gets the question and the
    answer's due date from the request's event."""
    name, url = await harness.create_database(servers.postgres_url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
        for migration in migrations.available():
            if migration.version <= 8:
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
        magnets = line(element="Nd", form="magnet", contains=["Dy", "Fe"])
        filing = msgspec.json.encode(new_application(lines=[line(), magnets]).filing()).decode()
        waiting, granted = uuid4(), uuid4()
        for id, status, reference in (
            (waiting, "info_requested", "EL-2025-000001"),
            (granted, "approved", "EL-2025-000002"),
        ):
            await conn.execute(
                """INSERT INTO applications (id, org, reference, status, version, filing, elements,
                       destination_country, created_by, created_at, resume_status)
                   VALUES ($1, 'acme', $2, $3, 3, $4::jsonb, ARRAY['Dy'], 'US', 'alice',
                       '2025-06-02T01:00:00Z', 'under_review')""",
                id,
                reference,
                status,
                filing,
            )
        for action, reason, respond_by in (
            ("request_info", "Which magnets?", "2025-06-30T23:59:59+08:00"),
            ("respond", None, None),
            ("request_info", "And their grade?", "2025-07-30T23:59:59+08:00"),
        ):
            await conn.execute(
                """INSERT INTO events (stream, stream_id, org, at, action, from_status, to_status,
                       actor_sub, actor_role, reason, details)
                   VALUES ('application', $1, 'acme', '2025-06-03T01:00:00Z', $2, 'under_review',
                       'info_requested', 'olga', 'officer', $3, $4::jsonb)""",
                waiting,
                action,
                reason,
                msgspec.json.encode({"respond_by": respond_by} if respond_by else {}).decode(),
            )
        licence_lines = [
            {
                "line": n,
                "element": e,
                "form": f,
                "hs_code": "2846.90",
                "quantity_kg": "1.000",
                "used_kg": "0.000",
            }
            for n, e, f in ((1, "Dy", "oxide"), (2, "Nd", "magnet"))
        ]
        licence_id = uuid4()
        await conn.execute(
            """INSERT INTO licences (id, number, application_id, org, kind, status, version,
                   issued_at, valid_from, valid_until, lines)
               VALUES ($1, 'LS-2025-000002', $2, 'acme', 'standard', 'active', 1,
                   '2025-06-03T01:00:00Z', '2025-06-03', '2026-06-03', $3::jsonb)""",
            licence_id,
            granted,
            msgspec.json.encode(licence_lines).decode(),
        )
        applied = await migrations.migrate(conn)
        assert applied == [m.name for m in migrations.available() if m.version > 8]
        found = await store.get(conn, waiting, Visibility(org="acme", officer=False))
        assert found is not None
        assert found.info_request is not None
        assert found.info_request.question == "And their grade?"  # the latest request
        assert found.info_request.respond_by == datetime.fromisoformat("2025-07-30T23:59:59+08:00")
        rows = await conn.fetch(
            "SELECT id, contract_ref, exporter_key, respond_by FROM applications ORDER BY reference"
        )
        assert [(r["contract_ref"], r["exporter_key"]) for r in rows] == [
            ("PO-88123", "baotou magnet works")
        ] * 2
        assert rows[1]["respond_by"] is None  # a file not waiting owes nothing
        licence = await licence_store.get(conn, licence_id, Visibility(org="acme", officer=False))
        assert licence is not None
        assert licence.particulars is not None
        assert licence.particulars.application_reference == "EL-2025-000002"
        assert (licence.particulars.contract_ref, licence.particulars.customs_port) == (
            "PO-88123",
            "Tianjin",
        )
        assert [ln.contains for ln in licence.lines] == [(), ("Dy", "Fe")]
    finally:
        await conn.close()
        await harness.drop_database(servers.postgres_url, name)
