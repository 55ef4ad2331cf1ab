"""What the API sends: resources and pages. Requests are decoded by the workflow into the
domain's own strict types (`Filing`, the action commands), so there is one definition of each."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from licenceflow.clock import WorkingCalendar
from licenceflow.domain.applications import Actor, Application, Decision, progress
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


class ApplicationPage(msgspec.Struct, frozen=True):
    items: list[ApplicationResource]
    next_cursor: str | None


class EventResource(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at: datetime
    action: str
    from_status: str | None
    to_status: str
    actor: Actor
    reason: str | None
    reason_code: str | None
    details: dict[str, Any]


class EventPage(msgspec.Struct, frozen=True):
    items: list[EventResource]
    next_cursor: str | None


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    return moment.astimezone(tz) if moment is not None else None


def application_resource(
    app: Application, now: datetime, calendar: WorkingCalendar
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
    )


def event_resource(stored: StoredEvent, tz: ZoneInfo) -> EventResource:
    e = stored.event
    return EventResource(
        seq=stored.seq,
        at=e.at.astimezone(tz),
        action=e.action.value,
        from_status=e.from_status.value if e.from_status else None,
        to_status=e.to_status.value,
        actor=e.actor,
        reason=e.reason,
        reason_code=e.reason_code.value if e.reason_code else None,
        details=e.details,
    )
