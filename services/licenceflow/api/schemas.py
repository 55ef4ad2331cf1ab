"""What the API sends: resources and pages. Requests are decoded by the workflow into the
domain's own strict types (`Filing`, the action commands), so there is one definition of each."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from licenceflow.api.cursors import Cursors
from licenceflow.clock import WorkingCalendar
from licenceflow.domain.applications import Application, Decision, InfoRequest, progress
from licenceflow.domain.audit import Event
from licenceflow.domain.errors import FieldProblem
from licenceflow.domain.filing import Filing
from licenceflow.store.events import StoredEvent


class ApplicationResource(Filing, frozen=True, kw_only=True):
    """An application: every field the exporter filed, and what the authority made of it."""

    id: UUID
    reference: str
    org: str
    status: str
    version: int
    controlled: bool
    created_at: datetime
    submitted_at: datetime | None
    accepted_at: datetime | None
    decided_at: datetime | None
    due_at: datetime | None
    overdue: bool
    working_days_elapsed: int
    decision: Decision | None
    licence_id: UUID | None
    info_request: InfoRequest | None  # while info_requested: the question and by when to answer
    # what the request just did that its maker may not have meant (allowed); empty otherwise
    warnings: list[FieldProblem] = msgspec.field(default_factory=list)


class ApplicationPage(msgspec.Struct, frozen=True):
    items: list[ApplicationResource]
    next_cursor: str | None


class EventResource(Event, frozen=True, kw_only=True):
    """One line of a timeline, with its position (`seq`) in the service's event log."""

    seq: int


class EventPage(msgspec.Struct, frozen=True):
    items: list[EventResource]
    next_cursor: str | None


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    return moment.astimezone(tz) if moment is not None else None


def application_resource(
    app: Application,
    now: datetime,
    calendar: WorkingCalendar,
    warnings: tuple[FieldProblem, ...] = (),
) -> ApplicationResource:
    derived = progress(app, now, calendar)
    tz = calendar.tz
    filed = {name: getattr(app.filing, name) for name in Filing.__struct_fields__}
    return ApplicationResource(
        **filed,
        id=app.id,
        reference=app.reference,
        org=app.org,
        status=app.status.value,
        version=app.version,
        controlled=derived.controlled,
        created_at=app.created_at.astimezone(tz),
        submitted_at=_local(app.submitted_at, tz),
        accepted_at=_local(app.accepted_at, tz),
        decided_at=_local(app.decided_at, tz),
        due_at=_local(app.due_at, tz),
        overdue=derived.overdue,
        working_days_elapsed=derived.working_days_elapsed,
        decision=app.decision,
        licence_id=app.licence_id,
        info_request=(
            msgspec.structs.replace(
                app.info_request,
                requested_at=app.info_request.requested_at.astimezone(tz),
                respond_by=app.info_request.respond_by.astimezone(tz),
            )
            if app.info_request
            else None
        ),
        warnings=list(warnings),
    )


def event_page(
    stored: list[StoredEvent], limit: int, scope: str, tz: ZoneInfo, cursors: Cursors
) -> EventPage:
    """A page of `limit` events from `stored` (fetched with one extra to know if more follow)."""
    items, next_cursor = cursors.page(stored, limit, scope, lambda event: event.seq)
    return EventPage([event_resource(s, tz) for s in items], next_cursor)


def event_resource(stored: StoredEvent, tz: ZoneInfo) -> EventResource:
    event = stored.event
    fields = {name: getattr(event, name) for name in Event.__struct_fields__}
    return EventResource(**(fields | {"at": event.at.astimezone(tz)}), seq=stored.seq)
