"""Per-shipment licence applications: statuses, actions, the transition table and `apply`.

The table is the whole lifecycle. `apply` looks the (status, action) pair up, checks the actor's
role, and returns the application after the action together with the event that records it; every
other rule about applications (deadlines, pauses, decisions) is written once, below.

Over 300 lines because the table, the commands it names and `apply` are one aggregate, read
against API.md's table line by line; splitting them would put the table apart from its rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple
from uuid import UUID

import msgspec

from licenceflow.domain import deadlines
from licenceflow.domain.audit import Actor, Event, Reason, Role, roles_by_action
from licenceflow.domain.deadlines import Calendar
from licenceflow.domain.elements import any_controlled
from licenceflow.domain.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidFiling,
    InvalidTransition,
)
from licenceflow.domain.filing import Filing
from licenceflow.domain.licences import TEMPORARY_MONTHS, add_months
from licenceflow.domain.values import Value


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    INFO_REQUESTED = "info_requested"
    DELAYED = "delayed"
    APPROVED = "approved"
    TEMPORARILY_APPROVED = "temporarily_approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


PENDING = frozenset({Status.SUBMITTED, Status.UNDER_REVIEW, Status.INFO_REQUESTED, Status.DELAYED})
DECIDED = frozenset({Status.APPROVED, Status.TEMPORARILY_APPROVED, Status.REJECTED})
# pending and owed to the authority (info_requested waits for the exporter)
AWAITING_AUTHORITY = frozenset({Status.SUBMITTED, Status.UNDER_REVIEW, Status.DELAYED})
FINAL = DECIDED | {Status.WITHDRAWN}
# The statutory clock runs in these statuses (it is paused while information is requested).
CLOCK_RUNNING = frozenset({Status.UNDER_REVIEW, Status.DELAYED})
# Where a deleted draft's timeline ends: no application is in it, the `delete` event goes to it.
DELETED = "deleted"


class Action(StrEnum):
    CREATE = "create"
    EDIT = "edit"
    DELETE = "delete"
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    RESPOND = "respond"
    ACCEPT = "accept"
    REQUEST_INFO = "request_info"
    DELAY = "delay"
    APPROVE = "approve"
    APPROVE_TEMPORARY = "approve_temporary"
    REJECT = "reject"
    DEADLINE_PASSED = "deadline_passed"
    LAPSE = "lapse"


class ReasonCode(StrEnum):
    REFUSED = "refused"
    INCOMPLETE = "incomplete"
    NOT_CONTROLLED = "not_controlled"
    LAPSED = "lapsed"


class Rule(NamedTuple):
    to: Status | None  # None: back to the status the request for information came from
    roles: frozenset[Role]


_EXPORTER = frozenset({Role.EXPORTER})
_OFFICER = frozenset({Role.OFFICER})
_SYSTEM = frozenset({Role.SYSTEM})
S, A = Status, Action

TRANSITIONS: Mapping[tuple[Status, Action], Rule] = {
    (S.DRAFT, A.EDIT): Rule(S.DRAFT, _EXPORTER),
    (S.DRAFT, A.SUBMIT): Rule(S.SUBMITTED, _EXPORTER),
    **{(s, A.WITHDRAW): Rule(S.WITHDRAWN, _EXPORTER) for s in (S.DRAFT, *PENDING)},
    (S.INFO_REQUESTED, A.RESPOND): Rule(None, _EXPORTER),
    (S.SUBMITTED, A.ACCEPT): Rule(S.UNDER_REVIEW, _OFFICER),
    (S.UNDER_REVIEW, A.REQUEST_INFO): Rule(S.INFO_REQUESTED, _OFFICER),
    (S.DELAYED, A.REQUEST_INFO): Rule(S.INFO_REQUESTED, _OFFICER),
    (S.UNDER_REVIEW, A.DELAY): Rule(S.DELAYED, _OFFICER),
    (S.UNDER_REVIEW, A.APPROVE): Rule(S.APPROVED, _OFFICER),
    (S.DELAYED, A.APPROVE): Rule(S.APPROVED, _OFFICER),
    (S.UNDER_REVIEW, A.APPROVE_TEMPORARY): Rule(S.TEMPORARILY_APPROVED, _OFFICER),
    (S.DELAYED, A.APPROVE_TEMPORARY): Rule(S.TEMPORARILY_APPROVED, _OFFICER),
    **{(s, A.REJECT): Rule(S.REJECTED, _OFFICER) for s in PENDING},
    (S.UNDER_REVIEW, A.DEADLINE_PASSED): Rule(S.DELAYED, _SYSTEM),
    (S.INFO_REQUESTED, A.LAPSE): Rule(S.REJECTED, _SYSTEM),
}

# A draft is filed (`file`) and deleted (`delete`) by its exporters; the table has the rest.
ACTION_ROLES = roles_by_action(
    TRANSITIONS, (a for a in Action if a not in (Action.CREATE, Action.DELETE))
) | {Action.DELETE: _EXPORTER}


# Commands: one struct per action, tagged by its name, as a client sends them.
class Command(Value, tag_field="action", frozen=True, kw_only=True):
    reason: Reason | None = None


class Submit(Command, tag=Action.SUBMIT.value, frozen=True, kw_only=True):
    pass


class Withdraw(Command, tag=Action.WITHDRAW.value, frozen=True, kw_only=True):
    pass


class Respond(Command, tag=Action.RESPOND.value, frozen=True, kw_only=True):
    response: Reason


class Accept(Command, tag=Action.ACCEPT.value, frozen=True, kw_only=True):
    pass


class RequestInfo(Command, tag=Action.REQUEST_INFO.value, frozen=True, kw_only=True):
    reason: Reason


class Delay(Command, tag=Action.DELAY.value, frozen=True, kw_only=True):
    reason: Reason


class Approve(Command, tag=Action.APPROVE.value, frozen=True, kw_only=True):
    valid_months: Annotated[int, msgspec.Meta(ge=1, le=12)] = 12


class ApproveTemporary(Command, tag=Action.APPROVE_TEMPORARY.value, frozen=True, kw_only=True):
    pass


class Reject(Command, tag=Action.REJECT.value, frozen=True, kw_only=True):
    reason: Reason
    reason_code: Literal["refused", "incomplete", "not_controlled"] = "refused"


class DeadlinePassed(Command, tag=Action.DEADLINE_PASSED.value, frozen=True, kw_only=True):
    pass


class Lapse(Command, tag=Action.LAPSE.value, frozen=True, kw_only=True):
    pass


class Edit(Command, tag=Action.EDIT.value, frozen=True, kw_only=True):
    filing: Filing


ActionCommand = (
    Submit
    | Withdraw
    | Respond
    | Accept
    | RequestInfo
    | Delay
    | Approve
    | ApproveTemporary
    | Reject
    | DeadlinePassed
    | Lapse
)


class Decision(Value, frozen=True, kw_only=True):
    outcome: Literal["approved", "temporarily_approved", "rejected"]
    reason_code: ReasonCode | None = None
    reason: str | None = None


class InfoRequest(Value, frozen=True, kw_only=True):
    """What an officer asked while the file waits on the exporter, and by when it must answer."""

    question: str
    requested_at: datetime
    respond_by: datetime  # end of the 20th working day after the request: then it lapses


class Application(Value, frozen=True, kw_only=True):
    id: UUID
    org: str
    reference: str
    status: Status
    version: int
    filing: Filing
    created_by: str
    created_at: datetime
    submitted_at: datetime | None = None
    accepted_at: datetime | None = None
    decided_at: datetime | None = None
    closed_at: datetime | None = None  # decided or withdrawn: the statutory count stops
    due_at: datetime | None = None
    referred: bool = False
    resume_status: Status | None = None
    paused_since: date | None = None
    paused_working_days: int = 0
    decision: Decision | None = None
    licence_id: UUID | None = None
    info_request: InfoRequest | None = None  # while info_requested

    @property
    def respond_by(self) -> datetime | None:
        """When the exporter's answer is due, while one is owed."""
        return self.info_request.respond_by if self.info_request else None


class Transition(NamedTuple):
    application: Application
    event: Event


def may_take(action: Action, role: Role) -> bool:
    """Whether `role` may take `action` in some status."""
    return role in ACTION_ROLES.get(action, frozenset())


def rule_for(status: Status, action: Action, role: Role) -> Rule:
    """The rule for this action now; `Forbidden` if the role never may, else `InvalidTransition`."""
    if not may_take(action, role):
        raise Forbidden(f"role '{role}' may not {action}")
    rule = TRANSITIONS.get((status, action))
    if rule is None or role not in rule.roles:
        raise InvalidTransition(status, action)
    return rule


def file(
    *,
    id: UUID,
    org: str,
    reference: str,
    filing: Filing,
    actor: Actor,
    now: datetime,
) -> Transition:
    """A new draft, and the `create` event that opens its timeline."""
    if actor.role is not Role.EXPORTER:
        raise Forbidden("only an exporter files applications")
    draft = Application(
        id=id,
        org=org,
        reference=reference,
        status=Status.DRAFT,
        version=1,
        filing=filing,
        created_by=actor.sub,
        created_at=now,
    )
    event = Event(
        action=Action.CREATE, from_status=None, to_status=Status.DRAFT, actor=actor, at=now
    )
    return Transition(draft, event)


def delete(app: Application, actor: Actor, now: datetime) -> Event:
    """The `delete` event that ends a draft's timeline. A draft never counted as filed: deleted,
    it is gone, and the event keeps what it was (its reference and filing) for the audit.
    Anything submitted stays, and is withdrawn instead."""
    if actor.role not in ACTION_ROLES[Action.DELETE]:
        raise Forbidden("only an exporter deletes its drafts")
    if app.status is not Status.DRAFT:
        raise InvalidTransition(
            app.status, Action.DELETE, "only a draft is deleted; a filed application is withdrawn"
        )
    return Event(
        action=Action.DELETE,
        from_status=app.status,
        to_status=DELETED,
        actor=actor,
        at=now,
        details={"reference": app.reference, "filing": msgspec.to_builtins(app.filing)},
    )


def apply(
    app: Application,
    command: ActionCommand | Edit,
    actor: Actor,
    now: datetime,
    calendar: Calendar,
) -> Transition:
    """The application after `command`, and its event; raises a `DomainError` if not allowed."""
    action = Action(str(command.__struct_config__.tag))
    rule = rule_for(app.status, action, actor.role)
    today = calendar.date_of(now)
    to = rule.to if rule.to is not None else app.resume_status
    assert to is not None, "an info_requested application always knows where it came from"
    changes: dict[str, Any] = {}
    details: dict[str, Any] = {}
    reason_code: ReasonCode | None = None

    match command:
        case Edit(filing=filing):
            changes["filing"] = filing
            edited = [
                f for f in filing.__struct_fields__ if getattr(filing, f) != getattr(app.filing, f)
            ]
            details["fields"] = edited
            details["changes"] = {  # the audit keeps what each field was, and became
                f: {"from": getattr(app.filing, f), "to": getattr(filing, f)} for f in edited
            }
        case Submit():
            if app.filing.planned_ship_date < today:
                raise InvalidFiling(
                    [
                        FieldProblem(
                            field="planned_ship_date",
                            message=f"{app.filing.planned_ship_date} is before today ({today}):"
                            " edit the draft's planned ship date, then submit",
                        )
                    ]
                )
            changes["submitted_at"] = now
        case Accept():
            changes["accepted_at"] = now
            changes["due_at"] = deadlines.review_due_at(today, 0, calendar)
        case RequestInfo(reason=question):
            respond_by = deadlines.response_due_at(today, calendar)
            changes["resume_status"] = app.status
            changes["paused_since"] = today
            changes["info_request"] = InfoRequest(
                question=question, requested_at=now, respond_by=respond_by
            )
            details["respond_by"] = respond_by.isoformat()
        case Respond(response=response):
            assert app.paused_since is not None
            paused = app.paused_working_days + deadlines.paused_working_days(
                app.paused_since, today, calendar
            )
            changes |= {
                "resume_status": None,
                "paused_since": None,
                "paused_working_days": paused,
                "info_request": None,
            }
            if app.due_at is not None and app.accepted_at is not None:
                accepted_on = calendar.date_of(app.accepted_at)
                changes["due_at"] = deadlines.review_due_at(accepted_on, paused, calendar)
            details["response"] = response
        case Delay():
            changes |= {"referred": True, "due_at": None}
        case DeadlinePassed():
            if app.due_at is None or not deadlines.has_passed(app.due_at, now):
                raise Conflict("the review deadline has not passed")
        case Lapse():
            assert app.paused_since is not None
            if not deadlines.has_passed(deadlines.response_due_at(app.paused_since, calendar), now):
                raise Conflict("the time to answer the request has not run out")
            reason_code = ReasonCode.LAPSED
        case Reject(reason_code=code):
            reason_code = ReasonCode(code)
        case Approve(valid_months=months):
            details["valid_months"] = months
        case ApproveTemporary():
            pass
        case Withdraw():
            pass

    if to in DECIDED:
        changes["decided_at"] = now
        changes["decision"] = Decision(
            outcome=to.value,  # type: ignore[arg-type]  # DECIDED holds exactly the outcomes
            reason_code=reason_code,
            reason=command.reason,
        )
    if to in FINAL:
        changes["closed_at"] = now
        if app.paused_since is not None:  # closed while waiting: the open pause still counts
            changes["paused_working_days"] = app.paused_working_days + (
                deadlines.paused_working_days(app.paused_since, today, calendar)
            )
        changes |= {"resume_status": None, "paused_since": None, "info_request": None}
    after = msgspec.structs.replace(app, status=to, version=app.version + 1, **changes)
    if after.due_at != app.due_at:  # the timeline (and the metrics) see every deadline move
        details["due_at"] = after.due_at.isoformat() if after.due_at else None
    warned = warnings_for(app, command, today)
    event = Event(
        action=action,
        from_status=app.status,
        to_status=to,
        actor=actor,
        at=now,
        reason=command.reason,
        reason_code=reason_code,
        details=details | ({"warnings": [w.message for w in warned]} if warned else {}),
    )
    return Transition(after, event)


def warnings_for(
    app: Application, command: ActionCommand | Edit, today: date
) -> tuple[FieldProblem, ...]:
    """What `command` would do that its taker may not mean, allowed but said (and audited): an
    approval whose licence ends before the planned ship date (the exporter may ship sooner, or
    renew)."""
    match command:
        case Approve(valid_months=months):
            valid_until = add_months(today, months)
        case ApproveTemporary():
            valid_until = add_months(today, TEMPORARY_MONTHS)
        case _:
            return ()
    filing = app.filing
    if filing.planned_ship_date <= valid_until:
        return ()
    message = (
        f"the licence is valid until {valid_until}, before the planned ship date"
        f" {filing.planned_ship_date}"
    )
    return (FieldProblem(field="planned_ship_date", message=message),)


class Progress(NamedTuple):
    """What the clock derives from an application without changing it."""

    overdue: bool
    working_days_elapsed: int
    controlled: bool


def progress(app: Application, now: datetime, calendar: Calendar) -> Progress:
    today = calendar.date_of(now)
    overdue = (
        app.status in CLOCK_RUNNING
        and app.due_at is not None
        and deadlines.has_passed(app.due_at, now)
    )
    elapsed = 0
    if app.accepted_at is not None:
        until = calendar.date_of(app.closed_at) if app.closed_at is not None else today
        elapsed = deadlines.working_days_elapsed(
            calendar.date_of(app.accepted_at),
            until,
            app.paused_working_days,
            app.paused_since,
            calendar,
        )
    return Progress(overdue, elapsed, any_controlled(app.filing.symbols(), today))
