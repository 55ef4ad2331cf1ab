"""Versioned SQL migrations (`migrations/NNNN_name.sql`), applied in order, each in its own
transaction, under an advisory lock so that two `licenceflow migrate` at once are safe."""

from __future__ import annotations

import re
from importlib import resources

import msgspec

from licenceflow.store.pool import Connection

_LOCK_KEY = 0x11CE_F10E  # any constant: the advisory lock that serialises migrators
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    folder = resources.files(__package__).joinpath("migrations")
    found = [
        Migration(int(m[1]), entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if (m := _NAME.match(entry.name))
    ]
    return sorted(found, key=lambda m: m.version)


async def applied_versions(conn: Connection) -> set[int]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return set()
    return {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}


async def is_current(conn: Connection) -> bool:
    return {m.version for m in available()} <= await applied_versions(conn)


async def migrate(conn: Connection) -> list[str]:
    """Apply what is missing; returns the names applied (empty when already current)."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"""
        )
        done = await applied_versions(conn)
        applied = []
        for migration in available():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied.append(migration.name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
