"""The application transition table, copied literally from API.md ("Applications": the action
table, plus the service's own `deadline_passed` and `lapse`, and draft edits).

Every (status, action) pair of the 9 statuses × 12 actions is checked through `rule_for`:
the right role gets the right next status, any other role is `Forbidden` whatever the status,
and the right role in a status the table does not list gets `InvalidTransition`.
The production table is never read back to build these expectations.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from licenceflow.clock import WorkingCalendar
from licenceflow.domain.applications import (
    Action,
    Application,
    RequestInfo,
    Respond,
    Status,
    apply,
    rule_for,
)
from licenceflow.domain.audit import Actor, Role
from licenceflow.domain.errors import Forbidden, InvalidTransition

STATUSES = (
    "draft",
    "submitted",
    "under_review",
    "info_requested",
    "delayed",
    "approved",
    "temporarily_approved",
    "rejected",
    "withdrawn",
)
ACTIONS = (
    "submit",
    "withdraw",
    "respond",
    "accept",
    "request_info",
    "delay",
    "approve",
    "approve_temporary",
    "reject",
    "deadline_passed",
    "lapse",
    "edit",
)
ROLES = ("exporter", "officer", "viewer", "system")

ORIGIN = "<origin>"  # respond: back to the status the request for information came from

# action -> (the one role that may take it, {from status: to status}), as API.md states it.
TABLE: dict[str, tuple[str, dict[str, str]]] = {
    "submit": ("exporter", {"draft": "submitted"}),
    "withdraw": (
        "exporter",
        {
            "draft": "withdrawn",
            "submitted": "withdrawn",
            "under_review": "withdrawn",
            "info_requested": "withdrawn",
            "delayed": "withdrawn",
        },
    ),
    "respond": ("exporter", {"info_requested": ORIGIN}),
    "accept": ("officer", {"submitted": "under_review"}),
    "request_info": ("officer", {"under_review": "info_requested", "delayed": "info_requested"}),
    "delay": ("officer", {"under_review": "delayed"}),
    "approve": ("officer", {"under_review": "approved", "delayed": "approved"}),
    "approve_temporary": (
        "officer",
        {"under_review": "temporarily_approved", "delayed": "temporarily_approved"},
    ),
    "reject": (
        "officer",
        {
            "submitted": "rejected",
            "under_review": "rejected",
            "info_requested": "rejected",
            "delayed": "rejected",
        },
    ),
    "deadline_passed": ("system", {"under_review": "delayed"}),
    "lapse": ("system", {"info_requested": "rejected"}),
    "edit": ("exporter", {"draft": "draft"}),
}

ALLOWED = [(s, a, TABLE[a][1][s]) for a in ACTIONS for s in STATUSES if s in TABLE[a][1]]
REFUSED = [(s, a) for a in ACTIONS for s in STATUSES if s not in TABLE[a][1]]
FORBIDDEN = [(s, a, r) for a in ACTIONS for s in STATUSES for r in ROLES if r != TABLE[a][0]]


def test_the_statuses_and_actions_are_api_mds() -> None:
    assert {s.value for s in Status} == set(STATUSES)
    assert set(ACTIONS) <= {a.value for a in Action}
    assert set(TABLE) == set(ACTIONS)


def test_the_table_covers_every_pair() -> None:
    assert len(ALLOWED) + len(REFUSED) == len(STATUSES) * len(ACTIONS) == 108


@pytest.mark.parametrize(
    ("status", "action", "to"), ALLOWED, ids=[f"{s}-{a}" for s, a, _ in ALLOWED]
)
def test_allowed_pair_leads_to_the_next_status(status: str, action: str, to: str) -> None:
    role = TABLE[action][0]
    rule = rule_for(Status(status), Action(action), Role(role))
    if to == ORIGIN:
        assert rule.to is None
    else:
        assert rule.to == to
    assert Role(role) in rule.roles


@pytest.mark.parametrize(("status", "action"), REFUSED, ids=[f"{s}-{a}" for s, a in REFUSED])
def test_pair_outside_the_table_is_an_invalid_transition(status: str, action: str) -> None:
    role = TABLE[action][0]
    with pytest.raises(InvalidTransition) as raised:
        rule_for(Status(status), Action(action), Role(role))
    assert raised.value.current_status == status
    assert raised.value.action == action


@pytest.mark.parametrize(
    ("status", "action", "role"), FORBIDDEN, ids=[f"{s}-{a}-{r}" for s, a, r in FORBIDDEN]
)
def test_role_that_never_may_is_forbidden_in_every_status(
    status: str, action: str, role: str
) -> None:
    with pytest.raises(Forbidden):
        rule_for(Status(status), Action(action), Role(role))


SHANGHAI = ZoneInfo("Asia/Shanghai")
EXPORTER = Actor(sub="alice", role=Role.EXPORTER)
OFFICER = Actor(sub="olga", role=Role.OFFICER)


@pytest.mark.parametrize("origin", ["under_review", "delayed"])
def test_respond_returns_to_the_status_the_request_came_from(
    origin: str, make_app: Callable[..., Application], calendar: WorkingCalendar
) -> None:
    asked_at = datetime(2025, 10, 9, 10, 0, tzinfo=SHANGHAI)
    answered_at = datetime(2025, 10, 14, 10, 0, tzinfo=SHANGHAI)
    app = make_app(origin)

    asked = apply(app, RequestInfo(reason="end-user certificate"), OFFICER, asked_at, calendar)
    assert asked.application.status == "info_requested"

    answered = apply(
        asked.application, Respond(response="attached"), EXPORTER, answered_at, calendar
    )
    assert answered.application.status == origin
    assert answered.event.from_status == "info_requested"
    assert answered.event.to_status == origin
