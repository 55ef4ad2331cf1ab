"""Idempotency-Key records: stored in the creating transaction, so a key and its application
commit or vanish together. A key belongs to one principal (org and sub) and lives 24 real hours,
on PostgreSQL's clock (never the business clock, which may run a thousand times faster). A
transaction-scoped advisory lock on the key tells a retry that the first request is still
running; the retention sweep purges expired records."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from licenceflow.store.pool import Connection

LIFETIME = timedelta(hours=24)


class Owner(msgspec.Struct, frozen=True):
    """Whose key it is: a principal, not a whole organisation."""

    org: str
    sub: str


class Record(msgspec.Struct, frozen=True, kw_only=True):
    request_hash: bytes
    application_id: UUID
    response: bytes
    expired: bool


async def try_claim(conn: Connection, owner: Owner, key: str) -> bool:
    """Whether this transaction now holds the key (False: another request is running with it)."""
    claimed: bool = await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtext($1 || chr(31) || $2), hashtext($3))",
        owner.org,
        owner.sub,
        key,
    )
    return claimed


async def find(conn: Connection, owner: Owner, key: str) -> Record | None:
    row = await conn.fetchrow(
        """SELECT request_hash, application_id, response, expires_at <= now() AS expired
           FROM idempotency_keys WHERE org = $1 AND sub = $2 AND key = $3""",
        owner.org,
        owner.sub,
        key,
    )
    return Record(**dict(row)) if row else None


async def forget(conn: Connection, owner: Owner, key: str) -> None:
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE org = $1 AND sub = $2 AND key = $3",
        owner.org,
        owner.sub,
        key,
    )


async def remember(
    conn: Connection,
    owner: Owner,
    key: str,
    *,
    request_hash: bytes,
    application_id: UUID,
    response: msgspec.Raw | bytes,
    created_at: datetime,
) -> None:
    """Keep the answer for `LIFETIME` from now (PostgreSQL's real time)."""
    await conn.execute(
        """INSERT INTO idempotency_keys (org, sub, key, request_hash, application_id, response,
                                         created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8::interval)""",
        owner.org,
        owner.sub,
        key,
        request_hash,
        application_id,
        msgspec.Raw(response) if isinstance(response, bytes) else response,
        created_at,
        LIFETIME,
    )


async def purge_expired(conn: Connection, *, limit: int) -> int:
    """Delete up to `limit` expired records; returns how many."""
    deleted: int = await conn.fetchval(
        """WITH gone AS (
             DELETE FROM idempotency_keys WHERE ctid IN (
               SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT $1)
             RETURNING 1)
           SELECT count(*) FROM gone""",
        limit,
    )
    return deleted
