"""HTTP for applications: parse → use-case → map. No rule lives here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter

from licenceflow.api import openapi
from licenceflow.api.dependencies import etag, if_match, provide_principal, resource_id, wake_relay
from licenceflow.api.openapi_contract import enum_items
from licenceflow.api.schemas import (
    ApplicationPage,
    ApplicationResource,
    EventPage,
    application_resource,
    event_page,
)
from licenceflow.api.services import services
from licenceflow.domain.access import Principal
from licenceflow.domain.applications import Application, Status
from licenceflow.domain.elements import RARE_EARTHS
from licenceflow.domain.errors import FieldProblem, InvalidFiling
from licenceflow.domain.values import convert
from licenceflow.store import events
from licenceflow.store.applications import SORTS, ListQuery
from licenceflow.store.pool import Connection
from licenceflow.workflow import applications as workflow
from licenceflow.workflow.context import Context

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size, 1–200")]
IfMatch = Annotated[str | None, HeaderParameter(name="If-Match", description='"<version>" or *')]


def _one(app: Application, ctx: Context, status_code: int = 200) -> Response[ApplicationResource]:
    return Response(
        application_resource(app, ctx.clock.now(), ctx.calendar),
        status_code=status_code,
        headers={"ETag": etag(app.version)},
    )


class ApplicationController(Controller):
    path = "/v1/applications"
    tags = ["applications"]

    @post(
        "/",
        status_code=201,
        summary="File an application (exporter)",
        operation_class=openapi.body("NewApplication"),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        conn: NamedDependency[Connection],
        state: State,
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key", schema_extra={"minLength": 1, "maxLength": 255}
            ),
        ] = None,
    ) -> Response[ApplicationResource]:
        context = services(state).context
        body = await request.body()
        created = await workflow.create(
            conn,
            context,
            principal,
            body,
            idempotency_key=idempotency_key,
            filings=services(state).application_filings,
        )  # committed on return: in a batch of filings, or its own transaction
        wake_relay(state)
        created = await workflow.numbered(conn, created)  # the reference its commit gave it
        response = _one(created.application, context, 201)
        response.headers["Location"] = f"{self.path}/{created.application.id}"
        if created.replayed:
            response.headers["Idempotency-Replayed"] = "true"
        return response

    @get("/{application_id:str}", summary="One application, with its ETag")
    async def read(
        self,
        request: Request[Any, Any, Any],
        application_id: FromPath[str],
    ) -> Response[ApplicationResource]:
        # a polled path: authenticated in its body, not by injection (see api/dependencies)
        state = request.app.state
        principal = provide_principal(request, state)
        context = services(state).context
        id = resource_id(application_id, "application")
        return _one(await workflow.get(services(state).application_reads, principal, id), context)

    @get("/", summary="Applications visible to the caller, newest first")
    async def index(
        self,
        principal: NamedDependency[Principal],
        conn: NamedDependency[Connection],
        state: State,
        # what each parameter takes, stated in the schema (`schema_extra`); checked below, in
        # the contract's order (after the caller is known)
        status: Annotated[
            list[str] | None,
            QueryParameter(description="repeatable", schema_extra=enum_items(Status)),
        ] = None,
        element: Annotated[
            str | None, QueryParameter(schema_extra={"enum": sorted(RARE_EARTHS)})
        ] = None,
        destination: Annotated[
            str | None, QueryParameter(schema_extra={"pattern": "^[A-Za-z]+$"})
        ] = None,
        overdue: FromQuery[bool | None] = None,
        sort: Annotated[
            str,
            QueryParameter(
                description="-created_at | due_at", schema_extra={"enum": sorted(SORTS)}
            ),
        ] = "-created_at",
        limit: Limit = 50,
        cursor: FromQuery[str | None] = None,
    ) -> ApplicationPage:
        context = services(state).context
        cursors = services(state).cursors
        if sort not in SORTS:
            raise InvalidFiling([FieldProblem(field="sort", message=f"one of {sorted(SORTS)}")])
        if element is not None and element not in RARE_EARTHS:
            raise InvalidFiling([FieldProblem(field="element", message="not a rare-earth symbol")])
        if destination is not None and not (destination.isascii() and destination.isalpha()):
            raise InvalidFiling([FieldProblem(field="destination", message="an ISO 3166-1 code")])
        statuses = tuple(sorted(convert(status or [], list[Status], at="status")))
        query = ListQuery(
            statuses=statuses,
            element=element,
            destination=destination,
            overdue=overdue,
            sort=sort,
            limit=limit,
        )
        filters = cursor_filters(query)
        after = cursors.decode(cursor, filters, tuple[datetime | None, UUID]) if cursor else None
        rows = await workflow.page(conn, context, principal, query, after)
        items, more = rows[:limit], len(rows) > limit
        column = SORTS[sort][0]
        next_cursor = (
            cursors.encode(filters, (getattr(items[-1], column), items[-1].id)) if more else None
        )
        now = context.clock.now()
        return ApplicationPage(
            [application_resource(a, now, context.calendar) for a in items], next_cursor
        )

    @patch(
        "/{application_id:str}",
        summary="Edit a draft (JSON merge patch; exporter)",
        operation_class=openapi.body("FilingPatch"),
    )
    async def edit(
        self,
        request: Request[Any, Any, Any],
        application_id: FromPath[str],
        principal: NamedDependency[Principal],
        tx: NamedDependency[Connection],
        state: State,
        if_match_header: IfMatch = None,
    ) -> Response[ApplicationResource]:
        context = services(state).context
        app = await workflow.edit(
            tx,
            context,
            principal,
            resource_id(application_id, "application"),
            await request.body(),
            if_match=if_match(if_match_header),
        )
        return _one(app, context)

    @post(
        "/{application_id:str}/actions",
        status_code=200,
        summary="Take an action",
        operation_class=openapi.body("ApplicationAction"),
    )
    async def act(
        self,
        request: Request[Any, Any, Any],
        application_id: FromPath[str],
        principal: NamedDependency[Principal],
        tx: NamedDependency[Connection],
        state: State,
        if_match_header: IfMatch = None,
    ) -> Response[ApplicationResource]:
        context = services(state).context
        app = await workflow.act(
            tx,
            context,
            principal,
            resource_id(application_id, "application"),
            await request.body(),
            if_match=if_match(if_match_header),
        )
        return _one(app, context)

    @get("/{application_id:str}/events", summary="The application's timeline, oldest first")
    async def events(
        self,
        application_id: FromPath[str],
        principal: NamedDependency[Principal],
        conn: NamedDependency[Connection],
        state: State,
        limit: Limit = 50,
        cursor: FromQuery[str | None] = None,
    ) -> EventPage:
        context = services(state).context
        cursors = services(state).cursors
        id = resource_id(application_id, "application")
        await workflow.get(
            services(state).application_reads, principal, id
        )  # 404 before the timeline
        after = cursors.decode(cursor, str(id), int) if cursor else 0
        stored = await events.timeline(conn, id, after_seq=after, limit=limit + 1)
        return event_page(stored, limit, str(id), context.calendar.tz, cursors)


def cursor_filters(query: ListQuery) -> dict[str, Any]:
    """What a cursor must be replayed with: every filter and the order, not the page size."""
    return {
        "status": [s.value for s in query.statuses],
        "element": query.element,
        "destination": query.destination,
        "overdue": query.overdue,
        "sort": query.sort,
    }
