"""Licences: what an approval is worth. Kinds, validity arithmetic, the lifecycle table and
depletion by shipments.

A `standard` licence covers one shipment for `valid_months` (1–12) months; a `temporary` one
covers several shipments up to the licensed quantity of each line for six calendar months.
`valid_until` is `valid_from` plus N calendar months, same day of month, clamped to the month's
last day (31 Aug + 6 → 28/29 Feb); a licence is usable from `valid_from` through `valid_until`.

Over 300 lines because a licence is one aggregate: its kinds, its table and the draw-down of
its lines by shipments are read together and change together.
"""

from __future__ import annotations

import calendar as gregorian
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, NamedTuple
from uuid import UUID

import msgspec

from licenceflow.domain.audit import Actor, Event, Reason, Role, roles_by_action
from licenceflow.domain.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidFiling,
    InvalidTransition,
    LicenceNotUsable,
    QuantityExceeded,
)
from licenceflow.domain.filing import (
    MAX_LINES,
    NO_CONTROL_CHARS,
    QUANTITY_PLACES,
    EndUseCategory,
    Filing,
    Form,
    Party,
    Quantity,
    TransportMode,
    exact,
)
from licenceflow.domain.values import Value

TEMPORARY_MONTHS = 6
KG = Decimal(1).scaleb(-QUANTITY_PLACES)


class Kind(StrEnum):
    STANDARD = "standard"
    TEMPORARY = "temporary"


class Status(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"
    REVOKED = "revoked"
    SURRENDERED = "surrendered"


class Action(StrEnum):
    ISSUE = "issue"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    REVOKE = "revoke"
    SURRENDER = "surrender"
    EXPIRE = "expire"
    SHIP = "ship"


class Rule(NamedTuple):
    to: Status | None  # None: `ship` keeps the licence active until nothing may be shipped
    roles: frozenset[Role]


_OFFICER = frozenset({Role.OFFICER})
_EXPORTER = frozenset({Role.EXPORTER})
_SYSTEM = frozenset({Role.SYSTEM})
S, A = Status, Action

TRANSITIONS: Mapping[tuple[Status, Action], Rule] = {
    (S.ACTIVE, A.SUSPEND): Rule(S.SUSPENDED, _OFFICER),
    (S.SUSPENDED, A.REINSTATE): Rule(S.ACTIVE, _OFFICER),
    **{(s, A.REVOKE): Rule(S.REVOKED, _OFFICER) for s in (S.ACTIVE, S.SUSPENDED)},
    **{(s, A.SURRENDER): Rule(S.SURRENDERED, _EXPORTER) for s in (S.ACTIVE, S.SUSPENDED)},
    **{(s, A.EXPIRE): Rule(S.EXPIRED, _SYSTEM) for s in (S.ACTIVE, S.SUSPENDED)},
    (S.ACTIVE, A.SHIP): Rule(None, _EXPORTER),
}

ACTION_ROLES = roles_by_action(TRANSITIONS, (a for a in Action if a is not Action.ISSUE))


def may_take(action: Action, role: Role) -> bool:
    return role in ACTION_ROLES.get(action, frozenset())


class LicenceLine(Value, frozen=True, kw_only=True):
    line: int
    element: str
    form: Form
    hs_code: str
    quantity_kg: Decimal
    used_kg: Decimal
    contains: tuple[str, ...] = ()  # a magnet's or alloy's other elements, as filed

    @property
    def remaining_kg(self) -> Decimal:
        return self.quantity_kg - self.used_kg


class ShippedLine(Value, frozen=True, kw_only=True):
    line: Annotated[int, msgspec.Meta(ge=1, le=MAX_LINES)]
    quantity_kg: Quantity


ShipmentRef = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NO_CONTROL_CHARS)]


class ShipmentRequest(Value, frozen=True, kw_only=True):
    """What an exporter records: a shipment made under the licence, line by line."""

    shipment_ref: ShipmentRef
    shipped_on: date
    lines: Annotated[tuple[ShippedLine, ...], msgspec.Meta(min_length=1, max_length=MAX_LINES)]


class Shipment(Value, frozen=True, kw_only=True):
    shipment_ref: str
    shipped_on: date
    lines: tuple[ShippedLine, ...]
    recorded_at: datetime
    recorded_by: str


class Particulars(Value, frozen=True, kw_only=True):
    """What the border reads off a licence besides its lines: fixed at issue, from the filing
    of the application it grants."""

    application_reference: str
    contract_ref: str
    exporter: Party
    consignee: Party
    end_user: Party
    destination_country: str
    end_use: str
    end_use_category: EndUseCategory
    transport_mode: TransportMode
    customs_port: str | None = None


class Licence(Value, frozen=True, kw_only=True):
    id: UUID
    number: str
    application_id: UUID
    org: str
    kind: Kind
    status: Status
    version: int
    issued_at: datetime
    valid_from: date
    valid_until: date
    lines: tuple[LicenceLine, ...]
    particulars: Particulars | None = None  # None only in a unit test's hand-made licence


class Transition(NamedTuple):
    licence: Licence
    event: Event


# Commands, as clients send them to /v1/licences/{id}/actions.
class Command(Value, tag_field="action", frozen=True, kw_only=True):
    reason: Reason | None = None


class Suspend(Command, tag=Action.SUSPEND.value, frozen=True, kw_only=True):
    reason: Reason


class Reinstate(Command, tag=Action.REINSTATE.value, frozen=True, kw_only=True):
    reason: Reason


class Revoke(Command, tag=Action.REVOKE.value, frozen=True, kw_only=True):
    reason: Reason


class Surrender(Command, tag=Action.SURRENDER.value, frozen=True, kw_only=True):
    pass


class Expire(Command, tag=Action.EXPIRE.value, frozen=True, kw_only=True):
    pass


LicenceCommand = Suspend | Reinstate | Revoke | Surrender | Expire


def add_months(start: date, months: int) -> date:
    """Same day of month `months` later, clamped to that month's last day."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, gregorian.monthrange(year, month)[1]))


def number_for(kind: Kind, application_reference: str) -> str:
    """One licence per application: `EL-2025-000123` → `LS-2025-000123` (LT- if temporary)."""
    return ("LT" if kind is Kind.TEMPORARY else "LS") + application_reference.removeprefix("EL")


def issue(
    *,
    id: UUID,
    application_id: UUID,
    application_reference: str,
    org: str,
    filing: Filing,
    kind: Kind,
    valid_months: int,
    actor: Actor,
    now: datetime,
    today: date,
) -> Transition:
    """The licence an approval grants, valid from the business date of issue."""
    months = TEMPORARY_MONTHS if kind is Kind.TEMPORARY else valid_months
    licence = Licence(
        id=id,
        number=number_for(kind, application_reference),
        application_id=application_id,
        org=org,
        kind=kind,
        status=Status.ACTIVE,
        version=1,
        issued_at=now,
        valid_from=today,
        valid_until=add_months(today, months),
        lines=tuple(
            LicenceLine(
                line=index,
                element=line.element,
                form=line.form,
                hs_code=line.hs_code,
                contains=line.contains,
                quantity_kg=line.quantity_kg.quantize(KG),
                used_kg=Decimal("0.000"),
            )
            for index, line in enumerate(filing.lines, start=1)
        ),
        particulars=Particulars(
            application_reference=application_reference,
            contract_ref=filing.contract_ref,
            exporter=filing.exporter,
            consignee=filing.consignee,
            end_user=filing.end_user,
            destination_country=filing.destination_country,
            end_use=filing.end_use,
            end_use_category=filing.end_use_category,
            transport_mode=filing.transport_mode,
            customs_port=filing.customs_port,
        ),
    )
    event = Event(
        action=Action.ISSUE,
        from_status=None,
        to_status=Status.ACTIVE,
        actor=actor,
        at=now,
        details={"kind": kind, "valid_until": licence.valid_until.isoformat()},
    )
    return Transition(licence, event)


def rule_for(status: Status, action: Action, role: Role) -> Rule:
    if not may_take(action, role):
        raise Forbidden(f"role '{role}' may not {action} a licence")
    rule = TRANSITIONS.get((status, action))
    if rule is None or role not in rule.roles:
        raise InvalidTransition(status, action)
    return rule


def apply(
    licence: Licence, command: LicenceCommand, actor: Actor, now: datetime, today: date
) -> Transition:
    """The licence after a lifecycle action, and its event."""
    action = Action(str(command.__struct_config__.tag))
    rule = rule_for(licence.status, action, actor.role)
    assert rule.to is not None
    if isinstance(command, Expire) and today <= licence.valid_until:
        raise Conflict(f"the licence is valid through {licence.valid_until}")
    return _transition(licence, rule.to, action, actor, now, reason=command.reason)


def drawn_lines(licence: Licence, request: ShipmentRequest, today: date) -> tuple[ShippedLine, ...]:
    """The shipment's lines as they would be recorded (quantities at 3 decimals), or
    `InvalidFiling` naming each line that is not a positive amount of a line of this licence,
    and a date after `today` (a shipment is recorded once made)."""
    known = {line.line for line in licence.lines}
    problems: list[FieldProblem] = []
    if request.shipped_on > today:
        problems.append(
            FieldProblem(
                field="shipped_on",
                message=f"{request.shipped_on} is after today ({today}): a shipment is recorded"
                " once it has been made",
            )
        )
    seen: set[int] = set()
    for index, shipped in enumerate(request.lines):
        at = f"lines[{index}]"
        if shipped.line not in known:
            problems.append(FieldProblem(field=f"{at}.line", message="no such licence line"))
        if shipped.line in seen:
            problems.append(FieldProblem(field=f"{at}.line", message="line listed twice"))
        seen.add(shipped.line)
        quantity = exact(shipped.quantity_kg, QUANTITY_PLACES)
        if quantity is None or quantity <= 0:
            problems.append(
                FieldProblem(
                    field=f"{at}.quantity_kg",
                    message=f"a positive number of kg below 10^15 with at most {QUANTITY_PLACES}"
                    " decimals",
                )
            )
    if problems:
        raise InvalidFiling(problems)
    return tuple(
        ShippedLine(line=s.line, quantity_kg=s.quantity_kg.quantize(KG)) for s in request.lines
    )


def ship(
    licence: Licence, request: ShipmentRequest, actor: Actor, now: datetime, today: date
) -> tuple[Transition, Shipment]:
    """Draw the licence down by a shipment; exhausted when no further shipment may be made.

    Checked in the contract's order: role (403), the lines (422), usability and quantities (409).
    """
    if not may_take(Action.SHIP, actor.role):
        raise Forbidden(f"role '{actor.role}' may not ship against a licence")
    drawn = drawn_lines(licence, request, today)
    by_line = {line.line: line for line in licence.lines}
    if licence.status is not Status.ACTIVE:
        raise LicenceNotUsable(f"the licence is {licence.status}")
    if not licence.valid_from <= request.shipped_on <= licence.valid_until:
        raise LicenceNotUsable(
            f"shipped on {request.shipped_on}, outside the validity "
            f"{licence.valid_from} – {licence.valid_until}"
        )
    for shipped in drawn:
        remaining = by_line[shipped.line].remaining_kg
        if shipped.quantity_kg > remaining:
            raise QuantityExceeded(
                f"line {shipped.line}: {shipped.quantity_kg} kg asked, {remaining} kg remain"
            )
    amounts = {s.line: s.quantity_kg for s in drawn}
    lines = tuple(
        msgspec.structs.replace(line, used_kg=line.used_kg + amounts.get(line.line, Decimal(0)))
        for line in licence.lines
    )
    spent = licence.kind is Kind.STANDARD or all(line.remaining_kg == 0 for line in lines)
    shipment = Shipment(
        shipment_ref=request.shipment_ref,
        shipped_on=request.shipped_on,
        lines=drawn,
        recorded_at=now,
        recorded_by=actor.sub,
    )
    details: dict[str, Any] = {
        "shipment_ref": request.shipment_ref,
        "shipped_on": request.shipped_on.isoformat(),
        "lines": [{"line": s.line, "quantity_kg": str(s.quantity_kg)} for s in drawn],
    }
    transition = _transition(
        msgspec.structs.replace(licence, lines=lines),
        Status.EXHAUSTED if spent else Status.ACTIVE,
        Action.SHIP,
        actor,
        now,
        details=details,
    )
    return transition, shipment


def _transition(
    licence: Licence,
    to: Status,
    action: Action,
    actor: Actor,
    now: datetime,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> Transition:
    after = msgspec.structs.replace(licence, status=to, version=licence.version + 1)
    event = Event(
        action=action,
        from_status=licence.status,
        to_status=to,
        actor=actor,
        at=now,
        reason=reason,
        details=details or {},
    )
    return Transition(after, event)
