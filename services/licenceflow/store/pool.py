"""The asyncpg pool: JSON columns travel as msgspec-encoded bytes, opened once per process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import msgspec

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:  # asyncpg's classes are generic only to the type checker
    Connection = asyncpg.Connection
    Pool = asyncpg.Pool

_JSONB_VERSION = b"\x01"
COMMAND_TIMEOUT = 30  # seconds a service's statement may take before asyncpg cancels it


def _encode_jsonb(value: Any) -> bytes:
    return _JSONB_VERSION + msgspec.json.encode(value)


def _decode_jsonb(data: bytes) -> bytes:
    """Raw JSON bytes: each store module decodes them straight into the type it expects."""
    return data[1:]


async def _init_connection(conn: Connection) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_jsonb, decoder=_decode_jsonb, format="binary"
    )


def _session(*, generic_plans: bool = False) -> dict[str, str]:
    """A connection's session settings. `generic_plans`: each prepared statement is planned
    once, for any arguments (`plan_cache_mode`), where PostgreSQL would plan it anew at every
    execution for as long as a plan for the arguments given looks cheaper than one for any."""
    settings = {"application_name": "licenceflow", "timezone": "UTC"}
    if generic_plans:
        settings["plan_cache_mode"] = "force_generic_plan"
    return settings


async def connect(
    dsn: str, *, generic_plans: bool = False, command_timeout: float | None = None
) -> Connection:
    """One connection with the same codecs as the pool's: for one-off commands and tests (no
    statement timeout unless given), and the batched reads' and filings' own connections."""
    conn: Connection = await asyncpg.connect(
        dsn,
        command_timeout=command_timeout,
        server_settings=_session(generic_plans=generic_plans),
    )
    try:
        await _init_connection(conn)
    except BaseException:  # failed or given up (a timeout): not left open
        conn.terminate()
        raise
    return conn


async def _keep_session(conn: Connection) -> None:
    """What a connection needs before it goes back to the pool: nothing more than asyncpg's
    own step (it rolls back a transaction left open). asyncpg's default reset adds a round trip
    per release (`RESET ALL`, `UNLISTEN *`, `pg_advisory_unlock_all()`, ...) for session state
    this service never leaves on a pooled connection: every lock it takes is transaction-scoped,
    it sets nothing, and only the projector listens, on a connection of its own."""


async def open_pool(
    dsn: str, *, min_size: int, max_size: int, lock_timeout: float | None = None
) -> Pool:
    """`lock_timeout` (seconds): how long a statement waits for a row lock before PostgreSQL
    gives up (`LockNotAvailableError`); None: as long as the statement timeout allows."""
    session = _session()
    if lock_timeout is not None:
        session["lock_timeout"] = f"{round(lock_timeout * 1000)}ms"
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=COMMAND_TIMEOUT,
        server_settings=session,
    )
    assert pool is not None
    return pool
