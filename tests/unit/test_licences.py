"""Licences, the pure domain (`licenceflow.domain.licences`), against API.md's "Licences" section.

Covers:
- `add_months`: `valid_from` + N calendar months, same day of month, clamped to the month's last
  day (31 Aug + 6 → 28/29 Feb; 28 Feb + 6 → 28 Aug), across year ends and leap years.
- `issue()`: kind, validity (temporary: six months whatever `valid_months`; standard:
  `valid_months`, 12 by default from an `approve`), the number (`EL-…` → `LS-…`/`LT-…`), lines
  numbered from 1 with nothing used, status `active`, version 1, and the `issue` event.
- The lifecycle table, an independent literal copy of API.md (`active ⇄ suspended`; active or
  suspended → expired | revoked | surrendered), every status × action pair through `apply()`:
  the right role reaches the next status, any other role is `Forbidden`, the right role in a
  status the table does not list gets `InvalidTransition`; `expire` only once past `valid_until`.
- `ship()`: exact decimal draw-down, exhaustion (standard after its one shipment, temporary when
  nothing remains), `QuantityExceeded`, `LicenceNotUsable` (status or date), `InvalidFiling`
  naming the field, `Forbidden`, the order of those checks, and the recorded shipment and event.

Every expectation is written literally from API.md, never computed by the code under test.
"""

from __future__ import annotations

import copy
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
import pytest

from licenceflow.domain.applications import Approve
from licenceflow.domain.audit import Actor, Role
from licenceflow.domain.errors import (
    Conflict,
    Forbidden,
    InvalidFiling,
    InvalidTransition,
    LicenceNotUsable,
    QuantityExceeded,
)
from licenceflow.domain.filing import Filing
from licenceflow.domain.licences import (
    Kind,
    Licence,
    LicenceCommand,
    LicenceLine,
    ShipmentRequest,
    Status,
    Transition,
    add_months,
    apply,
    issue,
    ship,
)
from licenceflow.domain.values import convert
from tests.examples import EXAMPLE_FILING, line

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 7, 3, 14, 30, tzinfo=SHANGHAI)

EXPORTER = Actor(sub="alice", role=Role.EXPORTER)
LATE = date(2026, 12, 31)  # "today" for a shipment: after every date shipped here
OFFICER = Actor(sub="olga", role=Role.OFFICER)
VIEWER = Actor(sub="victor", role=Role.VIEWER)
SYSTEM = Actor(sub="licenceflow", role=Role.SYSTEM)
ACTORS = {"exporter": EXPORTER, "officer": OFFICER, "viewer": VIEWER, "system": SYSTEM}

LICENCE_ID = UUID("00000000-0000-4000-8000-0000000000a1")
APPLICATION_ID = UUID("00000000-0000-4000-8000-0000000000b2")


# --- add_months ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2025, 6, 2), 6, date(2025, 12, 2)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2027, 8, 31), 6, date(2028, 2, 29)),
        (date(2026, 2, 28), 6, date(2026, 8, 28)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 12, 15), 12, date(2026, 12, 15)),
        # month ends across a year boundary
        (date(2025, 12, 31), 1, date(2026, 1, 31)),
        (date(2025, 12, 31), 2, date(2026, 2, 28)),
        (date(2023, 12, 31), 2, date(2024, 2, 29)),
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2025, 10, 31), 4, date(2026, 2, 28)),
        (date(2025, 7, 31), 6, date(2026, 1, 31)),
        (date(2025, 9, 30), 6, date(2026, 3, 30)),
        (date(2025, 12, 31), 6, date(2026, 6, 30)),
        (date(2025, 12, 31), 12, date(2026, 12, 31)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2027, 2, 28), 12, date(2028, 2, 28)),
    ],
    ids=str,
)
def test_add_months_keeps_the_day_of_month_clamped_to_the_last_day(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected


# From 31 January 2025, each of the 1 to 12 months a standard licence may run.
FROM_THE_31ST = [
    (1, date(2025, 2, 28)),
    (2, date(2025, 3, 31)),
    (3, date(2025, 4, 30)),
    (4, date(2025, 5, 31)),
    (5, date(2025, 6, 30)),
    (6, date(2025, 7, 31)),
    (7, date(2025, 8, 31)),
    (8, date(2025, 9, 30)),
    (9, date(2025, 10, 31)),
    (10, date(2025, 11, 30)),
    (11, date(2025, 12, 31)),
    (12, date(2026, 1, 31)),
]


@pytest.mark.parametrize(
    ("months", "expected"), FROM_THE_31ST, ids=[str(m) for m, _ in FROM_THE_31ST]
)
def test_add_months_from_a_31st(months: int, expected: date) -> None:
    assert add_months(date(2025, 1, 31), months) == expected


# --- issue ---------------------------------------------------------------------------------


def filing_of(**changes: Any) -> Filing:
    return msgspec.convert(copy.deepcopy(EXAMPLE_FILING) | changes, Filing)


THREE_LINES = filing_of(
    lines=[
        line(quantity_kg="1250.5"),
        line(element="Tb", form="metal", hs_code="2805300010", quantity_kg="10.125"),
        line(element="Nd", form="magnet", hs_code="8505.11", quantity_kg="400", contains=["Fe"]),
    ]
)


def issued(
    kind: Kind,
    *,
    today: date = date(2025, 6, 2),
    valid_months: int = 12,
    filing: Filing = THREE_LINES,
    reference: str = "EL-2025-000123",
) -> Transition:
    return issue(
        id=LICENCE_ID,
        application_id=APPLICATION_ID,
        application_reference=reference,
        org="acme",
        filing=filing,
        kind=kind,
        valid_months=valid_months,
        actor=OFFICER,
        now=datetime(2025, 6, 2, 9, 15, tzinfo=SHANGHAI),
        today=today,
    )


@pytest.mark.parametrize(
    ("today", "valid_months", "valid_until"),
    [
        (date(2025, 6, 2), 12, date(2025, 12, 2)),
        (date(2025, 6, 2), 1, date(2025, 12, 2)),
        (date(2025, 8, 31), 12, date(2026, 2, 28)),
        (date(2027, 8, 31), 3, date(2028, 2, 29)),
        (date(2026, 2, 28), 12, date(2026, 8, 28)),
    ],
    ids=str,
)
def test_temporary_licence_runs_six_months_whatever_valid_months(
    today: date, valid_months: int, valid_until: date
) -> None:
    licence = issued(Kind.TEMPORARY, today=today, valid_months=valid_months).licence
    assert licence.kind == "temporary"
    assert licence.valid_from == today
    assert licence.valid_until == valid_until


@pytest.mark.parametrize(
    ("today", "valid_months", "valid_until"),
    [
        (date(2025, 6, 2), 12, date(2026, 6, 2)),
        (date(2025, 6, 2), 6, date(2025, 12, 2)),
        (date(2025, 6, 2), 1, date(2025, 7, 2)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
    ],
    ids=str,
)
def test_standard_licence_runs_valid_months(
    today: date, valid_months: int, valid_until: date
) -> None:
    licence = issued(Kind.STANDARD, today=today, valid_months=valid_months).licence
    assert licence.kind == "standard"
    assert licence.valid_from == today
    assert licence.valid_until == valid_until


def test_an_approve_without_valid_months_gives_a_twelve_month_standard_licence() -> None:
    approve = msgspec.convert({"action": "approve"}, Approve)
    licence = issued(Kind.STANDARD, valid_months=approve.valid_months).licence
    assert licence.valid_until == date(2026, 6, 2)


@pytest.mark.parametrize(
    ("kind", "number"), [(Kind.STANDARD, "LS-2025-000123"), (Kind.TEMPORARY, "LT-2025-000123")]
)
def test_licence_number_follows_the_application_reference(kind: Kind, number: str) -> None:
    assert issued(kind, reference="EL-2025-000123").licence.number == number


def test_issued_licence_is_active_version_1_and_belongs_to_the_application() -> None:
    licence = issued(Kind.STANDARD).licence
    assert licence.id == LICENCE_ID
    assert licence.application_id == APPLICATION_ID
    assert licence.org == "acme"
    assert licence.status == "active"
    assert licence.version == 1
    assert licence.issued_at == datetime(2025, 6, 2, 9, 15, tzinfo=SHANGHAI)


def test_issued_lines_are_numbered_from_1_with_nothing_used() -> None:
    lines = issued(Kind.TEMPORARY).licence.lines
    assert [
        (ln.line, ln.element, ln.form, ln.hs_code, ln.quantity_kg, ln.used_kg, ln.remaining_kg)
        for ln in lines
    ] == [
        (1, "Dy", "oxide", "2846.90", Decimal("1250.500"), 0, Decimal("1250.500")),
        (2, "Tb", "metal", "2805300010", Decimal("10.125"), 0, Decimal("10.125")),
        (3, "Nd", "magnet", "8505.11", Decimal("400.000"), 0, Decimal("400.000")),
    ]


def test_issue_event_records_the_officer_and_the_move_to_active() -> None:
    event = issued(Kind.STANDARD).event
    assert event.action == "issue"
    assert event.from_status is None
    assert event.to_status == "active"
    assert event.actor == OFFICER
    assert event.at == datetime(2025, 6, 2, 9, 15, tzinfo=SHANGHAI)


# --- licences in any state, built literally ------------------------------------------------


def licence_line(number: int, quantity: str, used: str = "0.000", **changes: Any) -> LicenceLine:
    values: dict[str, Any] = {"element": "Dy", "form": "oxide", "hs_code": "2846.90"} | changes
    return LicenceLine(line=number, quantity_kg=Decimal(quantity), used_kg=Decimal(used), **values)


def licence(
    status: str = "active",
    kind: str = "standard",
    lines: tuple[LicenceLine, ...] = (licence_line(1, "1250.500"),),
    **fields: Any,
) -> Licence:
    """A licence valid 2 June 2025 through 2 December 2025, version 3."""
    values: dict[str, Any] = {
        "id": LICENCE_ID,
        "number": "LS-2025-000123",
        "application_id": APPLICATION_ID,
        "org": "acme",
        "version": 3,
        "issued_at": datetime(2025, 6, 2, 9, 15, tzinfo=SHANGHAI),
        "valid_from": date(2025, 6, 2),
        "valid_until": date(2025, 12, 2),
    } | fields
    return Licence(status=Status(status), kind=Kind(kind), lines=lines, **values)


def temporary(status: str = "active", used: tuple[str, str] = ("0.000", "0.000")) -> Licence:
    """A temporary licence of two lines: 1250.500 kg of Dy oxide and 10.125 kg of Tb metal."""
    return licence(
        status,
        kind="temporary",
        number="LT-2025-000123",
        lines=(
            licence_line(1, "1250.500", used[0]),
            licence_line(2, "10.125", used[1], element="Tb", form="metal", hs_code="2805300010"),
        ),
    )


# --- the lifecycle table, copied from API.md -----------------------------------------------

STATUSES = ("active", "suspended", "exhausted", "expired", "revoked", "surrendered")
ACTIONS = ("suspend", "reinstate", "revoke", "surrender", "expire")
ROLES = ("exporter", "officer", "viewer", "system")

# action -> (the one role that may take it, {from status: to status})
TABLE: dict[str, tuple[str, dict[str, str]]] = {
    "suspend": ("officer", {"active": "suspended"}),
    "reinstate": ("officer", {"suspended": "active"}),
    "revoke": ("officer", {"active": "revoked", "suspended": "revoked"}),
    "surrender": ("exporter", {"active": "surrendered", "suspended": "surrendered"}),
    "expire": ("system", {"active": "expired", "suspended": "expired"}),
}
REASON = "end-user check pending"

ALLOWED = [(s, a, TABLE[a][1][s]) for a in ACTIONS for s in STATUSES if s in TABLE[a][1]]
REFUSED = [(s, a) for a in ACTIONS for s in STATUSES if s not in TABLE[a][1]]
FORBIDDEN = [(s, a, r) for a in ACTIONS for s in STATUSES for r in ROLES if r != TABLE[a][0]]

PAST_VALIDITY = date(2025, 12, 3)  # the day after valid_until: expire may run


def command(action: str) -> Any:
    """The action as a client (or the sweep) sends it; a reason whenever one is allowed."""
    return msgspec.convert({"action": action, "reason": REASON}, LicenceCommand)


def test_the_statuses_are_api_mds() -> None:
    assert {s.value for s in Status} == set(STATUSES)
    assert {k.value for k in Kind} == {"standard", "temporary"}


def test_the_table_covers_every_pair() -> None:
    assert len(ALLOWED) + len(REFUSED) == len(STATUSES) * len(ACTIONS) == 30
    assert len(ALLOWED) == 8


@pytest.mark.parametrize(
    ("status", "action", "to"), ALLOWED, ids=[f"{s}-{a}" for s, a, _ in ALLOWED]
)
def test_allowed_pair_leads_to_the_next_status(status: str, action: str, to: str) -> None:
    actor = ACTORS[TABLE[action][0]]
    before = licence(status)

    after, event = apply(before, command(action), actor, NOW, PAST_VALIDITY)

    assert after.status == to
    assert after.version == 4
    assert after.lines == before.lines
    assert after.valid_until == before.valid_until
    assert (event.action, event.from_status, event.to_status) == (action, status, to)
    assert event.actor == actor
    assert event.reason == REASON
    assert event.at == NOW


@pytest.mark.parametrize(("status", "action"), REFUSED, ids=[f"{s}-{a}" for s, a in REFUSED])
def test_pair_outside_the_table_is_an_invalid_transition(status: str, action: str) -> None:
    actor = ACTORS[TABLE[action][0]]
    with pytest.raises(InvalidTransition) as raised:
        apply(licence(status), command(action), actor, NOW, PAST_VALIDITY)
    assert raised.value.current_status == status
    assert raised.value.action == action


@pytest.mark.parametrize(
    ("status", "action", "role"), FORBIDDEN, ids=[f"{s}-{a}-{r}" for s, a, r in FORBIDDEN]
)
def test_role_that_may_not_take_the_action_is_forbidden_in_every_status(
    status: str, action: str, role: str
) -> None:
    with pytest.raises(Forbidden):
        apply(licence(status), command(action), ACTORS[role], NOW, PAST_VALIDITY)


@pytest.mark.parametrize("action", ["suspend", "reinstate", "revoke"])
def test_officer_actions_require_a_reason(action: str) -> None:
    with pytest.raises(msgspec.ValidationError, match="reason"):
        msgspec.convert({"action": action}, LicenceCommand)


def test_surrender_needs_no_reason() -> None:
    after, event = apply(
        licence(),
        msgspec.convert({"action": "surrender"}, LicenceCommand),
        EXPORTER,
        NOW,
        NOW.date(),
    )
    assert after.status == "surrendered"
    assert event.reason is None
    assert event.actor == EXPORTER


@pytest.mark.parametrize("status", ["active", "suspended"])
@pytest.mark.parametrize("today", [date(2025, 6, 2), date(2025, 12, 1), date(2025, 12, 2)], ids=str)
def test_expire_is_refused_on_or_before_valid_until(status: str, today: date) -> None:
    with pytest.raises(Conflict) as raised:
        apply(licence(status), command("expire"), SYSTEM, NOW, today)
    assert not isinstance(raised.value, InvalidTransition)
    assert "2025-12-02" in raised.value.detail


@pytest.mark.parametrize("status", ["active", "suspended"])
def test_expire_runs_the_day_after_valid_until(status: str) -> None:
    after, event = apply(licence(status), command("expire"), SYSTEM, NOW, date(2025, 12, 3))
    assert after.status == "expired"
    assert (event.from_status, event.to_status) == (status, "expired")
    assert event.actor == SYSTEM


def test_suspend_and_reinstate_go_back_and_forth_one_version_at_a_time() -> None:
    current = licence(version=1)
    seen = []
    for action, actor in [
        ("suspend", OFFICER),
        ("reinstate", OFFICER),
        ("suspend", OFFICER),
        ("surrender", EXPORTER),
    ]:
        current, event = apply(current, command(action), actor, NOW, NOW.date())
        seen.append((event.from_status, current.status, current.version))
    assert seen == [
        ("active", "suspended", 2),
        ("suspended", "active", 3),
        ("active", "suspended", 4),
        ("suspended", "surrendered", 5),
    ]


# --- shipments -----------------------------------------------------------------------------


def shipment(*lines: tuple[int, Any], shipped_on: str = "2025-07-03", ref: str = "BL-001") -> Any:
    return msgspec.convert(
        {
            "shipment_ref": ref,
            "shipped_on": shipped_on,
            "lines": [{"line": n, "quantity_kg": q} for n, q in lines],
        },
        ShipmentRequest,
    )


def used_and_remaining(licence: Licence) -> list[tuple[Decimal, Decimal]]:
    return [(ln.used_kg, ln.remaining_kg) for ln in licence.lines]


def test_api_md_example_shipment_draws_300_kg_and_exhausts_a_standard_licence() -> None:
    request = msgspec.json.decode(
        b'{"shipment_ref": "BL-001", "shipped_on": "2025-07-03",'
        b' "lines": [{"line": 1, "quantity_kg": "300"}]}',
        type=ShipmentRequest,
    )
    (after, _), _ = ship(licence(), request, EXPORTER, NOW, LATE)
    assert after.status == "exhausted"
    assert used_and_remaining(after) == [(Decimal("300.000"), Decimal("950.500"))]


def test_decimal_draw_down_is_exact() -> None:
    one_line = licence(kind="temporary", lines=(licence_line(1, "0.300"),))
    (first, _), _ = ship(one_line, shipment((1, "0.1")), EXPORTER, NOW, LATE)
    assert first.status == "active"
    assert used_and_remaining(first) == [(Decimal("0.100"), Decimal("0.200"))]

    (second, _), _ = ship(first, shipment((1, "0.2"), ref="BL-002"), EXPORTER, NOW, LATE)
    assert used_and_remaining(second) == [(Decimal("0.300"), Decimal("0.000"))]
    assert second.status == "exhausted"


def test_json_numbers_are_read_as_exact_decimals() -> None:
    one_line = licence(kind="temporary", lines=(licence_line(1, "0.300"),))
    request = msgspec.json.decode(
        b'{"shipment_ref": "BL-001", "shipped_on": "2025-07-03",'
        b' "lines": [{"line": 1, "quantity_kg": 0.1}]}',
        type=ShipmentRequest,
    )
    (first, _), _ = ship(one_line, request, EXPORTER, NOW, LATE)
    (second, _), _ = ship(first, shipment((1, 0.2), ref="BL-002"), EXPORTER, NOW, LATE)
    assert second.lines[0].used_kg == Decimal("0.300")
    assert second.lines[0].remaining_kg == 0
    assert second.status == "exhausted"


@pytest.mark.parametrize("quantity", ["0.001", "300", "1250.5"])
def test_standard_licence_is_exhausted_after_its_one_shipment(quantity: str) -> None:
    (after, event), _ = ship(licence(), shipment((1, quantity)), EXPORTER, NOW, LATE)
    assert after.status == "exhausted"
    assert (event.from_status, event.to_status) == ("active", "exhausted")
    with pytest.raises(LicenceNotUsable):
        ship(after, shipment((1, "0.001"), ref="BL-002"), EXPORTER, NOW, LATE)


def test_standard_licence_shipping_one_of_two_lines_is_exhausted() -> None:
    two_lines = licence(lines=(licence_line(1, "1250.500"), licence_line(2, "10.125")))
    (after, _), _ = ship(two_lines, shipment((2, "10")), EXPORTER, NOW, LATE)
    assert after.status == "exhausted"
    assert used_and_remaining(after) == [
        (Decimal("0.000"), Decimal("1250.500")),
        (Decimal("10.000"), Decimal("0.125")),
    ]


def test_temporary_licence_stays_active_until_every_line_is_drawn_down() -> None:
    (first, _), _ = ship(temporary(), shipment((1, "1250.5")), EXPORTER, NOW, LATE)
    assert first.status == "active"
    assert used_and_remaining(first) == [
        (Decimal("1250.500"), Decimal("0.000")),
        (Decimal("0.000"), Decimal("10.125")),
    ]

    (second, _), _ = ship(first, shipment((2, "10"), ref="BL-002"), EXPORTER, NOW, LATE)
    assert second.status == "active"

    (third, event), _ = ship(second, shipment((2, "0.125"), ref="BL-003"), EXPORTER, NOW, LATE)
    assert third.status == "exhausted"
    assert (event.from_status, event.to_status) == ("active", "exhausted")
    assert used_and_remaining(third) == [
        (Decimal("1250.500"), Decimal("0.000")),
        (Decimal("10.125"), Decimal("0.000")),
    ]


def test_temporary_licence_drawn_down_in_one_shipment_of_every_line_is_exhausted() -> None:
    (after, _), _ = ship(temporary(), shipment((1, "1250.500"), (2, "10.125")), EXPORTER, NOW, LATE)
    assert after.status == "exhausted"


def test_each_shipment_adds_one_version() -> None:
    (first, _), _ = ship(temporary(), shipment((1, "1")), EXPORTER, NOW, LATE)
    (second, _), _ = ship(first, shipment((1, "1"), ref="BL-002"), EXPORTER, NOW, LATE)
    assert (first.version, second.version) == (4, 5)


def test_used_plus_remaining_is_always_the_licensed_quantity() -> None:
    current = temporary()
    drawn = [
        ((1, "100.25"), (2, "0.001")),
        ((1, "0.75"),),
        ((2, "5.124"), (1, "999")),
        ((1, "150.5"),),
        ((2, "5"),),
    ]
    for index, lines in enumerate(drawn):
        (current, _), _ = ship(current, shipment(*lines, ref=f"BL-{index}"), EXPORTER, NOW, LATE)
        assert [ln.used_kg + ln.remaining_kg for ln in current.lines] == [
            Decimal("1250.500"),
            Decimal("10.125"),
        ]
    assert used_and_remaining(current) == [
        (Decimal("1250.500"), Decimal("0.000")),
        (Decimal("10.125"), Decimal("0.000")),
    ]
    assert current.status == "exhausted"


@pytest.mark.parametrize(
    ("used", "asked", "lines_used"),
    [
        (("0.000", "0.000"), "1250.501", (1, "1250.501")),
        (("1000.000", "0.000"), "250.501", (1, "250.501")),
        (("0.000", "10.125"), "0.001", (2, "0.001")),
    ],
    ids=["over-the-licence", "over-what-remains", "line-fully-drawn"],
)
def test_more_than_remains_is_quantity_exceeded(
    used: tuple[str, str], asked: str, lines_used: tuple[int, str]
) -> None:
    with pytest.raises(QuantityExceeded):
        ship(temporary(used=used), shipment(lines_used), EXPORTER, NOW, LATE)


def test_one_line_over_its_remaining_refuses_the_whole_shipment() -> None:
    with pytest.raises(QuantityExceeded):
        ship(temporary(), shipment((1, "1"), (2, "10.126")), EXPORTER, NOW, LATE)


def test_exactly_what_remains_may_be_shipped() -> None:
    (after, _), _ = ship(
        temporary(used=("1000.000", "0.000")), shipment((1, "250.5")), EXPORTER, NOW, LATE
    )
    assert used_and_remaining(after)[0] == (Decimal("1250.500"), Decimal("0.000"))


@pytest.mark.parametrize("status", ["suspended", "exhausted", "expired", "revoked", "surrendered"])
@pytest.mark.parametrize("kind", ["standard", "temporary"])
def test_a_licence_that_is_not_active_is_not_usable(status: str, kind: str) -> None:
    with pytest.raises(LicenceNotUsable):
        ship(licence(status, kind=kind), shipment((1, "1")), EXPORTER, NOW, LATE)


@pytest.mark.parametrize("shipped_on", ["2025-06-01", "2025-12-03", "2026-06-02"])
def test_shipped_outside_validity_is_not_usable(shipped_on: str) -> None:
    with pytest.raises(LicenceNotUsable):
        ship(licence(), shipment((1, "1"), shipped_on=shipped_on), EXPORTER, NOW, LATE)


@pytest.mark.parametrize("shipped_on", ["2025-06-02", "2025-12-02"])
def test_shipped_on_the_first_or_last_day_of_validity_is_fine(shipped_on: str) -> None:
    (after, _), recorded = ship(
        licence(), shipment((1, "1"), shipped_on=shipped_on), EXPORTER, NOW, LATE
    )
    assert after.status == "exhausted"
    assert recorded.shipped_on == date.fromisoformat(shipped_on)


def problems_of(raised: pytest.ExceptionInfo[InvalidFiling]) -> list[str]:
    return [p.field for p in raised.value.problems]


@pytest.mark.parametrize(
    ("lines", "fields"),
    [
        (((3, "1"),), ["lines[0].line"]),
        (((1, "1"), (1, "2")), ["lines[1].line"]),
        (((2, "1"), (1, "2"), (2, "1")), ["lines[2].line"]),
        (((1, "0"),), ["lines[0].quantity_kg"]),
        (((1, "0.000"),), ["lines[0].quantity_kg"]),
        (((1, "-1"),), ["lines[0].quantity_kg"]),
        (((1, "1"), (2, "-0.001")), ["lines[1].quantity_kg"]),
        (((1, "0.0001"),), ["lines[0].quantity_kg"]),
        (((1, "1.2345"),), ["lines[0].quantity_kg"]),
        (((1, "NaN"),), ["lines[0].quantity_kg"]),
        (((1, "Infinity"),), ["lines[0].quantity_kg"]),
        (((9, "1.2345"), (1, "1")), ["lines[0].line", "lines[0].quantity_kg"]),
    ],
    ids=[
        "unknown-line",
        "line-twice",
        "line-twice-later",
        "zero",
        "zero-3-places",
        "negative",
        "negative-second",
        "4-decimals-tiny",
        "4-decimals",
        "nan",
        "infinity",
        "two-problems",
    ],
)
def test_invalid_lines_are_named_by_field(
    lines: tuple[tuple[int, str], ...], fields: list[str]
) -> None:
    with pytest.raises(InvalidFiling) as raised:
        ship(temporary(), shipment(*lines), EXPORTER, NOW, LATE)
    assert problems_of(raised) == fields


def test_line_zero_is_refused_when_the_request_is_read() -> None:
    data = {
        "shipment_ref": "BL-001",
        "shipped_on": "2025-07-03",
        "lines": [{"line": 0, "quantity_kg": "1"}],
    }
    with pytest.raises(InvalidFiling) as raised:
        convert(data, ShipmentRequest)
    assert problems_of(raised) == ["lines[0].line"]


def test_trailing_zeros_beyond_three_places_are_still_three_decimals() -> None:
    (after, _), recorded = ship(temporary(), shipment((1, "1.5000")), EXPORTER, NOW, LATE)
    assert after.lines[0].used_kg == Decimal("1.500")
    assert str(recorded.lines[0].quantity_kg) == "1.500"


@pytest.mark.parametrize("actor", [OFFICER, VIEWER, SYSTEM], ids=lambda a: a.role)
def test_only_an_exporter_ships(actor: Actor) -> None:
    with pytest.raises(Forbidden):
        ship(licence(), shipment((1, "1")), actor, NOW, LATE)


def test_checks_run_role_then_lines_then_usability_then_quantity() -> None:
    bad_lines = shipment((7, "-1"))
    too_much_late = shipment((1, "5000"), shipped_on="2026-01-05")
    too_much = shipment((1, "5000"))
    suspended = licence("suspended")

    with pytest.raises(Forbidden):
        ship(suspended, bad_lines, VIEWER, NOW, LATE)
    with pytest.raises(InvalidFiling):
        ship(suspended, bad_lines, EXPORTER, NOW, LATE)
    with pytest.raises(LicenceNotUsable):
        ship(suspended, too_much, EXPORTER, NOW, LATE)
    with pytest.raises(LicenceNotUsable):
        ship(licence(), too_much_late, EXPORTER, NOW, LATE)
    with pytest.raises(QuantityExceeded):
        ship(licence(), too_much, EXPORTER, NOW, LATE)


def test_the_shipment_is_recorded_with_normalized_lines() -> None:
    request = shipment((2, "10"), (1, "0.5"), ref="BL-077", shipped_on="2025-09-30")
    _, recorded = ship(temporary(), request, EXPORTER, NOW, LATE)
    assert recorded.shipment_ref == "BL-077"
    assert recorded.shipped_on == date(2025, 9, 30)
    assert [(s.line, str(s.quantity_kg)) for s in recorded.lines] == [(2, "10.000"), (1, "0.500")]
    assert recorded.recorded_at == NOW
    assert recorded.recorded_by == "alice"


def test_the_ship_event_records_the_shipment() -> None:
    request = shipment((2, "10"), (1, "0.5"), ref="BL-077", shipped_on="2025-09-30")
    (_, event), _ = ship(temporary(), request, EXPORTER, NOW, LATE)
    assert event.action == "ship"
    assert (event.from_status, event.to_status) == ("active", "active")
    assert event.actor == EXPORTER
    assert event.at == NOW
    assert event.details == {
        "shipment_ref": "BL-077",
        "shipped_on": "2025-09-30",
        "lines": [{"line": 2, "quantity_kg": "10.000"}, {"line": 1, "quantity_kg": "0.500"}],
    }


@pytest.mark.parametrize("quantity", ["1e30", "99999999999999999999999999.5"])
def test_a_huge_quantity_is_refused_not_crashed(quantity: str) -> None:
    with pytest.raises(InvalidFiling):
        ship(licence(), shipment((1, quantity)), EXPORTER, NOW, LATE)


def test_a_shipment_dated_after_today_is_refused_naming_the_date() -> None:
    with pytest.raises(InvalidFiling) as raised:
        ship(licence(), shipment((1, "1"), shipped_on="2025-07-04"), EXPORTER, NOW, NOW.date())
    assert problems_of(raised) == ["shipped_on"]
    (after, _), _ = ship(
        licence(), shipment((1, "1"), shipped_on="2025-07-03"), EXPORTER, NOW, NOW.date()
    )
    assert after.status == "exhausted"
