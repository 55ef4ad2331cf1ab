"""Idempotency-Key records: stored in the creating transaction, so a key and its application
commit or vanish together. A transaction-scoped advisory lock on the key tells a retry that
the first request is still running."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from licenceflow.store.pool import Connection


class Record(msgspec.Struct, frozen=True, kw_only=True):
    request_hash: bytes
    application_id: UUID
    response: bytes
    created_at: datetime


async def try_claim(conn: Connection, org: str, key: str) -> bool:
    """Whether this transaction now holds the key (False: another request is running with it)."""
    claimed: bool = await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtext($1), hashtext($2))", org, key
    )
    return claimed


async def find(conn: Connection, org: str, key: str) -> Record | None:
    row = await conn.fetchrow(
        """SELECT request_hash, application_id, response, created_at
           FROM idempotency_keys WHERE org = $1 AND key = $2""",
        org,
        key,
    )
    return Record(**dict(row)) if row else None


async def forget(conn: Connection, org: str, key: str) -> None:
    await conn.execute("DELETE FROM idempotency_keys WHERE org = $1 AND key = $2", org, key)


async def remember(
    conn: Connection,
    org: str,
    key: str,
    *,
    request_hash: bytes,
    application_id: UUID,
    response: msgspec.Raw | bytes,
    created_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO idempotency_keys (org, key, request_hash, application_id, response,
                                         created_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        org,
        key,
        request_hash,
        application_id,
        msgspec.Raw(response) if isinstance(response, bytes) else response,
        created_at,
    )
