"""HTTP for applications: parse → use-case → map. No rule lives here."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter

from licenceflow.api import openapi
from licenceflow.api.dependencies import etag, if_match, provide_principal, resource_id, wake_relay
from licenceflow.api.openapi_contract import enum_items
from licenceflow.api.queries import REFERENCE, Checked, refuse_unknown
from licenceflow.api.schemas import (
    ApplicationPage,
    ApplicationResource,
    EventPage,
    application_resource,
    event_page,
)
from licenceflow.api.services import services
from licenceflow.domain.access import Principal
from licenceflow.domain.applications import ActionCommand, Application, Status
from licenceflow.domain.elements import RARE_EARTHS
from licenceflow.domain.errors import FieldProblem
from licenceflow.domain.filing import NewApplication
from licenceflow.store import events
from licenceflow.store.applications import SORTS, ListQuery
from licenceflow.store.pool import Connection
from licenceflow.workflow import applications as workflow
from licenceflow.workflow.commands import Json
from licenceflow.workflow.context import Context

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size, 1–200")]
DAY = {"format": "date"}
IfMatch = Annotated[str | None, HeaderParameter(name="If-Match", description='"<version>" or *')]


def _one(
    app: Application,
    ctx: Context,
    status_code: int = 200,
    warnings: tuple[FieldProblem, ...] = (),
) -> Response[ApplicationResource]:
    return Response(
        application_resource(app, ctx.clock.now(), ctx.calendar, warnings),
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
        description=(
            "Files an application; with `submit: true` files and submits it. An "
            "`Idempotency-Key` (1–255 characters, kept 24 h) makes a retry safe: "
            "the same key and body answer the first status and body again with "
            "`Idempotency-Replayed: true`; another body is a 422; while the first "
            "is still running, 409 `…/request-in-progress`."
        ),
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
        created = await workflow.create(
            conn,
            context,
            principal,
            Json[NewApplication](await request.body(), NewApplication),
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

    @get(
        "/{application_id:str}",
        summary="One application, with its ETag",
        description=(
            "The application with what the clock derives (`overdue`, "
            "`working_days_elapsed`) and an `ETag` of its stored version (what the "
            "clock derives changes without it: no 304 here)."
        ),
    )
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

    @get(
        "/",
        summary="Applications visible to the caller",
        description="Newest first unless `sort` says otherwise. Filters combine (AND); a "
        "parameter the list does not take is a 400 naming it.",
    )
    async def index(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        conn: NamedDependency[Connection],
        state: State,
        # what each parameter takes, stated in the schema (`schema_extra`); checked below, in
        # the contract's order (after the caller is known), every problem named at once
        status: Annotated[
            list[str] | None,
            QueryParameter(description="repeatable", schema_extra=enum_items(Status)),
        ] = None,
        element: Annotated[
            str | None,
            QueryParameter(
                description="a line of this rare earth (symbol, case-sensitive)",
                schema_extra={"enum": sorted(RARE_EARTHS)},
            ),
        ] = None,
        destination: Annotated[
            str | None,
            QueryParameter(
                description="ISO 3166-1 alpha-2, upper case", schema_extra={"pattern": "^[A-Z]{2}$"}
            ),
        ] = None,
        overdue: FromQuery[bool | None] = None,
        contract_ref: Annotated[
            str | None,
            QueryParameter(
                description="the exporter's contract reference, exact",
                schema_extra={"minLength": 1, "maxLength": 100},
            ),
        ] = None,
        reference: Annotated[
            str | None,
            QueryParameter(
                description="the application's reference, exact",
                schema_extra={"pattern": "^EL-[0-9]{4}-[0-9]{6}$"},
            ),
        ] = None,
        party: Annotated[
            str | None,
            QueryParameter(
                description="the start of the exporter's, consignee's or end user's name, any case",
                schema_extra={"minLength": 1, "maxLength": 100},
            ),
        ] = None,
        submitted_from: Annotated[
            str | None,
            QueryParameter(description="submitted on or after (business date)", schema_extra=DAY),
        ] = None,
        submitted_to: Annotated[
            str | None,
            QueryParameter(description="submitted on or before (business date)", schema_extra=DAY),
        ] = None,
        respond_by_before: Annotated[
            str | None,
            QueryParameter(
                description="waiting on the exporter, its answer due before this business date",
                schema_extra=DAY,
            ),
        ] = None,
        sort: Annotated[
            str,
            QueryParameter(
                description="a field, ascending, or `-field`, descending; nulls last",
                schema_extra={"enum": sorted(SORTS)},
            ),
        ] = "-created_at",
        limit: Limit = 50,
        cursor: FromQuery[str | None] = None,
    ) -> ApplicationPage:
        refuse_unknown(request)
        context = services(state).context
        cursors = services(state).cursors
        checked = Checked()
        calendar = context.calendar
        first = checked.day("submitted_from", submitted_from)
        last = checked.day("submitted_to", submitted_to)
        due = checked.day("respond_by_before", respond_by_before)
        query = ListQuery(
            statuses=checked.statuses("status", status, Status),
            element=checked.element("element", element),
            destination=checked.country("destination", destination),
            overdue=overdue,
            contract_ref=checked.text("contract_ref", contract_ref),
            reference=checked.matching("reference", reference, REFERENCE, "EL-2026-000002"),
            party=checked.text("party", party),
            submitted_from=calendar.start_of_day(first) if first else None,
            submitted_before=calendar.start_of_day(last + timedelta(days=1)) if last else None,
            respond_by_before=calendar.start_of_day(due) if due else None,
            sort=checked.one_of("sort", sort, SORTS),
            limit=limit,
        )
        checked.done()
        filters = cursor_filters(query)
        after = cursors.decode(cursor, filters, tuple[datetime | None, UUID]) if cursor else None
        rows = await workflow.page(conn, context, principal, query, after)
        column = SORTS[sort][0]
        items, next_cursor = cursors.page(
            rows, limit, filters, lambda app: (getattr(app, column), app.id)
        )
        now = context.clock.now()
        return ApplicationPage([application_resource(a, now, calendar) for a in items], next_cursor)

    @get(
        "/by-reference/{reference:str}",
        summary="One application by its reference (EL-YYYY-NNNNNN), with its ETag",
        description=(
            "As the read by id, found by the reference an exporter quotes (`EL-2026-000002`)."
        ),
    )
    async def by_reference(
        self,
        reference: FromPath[str],
        principal: NamedDependency[Principal],
        conn: NamedDependency[Connection],
        state: State,
    ) -> Response[ApplicationResource]:
        app = await workflow.by_reference(conn, principal, reference)
        return _one(app, services(state).context)

    @patch(
        "/{application_id:str}",
        summary="Edit a draft (JSON merge patch; exporter)",
        description=(
            "A JSON merge patch (RFC 7396) of a draft's filing: members replace, "
            "`null` removes, `lines` are replaced whole; `submit` is not taken here "
            "(the `submit` action is). A draft only (409 otherwise); `If-Match` "
            "makes it conditional (412). Its `edit` event keeps each changed "
            "field's old and new values."
        ),
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
            Json[workflow.FilingPatch](await request.body(), workflow.FilingPatch),
            if_match=if_match(if_match_header),
        )
        return _one(app, context)

    @delete(
        "/{application_id:str}",
        summary="Delete a draft (exporter)",
        description=(
            "A draft never counted as filed: deleted, it is gone (404 from then on, its "
            "reference with it) and its Idempotency-Keys are forgotten. Its timeline stays "
            "in the audit, ended by a `delete` event that keeps the draft's reference and "
            "filing. A filed application is withdrawn instead: 409 "
            "`…/invalid-transition`. `If-Match` makes it conditional (412)."
        ),
    )
    async def delete_draft(
        self,
        application_id: FromPath[str],
        principal: NamedDependency[Principal],
        tx: NamedDependency[Connection],
        state: State,
        if_match_header: IfMatch = None,
    ) -> None:
        await workflow.delete(
            tx,
            services(state).context,
            principal,
            resource_id(application_id, "application"),
            if_match=if_match(if_match_header),
        )

    @post(
        "/{application_id:str}/actions",
        status_code=200,
        summary="Take an action",
        description=(
            "An action of API.md's transition table, by the role it names, from the "
            "statuses it names; not allowed now: 409 `…/invalid-transition` with "
            "`current_status` and `action`. `If-Match` makes it conditional (412). "
            "The service's own actions (`deadline_passed`, `lapse`) are not "
            "offered. An approval whose licence ends before the planned ship date "
            "is allowed and says so in `warnings`."
        ),
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
        acted = await workflow.act(
            tx,
            context,
            principal,
            resource_id(application_id, "application"),
            Json[ActionCommand](await request.body(), ActionCommand),
            if_match=if_match(if_match_header),
        )
        return _one(acted.application, context, warnings=acted.warnings)

    @get(
        "/{application_id:str}/events",
        summary="The application's timeline, oldest first",
        description=(
            "Every event of the application, oldest first: who acted, as what role, "
            "why, and what changed (`details`); paged by cursor."
        ),
    )
    async def events(
        self,
        request: Request[Any, Any, Any],
        application_id: FromPath[str],
        principal: NamedDependency[Principal],
        conn: NamedDependency[Connection],
        state: State,
        limit: Limit = 50,
        cursor: FromQuery[str | None] = None,
    ) -> EventPage:
        refuse_unknown(request)
        context = services(state).context
        cursors = services(state).cursors
        id = resource_id(application_id, "application")
        await workflow.get(
            services(state).application_reads, principal, id
        )  # 404 before the timeline
        after = cursors.decode(cursor, str(id), int) if cursor else 0
        stored = await events.timeline(conn, id, after_seq=after, limit=limit + 1)
        return event_page(stored, limit, str(id), context.calendar.tz, cursors)


def cursor_filters(query: ListQuery) -> Any:
    """What a cursor must be replayed with: every filter and the order, not the page size."""
    return msgspec.to_builtins(msgspec.structs.replace(query, limit=0))
