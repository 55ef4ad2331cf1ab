"""What the sweeps keep in PostgreSQL besides the workflow's rows: which sweep runs now (one
at a time across every worker), and the reconciler's mark of the broker it last saw."""

from __future__ import annotations

from licenceflow.store.pool import Connection


async def claim(conn: Connection, sweep: str) -> bool:
    """The sweep's lock for the transaction, if no other worker holds it."""
    claimed: bool = await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtext('licenceflow.sweep'), hashtext($1))", sweep
    )
    return claimed


async def broker_epoch(conn: Connection) -> str | None:
    """The reconciler's last mark, locked until the transaction ends."""
    epoch: str | None = await conn.fetchval("SELECT epoch FROM broker_epoch FOR UPDATE")
    return epoch


async def mark_broker(conn: Connection, epoch: str) -> None:
    await conn.execute(
        """INSERT INTO broker_epoch (epoch) VALUES ($1)
           ON CONFLICT (singleton) DO UPDATE SET epoch = excluded.epoch""",
        epoch,
    )
