"""HTTP for licences: parse → use-case → map."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter

from licenceflow.api import openapi
from licenceflow.api.dependencies import etag, if_match, resource_id
from licenceflow.api.licence_schemas import LicencePage, LicenceResource, licence_resource
from licenceflow.api.openapi_contract import enum_items
from licenceflow.api.queries import LICENCE_NUMBER, Checked, refuse_unknown
from licenceflow.api.schemas import EventPage, event_page
from licenceflow.api.services import services
from licenceflow.domain.access import Principal
from licenceflow.domain.elements import RARE_EARTHS
from licenceflow.domain.licences import Kind, LicenceCommand, ShipmentRequest, Status
from licenceflow.store import events
from licenceflow.store.licences import SORTS, ListQuery
from licenceflow.store.pool import Connection
from licenceflow.workflow import licences as workflow
from licenceflow.workflow.commands import Json
from licenceflow.workflow.context import Context
from licenceflow.workflow.licences import LicenceView

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size, 1–200")]
IfMatch = Annotated[str | None, HeaderParameter(name="If-Match", description='"<version>" or *')]


def _one(view: LicenceView, ctx: Context, status_code: int = 200) -> Response[LicenceResource]:
    return Response(
        licence_resource(view, ctx.calendar.tz),
        status_code=status_code,
        headers={"ETag": etag(view.licence.version)},
    )


class LicenceController(Controller):
    path = "/v1/licences"
    tags = ["licences"]

    @get(
        "/{licence_id:str}",
        summary="One licence: lines used and remaining, shipments",
        description=(
            "The licence as the border reads it: its particulars (references, "
            "parties, destination, end use), each line licensed, used, remaining "
            "and still shippable, its shipments; an `ETag` of its stored version."
        ),
    )
    async def read(
        self,
        licence_id: FromPath[str],
        principal: NamedDependency[Principal],
        conn: NamedDependency[Connection],
        state: State,
    ) -> Response[LicenceResource]:
        context = services(state).context
        return _one(
            await workflow.get(conn, principal, resource_id(licence_id, "licence")), context
        )

    @get(
        "/",
        summary="Licences visible to the caller",
        description="Newest first unless `sort` says otherwise. Filters combine (AND); a "
        "parameter the list does not take is a 400 naming it.",
    )
    async def index(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        conn: NamedDependency[Connection],
        state: State,
        status: Annotated[
            list[str] | None,
            QueryParameter(description="repeatable", schema_extra=enum_items(Status)),
        ] = None,
        kind: Annotated[
            list[str] | None,
            QueryParameter(description="standard | temporary", schema_extra=enum_items(Kind)),
        ] = None,
        expiring_within_days: Annotated[
            int | None, QueryParameter(ge=0, le=3660, description="live, ending within N days")
        ] = None,
        number: Annotated[
            str | None,
            QueryParameter(
                description="the licence's number, exact",
                schema_extra={"pattern": "^L[ST]-[0-9]{4}-[0-9]{6}$"},
            ),
        ] = None,
        element: Annotated[
            str | None,
            QueryParameter(
                description="a line of this rare earth (symbol, case-sensitive)",
                schema_extra={"enum": sorted(RARE_EARTHS)},
            ),
        ] = None,
        application_id: Annotated[
            str | None,
            QueryParameter(
                description="the application it was issued for", schema_extra={"format": "uuid"}
            ),
        ] = None,
        sort: Annotated[
            str,
            QueryParameter(
                description="a field, ascending, or `-field`, descending",
                schema_extra={"enum": sorted(SORTS)},
            ),
        ] = "-issued_at",
        limit: Limit = 50,
        cursor: FromQuery[str | None] = None,
    ) -> LicencePage:
        refuse_unknown(request)
        context = services(state).context
        cursors = services(state).cursors
        checked = Checked()
        query = ListQuery(
            statuses=checked.statuses("status", status, Status),
            kinds=checked.statuses("kind", kind, Kind),
            expiring_within_days=expiring_within_days,
            number=checked.matching("number", number, LICENCE_NUMBER, "LS-2026-000002"),
            element=checked.element("element", element),
            application_id=checked.uuid("application_id", application_id),
            sort=checked.one_of("sort", sort, SORTS),
            limit=limit,
        )
        checked.done()
        filters = msgspec.to_builtins(msgspec.structs.replace(query, limit=0))
        column = SORTS[sort][0]
        key_type = tuple[date, UUID] if column == "valid_until" else tuple[datetime, UUID]
        after = cursors.decode(cursor, filters, key_type) if cursor else None
        views = await workflow.page(conn, context, principal, query, after)
        items, next_cursor = cursors.page(
            views, limit, filters, lambda view: (getattr(view.licence, column), view.licence.id)
        )
        tz = context.calendar.tz
        return LicencePage([licence_resource(v, tz) for v in items], next_cursor)

    @post(
        "/{licence_id:str}/shipments",
        status_code=201,
        summary="Record a shipment against the licence (exporter)",
        description=(
            "Records a shipment (201). The same `shipment_ref` with the same date "
            "and lines again is a replay (200, nothing drawn twice); with others, "
            "409 `…/shipment-ref-conflict`. `?dry_run=true` answers 200 with the "
            "licence as it would be, recording nothing. Dated after today: 422; "
            "licence not active, or the date outside its validity: 409 "
            "`…/licence-not-usable`; more than remains: 409 `…/quantity-exceeded`."
        ),
        operation_class=openapi.body("ShipmentRequest"),
    )
    async def ship(
        self,
        request: Request[Any, Any, Any],
        licence_id: FromPath[str],
        principal: NamedDependency[Principal],
        tx: NamedDependency[Connection],
        state: State,
        if_match_header: IfMatch = None,
        dry_run: Annotated[
            bool,
            QueryParameter(
                description="check the shipment and answer 200 with the licence as it would be"
                " after it, recording nothing"
            ),
        ] = False,
    ) -> Response[LicenceResource]:
        refuse_unknown(request)  # `?dryrun=true` must not record a shipment
        context = services(state).context
        shipped = await workflow.ship(
            tx,
            context,
            principal,
            resource_id(licence_id, "licence"),
            Json[ShipmentRequest](await request.body(), ShipmentRequest),
            if_match=if_match(if_match_header),
            dry_run=dry_run,
        )
        if dry_run:  # a licence that does not exist yet has no version to name
            return Response(licence_resource(shipped.view, context.calendar.tz), status_code=200)
        return _one(shipped.view, context, 200 if shipped.replayed else 201)

    @post(
        "/{licence_id:str}/actions",
        status_code=200,
        summary="suspend, reinstate, revoke (officer) or surrender (exporter)",
        description=(
            "`suspend`, `reinstate` and `revoke` by an officer (`reason` required), "
            "`surrender` by the exporter. Expiry is the service's own action "
            "(`expire`), not offered. `If-Match` makes it conditional (412)."
        ),
        operation_class=openapi.body("LicenceAction"),
    )
    async def act(
        self,
        request: Request[Any, Any, Any],
        licence_id: FromPath[str],
        principal: NamedDependency[Principal],
        tx: NamedDependency[Connection],
        state: State,
        if_match_header: IfMatch = None,
    ) -> Response[LicenceResource]:
        context = services(state).context
        view = await workflow.act(
            tx,
            context,
            principal,
            resource_id(licence_id, "licence"),
            Json[LicenceCommand](await request.body(), LicenceCommand),
            if_match=if_match(if_match_header),
        )
        return _one(view, context)

    @get(
        "/{licence_id:str}/events",
        summary="The licence's timeline, oldest first",
        description=(
            "The licence's events, oldest first: its issue, shipments, lifecycle "
            "actions and expiry."
        ),
    )
    async def events(
        self,
        request: Request[Any, Any, Any],
        licence_id: FromPath[str],
        principal: NamedDependency[Principal],
        conn: NamedDependency[Connection],
        state: State,
        limit: Limit = 50,
        cursor: FromQuery[str | None] = None,
    ) -> EventPage:
        refuse_unknown(request)
        context = services(state).context
        cursors = services(state).cursors
        id = resource_id(licence_id, "licence")
        await workflow.get(conn, principal, id)  # 404 before anything else is read
        after = cursors.decode(cursor, str(id), int) if cursor else 0
        stored = await events.timeline(conn, id, after_seq=after, limit=limit + 1)
        return event_page(stored, limit, str(id), context.calendar.tz, cursors)
