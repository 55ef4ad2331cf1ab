"""Random sequences of actions by random roles on one application and its licence, checked
against API.md's transition table (copied in test_transitions, never read from the code) and
the licence's draw-down arithmetic: whatever the order, no invariant breaks (issue 18).

An allowed (status, action, role) moves the file where the table says, one version up; any other
is refused and changes nothing. Once decided or withdrawn, a file never moves again. A licence's
lines always hold used + remaining = licensed, none of them negative; a refused shipment draws
nothing, and a standard licence is exhausted by its first shipment."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from licenceflow.clock import WorkingCalendar
from licenceflow.domain import applications as domain
from licenceflow.domain import licences
from licenceflow.domain.applications import Application, Status
from licenceflow.domain.audit import Actor, Role
from licenceflow.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidFiling,
    InvalidTransition,
)
from licenceflow.domain.filing import Filing
from licenceflow.domain.values import convert
from tests.examples import EXAMPLE_FILING, line
from tests.unit.test_transitions import ACTIONS, ORIGIN, ROLES, TABLE

CALENDAR = WorkingCalendar()
START = datetime(2025, 6, 2, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
FILING = convert(
    EXAMPLE_FILING
    | {
        "lines": [line(quantity_kg="100"), line(element="Tb", quantity_kg="7.5")],
        # later than any run reaches (40 steps of at most 500 hours): a draft may always be
        # submitted, so that every run can go on to the decisions and what follows them
        "planned_ship_date": "2028-06-01",
    },
    Filing,
)
CLOSED = {"approved", "temporarily_approved", "rejected", "withdrawn"}
BODIES: dict[str, dict[str, Any]] = {
    "respond": {"response": "the end-user statement"},
    "request_info": {"reason": "end-user statement missing"},
    "delay": {"reason": "security review"},
    "reject": {"reason": "refused"},
    "edit": {"filing": msgspec.to_builtins(FILING)},
}


def command(action: str) -> Any:
    return convert({"action": action, **BODIES.get(action, {})}, domain.ActionCommand | domain.Edit)


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        filed = domain.file(
            id=uuid4(),
            org="acme",
            reference="EL-2025-000001",
            filing=FILING,
            actor=Actor(sub="alice", role=Role.EXPORTER),
            now=START,
        )
        self.app: Application = filed.application
        self.now = START
        self.asked_from: str | None = None  # where a request for information came from
        self.licence: licences.Licence | None = None
        self.closed: str | None = None  # the status the file closed in, once it has

    @rule(
        action=st.sampled_from(ACTIONS),
        role=st.one_of(st.none(), st.sampled_from(ROLES)),  # None: the role the table names
        hours=st.integers(0, 500),
    )
    def act(self, action: str, role: str | None, hours: int) -> None:
        role = role or TABLE[action][0]  # half the time: so that files get somewhere
        self.now += timedelta(hours=hours)
        before = self.app
        allowed_role, moves = TABLE[action]
        try:
            after, _ = domain.apply(
                before, command(action), Actor(sub="x", role=Role(role)), self.now, CALENDAR
            )
        except (Forbidden, InvalidTransition):
            assert role != allowed_role or before.status.value not in moves
            return
        except Conflict:  # the system's own actions wait for their deadlines
            assert action in ("deadline_passed", "lapse")
            return
        except InvalidFiling:  # a draft planned to ship before the day it would be submitted
            assert action == "submit"
            assert before.filing.planned_ship_date < CALENDAR.date_of(self.now)
            return
        assert role == allowed_role
        assert before.status.value in moves
        expected = moves[before.status.value]
        assert after.status.value == (self.asked_from if expected == ORIGIN else expected)
        assert after.version == before.version + 1
        if action == "request_info":
            self.asked_from = before.status.value
        self.app = after
        if after.status in (Status.APPROVED, Status.TEMPORARILY_APPROVED):
            temporary = after.status is Status.TEMPORARILY_APPROVED
            self.licence = licences.issue(
                id=uuid4(),
                application_id=after.id,
                application_reference=after.reference,
                org=after.org,
                filing=after.filing,
                kind=licences.Kind.TEMPORARY if temporary else licences.Kind.STANDARD,
                valid_months=12,
                actor=Actor(sub="olga", role=Role.OFFICER),
                now=self.now,
                today=CALENDAR.date_of(self.now),
            ).licence

    @rule(pick=st.integers(0, 11), hours=st.integers(0, 500))
    def progress(self, pick: int, hours: int) -> None:
        """An action the table allows from the file's status, by its role: files get somewhere
        (through approval to a licence, into and out of requests for information), and from
        there `act` tries everything else."""
        allowed = [a for a in ACTIONS if self.app.status.value in TABLE[a][1]]
        if allowed:
            self.act(allowed[pick % len(allowed)], None, hours)

    @rule(temporary=st.booleans(), hours=st.integers(0, 500))
    def towards_a_licence(self, temporary: bool, hours: int) -> None:
        """The next step of the way to a licence, by the role that may take it: most runs get a
        licence to ship against, and a closed file for `act` to try to move."""
        forward = {
            "draft": "submit",
            "submitted": "accept",
            "info_requested": "respond",
            "under_review": "approve_temporary" if temporary else "approve",
            "delayed": "approve_temporary" if temporary else "approve",
        }
        if (step := forward.get(self.app.status.value)) is not None:
            self.act(step, None, hours)

    @precondition(lambda self: self.licence is not None)
    @rule(
        number=st.integers(1, 3),  # line 3 does not exist
        kg=st.decimals(min_value=Decimal("-1"), max_value=Decimal("120"), places=3),
        days=st.integers(-5, 400),
    )
    def ship(self, number: int, kg: Decimal, days: int) -> None:
        licence = self.licence
        assert licence is not None
        request = licences.ShipmentRequest(
            shipment_ref=f"BL-{uuid4().hex[:8]}",
            shipped_on=licence.valid_from + timedelta(days=days),
            lines=(licences.ShippedLine(line=number, quantity_kg=kg),),
        )
        remaining = {lin.line: lin.remaining_kg for lin in licence.lines}
        try:
            transition, _ = licences.ship(
                licence,
                request,
                Actor(sub="alice", role=Role.EXPORTER),
                self.now,
                today=licence.valid_from + timedelta(days=400),  # every drawn date is past
            )
        except DomainError:
            return  # refused: the licence is unchanged (self.licence still the one before)
        assert licence.status is licences.Status.ACTIVE  # only an active licence ships
        assert 0 < kg <= remaining[number]
        after = transition.licence
        drawn = {lin.line: lin.used_kg for lin in after.lines}
        was = {lin.line: lin.used_kg for lin in licence.lines}
        assert drawn[number] - was[number] == kg
        if licence.kind is licences.Kind.STANDARD:
            assert after.status is licences.Status.EXHAUSTED
        self.licence = after

    @invariant()
    def a_closed_file_stays_closed(self) -> None:
        if self.closed is None and self.app.status.value in CLOSED:
            self.closed = self.app.status.value
        assert self.closed is None or self.app.status.value == self.closed

    @invariant()
    def the_draw_down_adds_up(self) -> None:
        if self.licence is None:
            return
        for lin in self.licence.lines:
            assert lin.used_kg >= 0
            assert lin.remaining_kg >= 0
            assert lin.used_kg + lin.remaining_kg == lin.quantity_kg


Lifecycle.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestLifecycle = Lifecycle.TestCase
