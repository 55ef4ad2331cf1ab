"""SQL for licences and their shipments. Members of the owning organisation and officers see a
licence; nobody else does."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from licenceflow.domain.access import Visibility
from licenceflow.domain.licences import (
    Kind,
    Licence,
    LicenceLine,
    Particulars,
    Shipment,
    ShippedLine,
    Status,
)
from licenceflow.store import events
from licenceflow.store.keyset import PageQuery, sorting
from licenceflow.store.pool import Connection

_COLUMNS = """id, number, application_id, org, kind, status, version, issued_at, valid_from,
    valid_until, lines, particulars"""
_lines = msgspec.json.Decoder(tuple[LicenceLine, ...])
_shipped = msgspec.json.Decoder(tuple[ShippedLine, ...])
_particulars = msgspec.json.Decoder(Particulars)


def _visible(org: str, officer: str) -> str:
    """Members see their organisation's licences, officers every one (placeholders as args)."""
    return f"(org = {org} OR {officer})"


def _from_row(row: asyncpg.Record) -> Licence:
    return Licence(
        id=row["id"],
        number=row["number"],
        application_id=row["application_id"],
        org=row["org"],
        kind=Kind(row["kind"]),
        status=Status(row["status"]),
        version=row["version"],
        issued_at=row["issued_at"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        lines=_lines.decode(row["lines"]),
        particulars=_particulars.decode(row["particulars"]) if row["particulars"] else None,
    )


def _values(licence: Licence) -> Sequence[Any]:
    return (
        licence.id,
        licence.number,
        licence.application_id,
        licence.org,
        licence.kind.value,
        licence.status.value,
        licence.version,
        licence.issued_at,
        licence.valid_from,
        licence.valid_until,
        licence.lines,
        licence.particulars,
    )


def _placeholders(count: int) -> str:
    return ", ".join(f"${i}" for i in range(1, count + 1))


_COLUMN_COUNT = len(_COLUMNS.split(","))
_INSERT = f"""WITH licence AS (
        INSERT INTO licences ({_COLUMNS}) VALUES ({_placeholders(_COLUMN_COUNT)})
    ), {events.appending(_COLUMN_COUNT + 1)}
    SELECT 1"""


async def insert(conn: Connection, licence: Licence, entries: Sequence[events.Entry]) -> None:
    """A new licence and the first entries of its timeline: one statement."""
    await conn.execute(_INSERT, *_values(licence), *events.arguments(entries))


_UPDATE = f"""WITH updated AS (
        UPDATE licences SET status = $3, version = $4, lines = $5
        WHERE id = $1 AND version = $2
        RETURNING 1
    ), {events.appending(6, only_if="updated")}
    SELECT count(*) FROM updated"""


async def update(
    conn: Connection, licence: Licence, entries: Sequence[events.Entry], *, expected_version: int
) -> bool:
    """Compare-and-set on `version` (after issue only the status and the lines change), and
    with it `entries` appended, only if it wrote. One statement."""
    written: int = await conn.fetchval(
        _UPDATE,
        licence.id,
        expected_version,
        licence.status.value,
        licence.version,
        licence.lines,
        *events.arguments(entries),
    )
    return written == 1


async def get(
    conn: Connection, id: UUID, who: Visibility, *, for_update: bool = False
) -> Licence | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM licences WHERE id = $1 AND {_visible('$2', '$3')}{lock}",
        id,
        who.org,
        who.officer,
    )
    return _from_row(row) if row else None


async def find_shipment(conn: Connection, licence_id: UUID, ref: str) -> Shipment | None:
    rows = await shipments(conn, [licence_id], ref=ref)
    found = rows.get(licence_id, [])
    return found[0] if found else None


async def record_shipment(conn: Connection, licence_id: UUID, shipment: Shipment) -> None:
    await conn.execute(
        """INSERT INTO shipments (licence_id, shipment_ref, shipped_on, lines, recorded_at,
                                  recorded_by)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        licence_id,
        shipment.shipment_ref,
        shipment.shipped_on,
        shipment.lines,
        shipment.recorded_at,
        shipment.recorded_by,
    )


async def shipments(
    conn: Connection, licence_ids: Sequence[UUID], *, ref: str | None = None
) -> dict[UUID, list[Shipment]]:
    rows = await conn.fetch(
        """SELECT licence_id, shipment_ref, shipped_on, lines, recorded_at, recorded_by
           FROM shipments WHERE licence_id = ANY($1::uuid[])
             AND ($2::text IS NULL OR shipment_ref = $2)
           ORDER BY recorded_at, shipment_ref""",
        list(licence_ids),
        ref,
    )
    found: dict[UUID, list[Shipment]] = defaultdict(list)
    for r in rows:
        found[r["licence_id"]].append(
            Shipment(
                shipment_ref=r["shipment_ref"],
                shipped_on=r["shipped_on"],
                lines=_shipped.decode(r["lines"]),
                recorded_at=r["recorded_at"],
                recorded_by=r["recorded_by"],
            )
        )
    return found


async def renewals(
    conn: Connection, licence_ids: Sequence[UUID], who: Visibility
) -> dict[UUID, list[UUID]]:
    """Applications, visible to `who`, that name each licence as the one they renew."""
    rows = await conn.fetch(
        """SELECT renews_licence_id, id FROM applications
           WHERE renews_licence_id = ANY($1::uuid[])
             AND (org = $2 OR ($3 AND submitted_at IS NOT NULL))
           ORDER BY created_at, id""",
        list(licence_ids),
        who.org,
        who.officer,
    )
    found: dict[UUID, list[UUID]] = defaultdict(list)
    for r in rows:
        found[r["renews_licence_id"]].append(r["id"])
    return found


class ListQuery(msgspec.Struct, frozen=True, kw_only=True):
    statuses: tuple[Status, ...] = ()
    kinds: tuple[Kind, ...] = ()
    expiring_within_days: int | None = None
    number: str | None = None
    element: str | None = None
    application_id: UUID | None = None
    sort: str = "-issued_at"
    limit: int = 50


SORTS = sorting({"issued_at": False, "valid_until": False})


async def page(
    conn: Connection,
    who: Visibility,
    query: ListQuery,
    *,
    today: date,
    after: tuple[Any, UUID] | None,
) -> list[Licence]:
    column, direction = SORTS[query.sort]
    q = PageQuery("licences", _COLUMNS)
    q.where(_visible(q.arg(who.org), q.arg(who.officer)))
    if query.statuses:
        q.where(f"status = ANY({q.arg([s.value for s in query.statuses])}::text[])")
    if query.kinds:
        q.where(f"kind = ANY({q.arg([k.value for k in query.kinds])}::text[])")
    if query.number is not None:
        q.where(f"number = {q.arg(query.number)}")
    if query.element is not None:  # a line of that element (the GIN index on lines serves it)
        line = f"jsonb_build_object('element', {q.arg(query.element)}::text)"
        q.where(f"lines @> jsonb_build_array({line})")
    if query.application_id is not None:
        q.where(f"application_id = {q.arg(query.application_id)}")
    if query.expiring_within_days is not None:
        today_arg = q.arg(today)
        q.where(
            f"status IN ('active', 'suspended') AND valid_until BETWEEN {today_arg}::date"
            f" AND {today_arg}::date + {q.arg(query.expiring_within_days)}::integer"
        )
    rows = await conn.fetch(q.sql(column, direction, after=after, limit=query.limit + 1), *q.args)
    return [_from_row(r) for r in rows]


async def lock_expired(conn: Connection, today: date, *, limit: int) -> list[Licence]:
    """Live licences whose last valid day is before `today`, locked; rows another sweep holds
    are skipped, so concurrent sweeps never expire the same licence twice."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM licences
            WHERE status IN ('active', 'suspended') AND valid_until < $1
            ORDER BY valid_until, id LIMIT $2 FOR UPDATE SKIP LOCKED""",
        today,
        limit,
    )
    return [_from_row(r) for r in rows]
