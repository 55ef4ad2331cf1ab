"""Use-cases for licences: issue on approval, lifecycle actions, shipments, expiry.

Like applications: load under a row lock → domain → persist (state + event + outbox), in the
caller's transaction, with checks in the contract's order (404 → 403 → 422 → 409/412)."""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID, uuid4

from licenceflow.domain import licences as domain
from licenceflow.domain.access import Principal, Visibility
from licenceflow.domain.applications import Application, Status
from licenceflow.domain.audit import SYSTEM_ACTOR, Actor
from licenceflow.domain.errors import (
    FieldProblem,
    InvalidFiling,
    NotFound,
    ShipmentRefConflict,
    StaleVersion,
)
from licenceflow.domain.licences import Licence, LicenceCommand, Shipment, ShipmentRequest
from licenceflow.store import events
from licenceflow.store import licences as store
from licenceflow.store.pool import Connection
from licenceflow.workflow.commands import CommandOrJson, action_of, content
from licenceflow.workflow.context import Context
from licenceflow.workflow.preconditions import require_version

STREAM = "licence"
EXPIRY_BATCH = 200


class LicenceView(NamedTuple):
    licence: Licence
    shipments: list[Shipment]
    renewals: list[UUID]


class Shipped(NamedTuple):
    view: LicenceView
    replayed: bool


async def issue_for(
    conn: Connection, ctx: Context, app: Application, actor: Actor, *, valid_months: int | None
) -> UUID:
    """Issue the licence an approval grants (same transaction); returns its id. A standard
    licence is valid for `valid_months` (None: 12), a temporary one for six."""
    kind = (
        domain.Kind.TEMPORARY if app.status is Status.TEMPORARILY_APPROVED else domain.Kind.STANDARD
    )
    now = ctx.clock.now()
    transition = domain.issue(
        id=uuid4(),
        application_id=app.id,
        application_reference=app.reference,
        org=app.org,
        filing=app.filing,
        kind=kind,
        valid_months=12 if valid_months is None else valid_months,
        actor=actor,
        now=now,
        today=ctx.calendar.date_of(now),
    )
    await store.insert(conn, transition.licence, [_entry(transition)])
    return transition.licence.id


async def check_renewable(conn: Connection, principal: Principal, licence_id: UUID) -> None:
    """A new application may renew only a licence of the exporter's own organisation."""
    own = Visibility(org=principal.org, officer=False)
    if await store.get(conn, licence_id, own) is None:
        raise InvalidFiling(
            [FieldProblem(field="renews_licence_id", message="no licence of yours has this id")]
        )


async def get(conn: Connection, principal: Principal, id: UUID) -> LicenceView:
    licence = await store.get(conn, id, principal.visibility)
    if licence is None:
        raise NotFound(f"no licence {id}")
    return (await _views(conn, principal, [licence]))[0]


async def page(
    conn: Connection,
    ctx: Context,
    principal: Principal,
    query: store.ListQuery,
    after: tuple[Any, UUID] | None,
) -> list[LicenceView]:
    today = ctx.calendar.date_of(ctx.clock.now())
    found = await store.page(conn, principal.visibility, query, today=today, after=after)
    return await _views(conn, principal, found)


async def act(
    conn: Connection,
    ctx: Context,
    principal: Principal,
    id: UUID,
    command: CommandOrJson[LicenceCommand],
    *,
    if_match: frozenset[int] | None = None,
) -> LicenceView:
    licence = await _locked(conn, principal, id)
    principal.require_writer()
    action = action_of(command, domain.Action)
    actor = principal.acting_as(domain.ACTION_ROLES.get(action, frozenset()), f"{action} a licence")
    principal.reach(actor, licence.org, f"licence {id}")
    taken = content(command)
    require_version(licence.version, if_match)
    now = ctx.clock.now()
    transition = domain.apply(licence, taken, actor, now, ctx.calendar.date_of(now))
    await _save(conn, licence, transition)
    return await get(conn, principal, id)


async def ship(
    conn: Connection,
    ctx: Context,
    principal: Principal,
    id: UUID,
    command: CommandOrJson[ShipmentRequest],
    *,
    if_match: frozenset[int] | None = None,
    dry_run: bool = False,
) -> Shipped:
    """Record a shipment; the same reference with the same lines is a replay, not a second draw.
    A `dry_run` checks it the same way and answers with the licence as it would be after it,
    recording nothing."""
    licence = await _locked(conn, principal, id)
    actor = principal.acting_as(domain.ACTION_ROLES[domain.Action.SHIP], "ship")
    principal.reach(actor, licence.org, f"licence {id}")
    request = content(command)
    now = ctx.clock.now()
    today = ctx.calendar.date_of(now)
    drawn = domain.drawn_lines(licence, request, today)
    earlier = await store.find_shipment(conn, licence.id, request.shipment_ref)
    if earlier is not None:
        if (earlier.shipped_on, earlier.lines) != (request.shipped_on, drawn):
            raise ShipmentRefConflict(
                f"shipment {request.shipment_ref} was recorded with other lines or date"
            )
        return Shipped(await get(conn, principal, id), replayed=True)
    require_version(licence.version, if_match)
    transition, shipment = domain.ship(licence, request, actor, now, today)
    if dry_run:
        view = await get(conn, principal, id)
        after = view._replace(licence=transition.licence, shipments=[*view.shipments, shipment])
        return Shipped(after, replayed=False)
    await _save(conn, licence, transition)
    await store.record_shipment(conn, licence.id, shipment)
    return Shipped(await get(conn, principal, id), replayed=False)


async def expire_due(conn: Connection, ctx: Context, *, limit: int = EXPIRY_BATCH) -> int:
    """Expire up to `limit` live licences past their last valid day; returns how many.

    Idempotent: an expired licence is no longer selected, and rows locked by a concurrent sweep
    are skipped."""
    now = ctx.clock.now()
    today = ctx.calendar.date_of(now)
    due = await store.lock_expired(conn, today, limit=limit)
    for licence in due:
        await _save(conn, licence, domain.apply(licence, domain.Expire(), SYSTEM_ACTOR, now, today))
    return len(due)


async def _views(conn: Connection, principal: Principal, found: list[Licence]) -> list[LicenceView]:
    ids = [licence.id for licence in found]
    shipped = await store.shipments(conn, ids)
    renewing = await store.renewals(conn, ids, principal.visibility)
    return [LicenceView(lic, shipped.get(lic.id, []), renewing.get(lic.id, [])) for lic in found]


async def _locked(conn: Connection, principal: Principal, id: UUID) -> Licence:
    licence = await store.get(conn, id, principal.visibility, for_update=True)
    if licence is None:
        raise NotFound(f"no licence {id}")
    return licence


async def _save(conn: Connection, before: Licence, transition: domain.Transition) -> None:
    if not await store.update(
        conn, transition.licence, [_entry(transition)], expected_version=before.version
    ):
        raise StaleVersion("the licence changed meanwhile")


def _entry(transition: domain.Transition) -> events.Entry:
    licence, event = transition
    return events.Entry(
        stream=STREAM,
        stream_id=licence.id,
        org=licence.org,
        event=event,
        outbox={
            "licence_id": str(licence.id),
            "status": licence.status,
            "version": licence.version,
        },
    )
