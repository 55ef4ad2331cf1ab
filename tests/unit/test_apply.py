"""`apply()`: what each action does to an application besides changing its status.

Covers the statutory deadline (end of the 45th working day after the acceptance date, in
Asia/Shanghai), its pause while information is requested, referral (`delay`), the system's
`deadline_passed` and `lapse` and when they are refused, decisions (`decided_at`, `decision`,
reason codes), the version, the audit event, and how client JSON becomes a command.
Expected dates are worked out by hand from the 2025 CN calendar (Golden Week 1–8 Oct; Sunday
28 Sep and Saturday 11 Oct are working days).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from licenceflow.clock import WorkingCalendar
from licenceflow.domain.applications import (
    Accept,
    ActionCommand,
    Application,
    Approve,
    ApproveTemporary,
    DeadlinePassed,
    Decision,
    Delay,
    Edit,
    Lapse,
    Reject,
    RequestInfo,
    Respond,
    Submit,
    Withdraw,
    apply,
    progress,
)
from licenceflow.domain.audit import Actor, Role
from licenceflow.domain.errors import Conflict, Forbidden, InvalidFiling
from licenceflow.domain.filing import Filing
from licenceflow.domain.values import convert

SHANGHAI = ZoneInfo("Asia/Shanghai")
EXPORTER = Actor(sub="alice", role=Role.EXPORTER)
OFFICER = Actor(sub="olga", role=Role.OFFICER)
SYSTEM = Actor(sub="licenceflow", role=Role.SYSTEM)
VIEWER = Actor(sub="victor", role=Role.VIEWER)

MakeApp = Callable[..., Application]


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0, ss: int = 0) -> datetime:
    """A moment in business time (Asia/Shanghai)."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI)


def end_of(y: int, m: int, d: int) -> datetime:
    return at(y, m, d, 23, 59, 59)


# Accepted on Friday 26 September 2025: the 45th working day after it is Thursday 4 December
# (28 Sep, 29, 30, Golden Week off, 9 Oct, 10, 11 (Saturday, make-up), then weekdays).
ACCEPTED_AT = at(2025, 9, 26)
DUE_AT = end_of(2025, 12, 4)


@pytest.fixture
def reviewing(make_app: MakeApp) -> Application:
    """Under review since 26 September 2025, due 4 December 2025."""
    return make_app(
        "under_review", submitted_at=at(2025, 9, 25), accepted_at=ACCEPTED_AT, due_at=DUE_AT
    )


# --- accept: the statutory clock starts --------------------------------------------------------


def test_accept_sets_accepted_at_and_due_at(make_app: MakeApp, calendar: WorkingCalendar) -> None:
    app = make_app("submitted", submitted_at=at(2025, 9, 25))
    after, event = apply(app, Accept(), OFFICER, ACCEPTED_AT, calendar)
    assert after.status == "under_review"
    assert after.accepted_at == ACCEPTED_AT
    assert after.due_at == DUE_AT
    assert after.due_at.utcoffset() is not None
    assert event.details["due_at"] == "2025-12-04T23:59:59+08:00"


def test_accept_counts_from_the_business_date_not_the_utc_date(
    make_app: MakeApp, calendar: WorkingCalendar
) -> None:
    # 17:00 UTC on Sunday 28 Sep is 01:00 on Monday 29 Sep in Beijing: 29 Sep is the acceptance
    # date, so the 45th working day after it is Monday 8 December (not Friday 5 December).
    now = datetime(2025, 9, 28, 17, 0, tzinfo=UTC)
    after, _ = apply(make_app("submitted"), Accept(), OFFICER, now, calendar)
    assert after.accepted_at == now
    assert after.due_at == end_of(2025, 12, 8)


def test_accept_before_spring_festival(make_app: MakeApp, calendar: WorkingCalendar) -> None:
    # Friday 24 Jan 2025: 26 Jan (Sunday, make-up), 27, holidays 28 Jan–4 Feb, 5–8 Feb (8 is a
    # make-up Saturday), then weekdays: the 45th is Thursday 3 April 2025.
    after, _ = apply(make_app("submitted"), Accept(), OFFICER, at(2025, 1, 24), calendar)
    assert after.due_at == end_of(2025, 4, 3)


# --- request_info / respond: the clock pauses --------------------------------------------------


def test_request_info_keeps_the_deadline_and_remembers_the_origin(
    reviewing: Application, calendar: WorkingCalendar
) -> None:
    after, event = apply(
        reviewing, RequestInfo(reason="end-user certificate"), OFFICER, at(2025, 10, 9), calendar
    )
    assert after.status == "info_requested"
    assert after.due_at == DUE_AT
    assert after.resume_status == "under_review"
    assert after.paused_since == date(2025, 10, 9)
    # 20 working days after Thursday 9 Oct: 10, 11 (make-up Saturday), 13–17, 20–24, 27–31,
    # 3, 4, 5 Nov.
    assert event.details["respond_by"] == "2025-11-05T23:59:59+08:00"


def test_respond_moves_due_at_by_the_paused_working_days(
    reviewing: Application, calendar: WorkingCalendar
) -> None:
    asked, _ = apply(
        reviewing, RequestInfo(reason="certificate"), OFFICER, at(2025, 10, 9), calendar
    )
    after, event = apply(
        asked, Respond(response="certificate attached"), EXPORTER, at(2025, 10, 14), calendar
    )
    # Paused: 10 Oct, 11 Oct (make-up Saturday), 13 Oct, 14 Oct = 4 working days;
    # 4 December + 4 working days = Wednesday 10 December.
    assert after.status == "under_review"
    assert after.paused_working_days == 4
    assert after.due_at == end_of(2025, 12, 10)
    assert after.resume_status is None
    assert after.paused_since is None
    assert after.accepted_at == ACCEPTED_AT
    assert event.details["response"] == "certificate attached"


def test_holidays_during_the_pause_do_not_move_the_deadline(
    reviewing: Application, calendar: WorkingCalendar
) -> None:
    asked, _ = apply(reviewing, RequestInfo(reason="why"), OFFICER, at(2025, 9, 30), calendar)
    after, _ = apply(asked, Respond(response="because"), EXPORTER, at(2025, 10, 9), calendar)
    # From 1 Oct through 9 Oct only 9 Oct is a working day.
    assert after.paused_working_days == 1
    assert after.due_at == end_of(2025, 12, 5)


def test_a_same_day_answer_pauses_nothing(
    reviewing: Application, calendar: WorkingCalendar
) -> None:
    asked, _ = apply(reviewing, RequestInfo(reason="why"), OFFICER, at(2025, 10, 9, 9), calendar)
    after, _ = apply(asked, Respond(response="because"), EXPORTER, at(2025, 10, 9, 17), calendar)
    assert after.paused_working_days == 0
    assert after.due_at == DUE_AT


def test_pauses_add_up(reviewing: Application, calendar: WorkingCalendar) -> None:
    app = reviewing
    for asked_on, answered_on in (
        (at(2025, 10, 9), at(2025, 10, 14)),
        (at(2025, 11, 3), at(2025, 11, 5)),
    ):
        app, _ = apply(app, RequestInfo(reason="more"), OFFICER, asked_on, calendar)
        app, _ = apply(app, Respond(response="here"), EXPORTER, answered_on, calendar)
    # 4 working days (10, 11, 13, 14 Oct) + 2 (4, 5 Nov) = 6: 4 Dec + 6 = Friday 12 December.
    assert app.paused_working_days == 6
    assert app.due_at == end_of(2025, 12, 12)


def test_respond_in_a_referral_keeps_it_without_deadline(
    make_app: MakeApp, calendar: WorkingCalendar
) -> None:
    referred = make_app("delayed", accepted_at=ACCEPTED_AT, due_at=None, referred=True)
    asked, _ = apply(referred, RequestInfo(reason="more"), OFFICER, at(2025, 10, 9), calendar)
    after, _ = apply(asked, Respond(response="here"), EXPORTER, at(2025, 10, 14), calendar)
    assert after.status == "delayed"
    assert after.due_at is None


def test_respond_after_the_deadline_passed_still_moves_due_at(
    reviewing: Application, calendar: WorkingCalendar
) -> None:
    overdue, _ = apply(reviewing, DeadlinePassed(), SYSTEM, at(2025, 12, 5, 0), calendar)
    asked, _ = apply(overdue, RequestInfo(reason="more"), OFFICER, at(2025, 12, 8), calendar)
    after, _ = apply(asked, Respond(response="here"), EXPORTER, at(2025, 12, 10), calendar)
    # Paused 9 and 10 December: 4 December + 2 working days = Monday 8 December.
    assert after.status == "delayed"
    assert after.due_at == end_of(2025, 12, 8)


# --- delay and deadline_passed -----------------------------------------------------------------


def test_delay_is_a_referral_without_deadline(
    reviewing: Application, calendar: WorkingCalendar
) -> None:
    after, event = apply(
        reviewing, Delay(reason="security review"), OFFICER, at(2025, 10, 20), calendar
    )
    assert after.status == "delayed"
    assert after.due_at is None
    assert after.referred is True
    assert event.reason == "security review"


@pytest.mark.parametrize(
    "now", [at(2025, 12, 4, 12), DUE_AT], ids=["on-the-due-day", "at-due-at-exactly"]
)
def test_deadline_passed_is_refused_until_due_at_has_passed(
    reviewing: Application, calendar: WorkingCalendar, now: datetime
) -> None:
    with pytest.raises(Conflict):
        apply(reviewing, DeadlinePassed(), SYSTEM, now, calendar)


def test_deadline_passed_delays_an_overdue_review(
    reviewing: Application, calendar: WorkingCalendar
) -> None:
    now = at(2025, 12, 5, 0, 0, 0)
    after, event = apply(reviewing, DeadlinePassed(), SYSTEM, now, calendar)
    assert after.status == "delayed"
    assert after.due_at == DUE_AT  # kept: the application is overdue, not referred
    assert after.referred is False
    assert (event.from_status, event.to_status) == ("under_review", "delayed")
    assert event.actor == SYSTEM


# --- lapse -------------------------------------------------------------------------------------


@pytest.fixture
def waiting(make_app: MakeApp) -> Application:
    """Information requested on Thursday 9 October 2025; unanswered."""
    return make_app(
        "info_requested",
        accepted_at=ACCEPTED_AT,
        due_at=DUE_AT,
        resume_status="under_review",
        paused_since=date(2025, 10, 9),
    )


@pytest.mark.parametrize(
    "now",
    [at(2025, 10, 31), at(2025, 11, 5, 12), end_of(2025, 11, 5)],
    ids=["15-working-days", "on-the-20th-day", "end-of-the-20th-day"],
)
def test_lapse_is_refused_within_20_working_days(
    waiting: Application, calendar: WorkingCalendar, now: datetime
) -> None:
    with pytest.raises(Conflict):
        apply(waiting, Lapse(), SYSTEM, now, calendar)


def test_lapse_rejects_after_20_working_days_unanswered(
    waiting: Application, calendar: WorkingCalendar
) -> None:
    # 20 working days after 9 Oct end with 5 Nov (11 Oct, a Saturday, is one of them).
    now = at(2025, 11, 6, 0, 0, 0)
    after, event = apply(waiting, Lapse(), SYSTEM, now, calendar)
    assert after.status == "rejected"
    assert after.decided_at == now
    assert after.decision == Decision(outcome="rejected", reason_code="lapsed")
    assert event.reason_code == "lapsed"
    assert after.resume_status is None
    assert after.paused_since is None


# --- decisions ---------------------------------------------------------------------------------


def test_reject_defaults_to_refused(reviewing: Application, calendar: WorkingCalendar) -> None:
    now = at(2025, 11, 3)
    after, event = apply(reviewing, Reject(reason="end use not credible"), OFFICER, now, calendar)
    assert after.status == "rejected"
    assert after.decided_at == now
    assert after.decision == Decision(
        outcome="rejected", reason_code="refused", reason="end use not credible"
    )
    assert event.reason_code == "refused"


def test_reject_an_incomplete_file_before_acceptance(
    make_app: MakeApp, calendar: WorkingCalendar
) -> None:
    app = make_app("submitted", submitted_at=at(2025, 9, 25))
    command = Reject(reason="no end-user certificate", reason_code="incomplete")
    after, event = apply(app, command, OFFICER, at(2025, 9, 26), calendar)
    assert after.decision == Decision(
        outcome="rejected", reason_code="incomplete", reason="no end-user certificate"
    )
    assert event.reason_code == "incomplete"


def test_reject_while_waiting_for_an_answer_ends_the_pause(
    waiting: Application, calendar: WorkingCalendar
) -> None:
    after, _ = apply(waiting, Reject(reason="no"), OFFICER, at(2025, 10, 20), calendar)
    assert after.status == "rejected"
    assert after.resume_status is None
    assert after.paused_since is None


@pytest.mark.parametrize("origin", ["under_review", "delayed"])
def test_approve_decides(make_app: MakeApp, calendar: WorkingCalendar, origin: str) -> None:
    now = at(2025, 11, 3)
    app = make_app(origin, accepted_at=ACCEPTED_AT, due_at=DUE_AT)
    after, event = apply(app, Approve(), OFFICER, now, calendar)
    assert after.status == "approved"
    assert after.decided_at == now
    assert after.decision == Decision(outcome="approved")
    assert event.details["valid_months"] == 12


def test_approve_records_the_validity_asked_for(
    reviewing: Application, calendar: WorkingCalendar
) -> None:
    _, event = apply(reviewing, Approve(valid_months=6), OFFICER, at(2025, 11, 3), calendar)
    assert event.details["valid_months"] == 6


@pytest.mark.parametrize("origin", ["under_review", "delayed"])
def test_approve_temporary_decides(
    make_app: MakeApp, calendar: WorkingCalendar, origin: str
) -> None:
    now = at(2025, 11, 3)
    app = make_app(origin, accepted_at=ACCEPTED_AT, due_at=DUE_AT)
    after, _ = apply(app, ApproveTemporary(reason="urgent supply"), OFFICER, now, calendar)
    assert after.status == "temporarily_approved"
    assert after.decided_at == now
    assert after.decision == Decision(outcome="temporarily_approved", reason="urgent supply")


def test_withdraw_is_not_a_decision(reviewing: Application, calendar: WorkingCalendar) -> None:
    after, _ = apply(
        reviewing, Withdraw(reason="order cancelled"), EXPORTER, at(2025, 10, 20), calendar
    )
    assert after.status == "withdrawn"
    assert after.decided_at is None
    assert after.decision is None


# --- drafts ------------------------------------------------------------------------------------


def test_submit_stamps_submitted_at(make_app: MakeApp, calendar: WorkingCalendar) -> None:
    now = at(2025, 6, 25)  # before the planned ship date (2025-07-01)
    after, _ = apply(make_app("draft"), Submit(), EXPORTER, now, calendar)
    assert after.status == "submitted"
    assert after.submitted_at == now
    assert after.due_at is None


def test_edit_replaces_the_filing_and_names_the_changed_fields(
    make_app: MakeApp, calendar: WorkingCalendar, body: dict[str, Any]
) -> None:
    body["destination_country"] = "DE"
    body["contract_ref"] = "PO-99999"
    edited = msgspec.convert(body, Filing)
    after, event = apply(make_app("draft"), Edit(filing=edited), EXPORTER, at(2025, 9, 1), calendar)
    assert after.status == "draft"
    assert after.filing == edited
    assert sorted(event.details["fields"]) == ["contract_ref", "destination_country"]


# --- what every action records -----------------------------------------------------------------

EVERY_ACTION: list[tuple[str, str, Any, Actor, dict[str, Any], str]] = [
    # (id, from status, command, actor, extra application fields, to status)
    ("edit", "draft", None, EXPORTER, {}, "draft"),
    ("submit", "draft", Submit(), EXPORTER, {}, "submitted"),
    ("withdraw", "submitted", Withdraw(reason="cancelled"), EXPORTER, {}, "withdrawn"),
    ("accept", "submitted", Accept(), OFFICER, {}, "under_review"),
    (
        "request_info",
        "under_review",
        RequestInfo(reason="certificate"),
        OFFICER,
        {"accepted_at": ACCEPTED_AT, "due_at": DUE_AT},
        "info_requested",
    ),
    (
        "respond",
        "info_requested",
        Respond(response="attached"),
        EXPORTER,
        {"resume_status": "delayed", "paused_since": date(2025, 12, 8)},
        "delayed",
    ),
    ("delay", "under_review", Delay(reason="security review"), OFFICER, {}, "delayed"),
    ("approve", "delayed", Approve(reason="fine"), OFFICER, {}, "approved"),
    ("approve_temporary", "under_review", ApproveTemporary(), OFFICER, {}, "temporarily_approved"),
    ("reject", "info_requested", Reject(reason="no"), OFFICER, {}, "rejected"),
    (
        "deadline_passed",
        "under_review",
        DeadlinePassed(),
        SYSTEM,
        {"accepted_at": ACCEPTED_AT, "due_at": DUE_AT},
        "delayed",
    ),
    (
        "lapse",
        "info_requested",
        Lapse(),
        SYSTEM,
        {"resume_status": "under_review", "paused_since": date(2025, 10, 9)},
        "rejected",
    ),
]


@pytest.mark.parametrize(
    ("action", "status", "command", "actor", "fields", "to"),
    EVERY_ACTION,
    ids=[case[0] for case in EVERY_ACTION],
)
def test_every_action_bumps_the_version_and_records_an_event(
    make_app: MakeApp,
    calendar: WorkingCalendar,
    filing: Filing,
    action: str,
    status: str,
    command: Any,
    actor: Actor,
    fields: dict[str, Any],
    to: str,
) -> None:
    now = at(2025, 12, 10)  # after every deadline and lapse above
    if command is None:
        command = Edit(filing=msgspec.structs.replace(filing, contract_ref="PO-2"))
    if action == "submit":  # planned to ship after the day it is submitted
        fields = {"filing": msgspec.structs.replace(filing, planned_ship_date=date(2026, 1, 5))}
    app = make_app(status, **fields)
    after, event = apply(app, command, actor, now, calendar)
    assert after.version == app.version + 1
    assert after.status == to
    assert after.id == app.id
    assert event.action == action
    assert event.from_status == status
    assert event.to_status == to
    assert event.actor == actor
    assert event.at == now
    assert event.reason == command.reason


def test_a_refused_action_leaves_the_application_alone(
    reviewing: Application, calendar: WorkingCalendar
) -> None:
    before = copy.deepcopy(reviewing)
    with pytest.raises(Forbidden):
        apply(reviewing, Approve(), VIEWER, at(2025, 11, 3), calendar)
    assert reviewing == before


# --- commands as clients send them -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"action": "reject"}, "reason"),
        ({"action": "request_info"}, "reason"),
        ({"action": "delay", "reason": ""}, "reason"),
        ({"action": "respond"}, "response"),
        ({"action": "approve", "valid_months": 0}, "valid_months"),
        ({"action": "approve", "valid_months": 13}, "valid_months"),
        ({"action": "reject", "reason": "x", "reason_code": "lapsed"}, "reason_code"),
        ({"action": "accept", "note": "hi"}, "note"),
        ({"action": "launch"}, "action"),
    ],
    ids=[
        "reject-needs-reason",
        "request-info-needs-reason",
        "delay-reason-not-empty",
        "respond-needs-response",
        "valid-months-at-least-1",
        "valid-months-at-most-12",
        "lapsed-is-the-services-code",
        "unknown-field",
        "unknown-action",
    ],
)
def test_invalid_commands_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidFiling) as raised:
        convert(data, ActionCommand)  # type: ignore[arg-type]
    assert [p.field for p in raised.value.problems] == [field]


def test_approve_defaults_to_twelve_months() -> None:
    assert convert({"action": "approve"}, ActionCommand) == Approve(valid_months=12)  # type: ignore[arg-type]


def test_not_overdue_while_the_clock_is_paused(
    reviewing: Application, calendar: WorkingCalendar
) -> None:
    asked, _ = apply(reviewing, RequestInfo(reason="x"), OFFICER, at(2025, 11, 28), calendar)
    assert progress(asked, at(2025, 12, 8), calendar).overdue is False


def test_a_decision_during_a_pause_keeps_the_pause_out_of_the_count(
    waiting: Application, calendar: WorkingCalendar
) -> None:
    lapsed, _ = apply(waiting, Lapse(), SYSTEM, at(2025, 11, 6, 0), calendar)
    assert progress(lapsed, at(2025, 11, 6), calendar).working_days_elapsed == 4
    assert lapsed.paused_since is None


def test_withdrawal_stops_the_count(reviewing: Application, calendar: WorkingCalendar) -> None:
    withdrawn, _ = apply(reviewing, Withdraw(), EXPORTER, at(2025, 10, 20), calendar)
    assert withdrawn.closed_at == at(2025, 10, 20)
    later = progress(withdrawn, at(2025, 12, 1), calendar).working_days_elapsed
    assert later == progress(withdrawn, at(2025, 10, 20), calendar).working_days_elapsed


def test_the_deadline_passes_only_after_its_last_second(
    reviewing: Application, calendar: WorkingCalendar
) -> None:
    assert reviewing.due_at is not None
    last_second = reviewing.due_at + timedelta(milliseconds=500)
    assert progress(reviewing, last_second, calendar).overdue is False
    with pytest.raises(Conflict):
        apply(reviewing, DeadlinePassed(), SYSTEM, last_second, calendar)
    assert progress(reviewing, reviewing.due_at + timedelta(seconds=1), calendar).overdue is True
