"""The business clock's anchor: one row that every process reads, so all agree on "now"."""

from __future__ import annotations

from licenceflow.clock import ClockAnchor
from licenceflow.store.pool import Connection


async def load_anchor(conn: Connection, proposed: ClockAnchor) -> ClockAnchor:
    """The stored anchor; the first process to ask stores `proposed`.

    A process configured with another speed re-anchors at the current business time, so the
    clock changes pace without jumping backwards."""
    row = await conn.fetchrow(
        """INSERT INTO business_clock (real_anchor, business_anchor, speed) VALUES ($1, $2, $3)
           ON CONFLICT (singleton) DO UPDATE SET singleton = true
           RETURNING real_anchor, business_anchor, speed""",
        proposed.real,
        proposed.business,
        proposed.speed,
    )
    assert row is not None
    stored = ClockAnchor(real=row[0], business=row[1], speed=row[2])
    if stored.speed == proposed.speed:
        return stored
    return await save_anchor(
        conn,
        ClockAnchor(
            real=proposed.real, business=stored.business_time(proposed.real), speed=proposed.speed
        ),
    )


async def save_anchor(conn: Connection, anchor: ClockAnchor) -> ClockAnchor:
    await conn.execute(
        "UPDATE business_clock SET real_anchor = $1, business_anchor = $2, speed = $3",
        anchor.real,
        anchor.business,
        anchor.speed,
    )
    return anchor


async def current(conn: Connection) -> ClockAnchor | None:
    """The stored anchor, as every process should read it before acting on business time."""
    row = await conn.fetchrow("SELECT real_anchor, business_anchor, speed FROM business_clock")
    return ClockAnchor(real=row[0], business=row[1], speed=row[2]) if row else None
