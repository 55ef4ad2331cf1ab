"""What a simulated officer decides and how long it takes, drawn from a scenario. Pure.

Each draw uses a generator seeded by (scenario seed, application, desk, application version):
a redelivered task draws the same decision and the same service time."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from licenceflow.domain.deadlines import Calendar
from licenceflow.domain.filing import Filing
from licenceflow.simulation.scenarios import Scenario

Desk = Literal["intake", "review"]


class Decision(NamedTuple):
    action: str
    service_days: float
    reason: str | None = None
    reason_code: str | None = None
    valid_months: int | None = None
    follow_up_days: float | None = None  # a referral: decide again after this many days


class Shift(NamedTuple):
    service_factor: float
    approval_factor: float
    temporary_share: float


def rng_for(scenario: Scenario, reference: str, desk: Desk, trigger: int) -> random.Random:
    """The officer's dice for one turn: the same for a redelivery, and for the same filings
    (references) on a fresh database under the same seed."""
    return random.Random(f"{scenario.seed}:{reference}:{desk}:{trigger}")


def shift_for(scenario: Scenario, filing: Filing) -> Shift:
    """The scenario's modifiers that match this filing, combined (factors multiply)."""
    service, approval, temporary = 1.0, 1.0, scenario.outcomes.temporary_share
    elements = filing.rare_earths()
    for modifier in scenario.modifiers:
        when = modifier.when
        if when.element is not None and when.element not in elements:
            continue
        if when.end_use_category is not None and when.end_use_category != filing.end_use_category:
            continue
        if when.destination is not None and when.destination != filing.destination_country:
            continue
        service *= modifier.service_factor
        approval *= modifier.approval_factor
        if modifier.temporary_share is not None:
            temporary = modifier.temporary_share
    return Shift(service, approval, temporary)


def decide_intake(
    scenario: Scenario, filing: Filing, *, controlled: bool, rng: random.Random
) -> Decision:
    intake = scenario.intake
    assert intake is not None, "a scenario without intake accepts on filing"
    service = intake.service.sample(rng)
    if not controlled:
        return Decision(
            "reject", service, "No controlled item: no licence is needed", "not_controlled"
        )
    if rng.random() < intake.incomplete_share:
        return Decision("reject", service, "Incomplete file: documents missing", "incomplete")
    return Decision("accept", service)


def decide_review(
    scenario: Scenario,
    filing: Filing,
    *,
    referred: bool,
    asked_before: bool,
    rng: random.Random,
) -> Decision:
    review, outcomes = scenario.review, scenario.outcomes
    shift = shift_for(scenario, filing)
    service = review.service.sample(rng) * shift.service_factor
    draw = rng.random()
    if not referred and draw < review.referral_share:
        return Decision(
            "delay",
            service,
            reason="Referred for security review",
            follow_up_days=review.referral.sample(rng),
        )
    if not asked_before and draw < review.referral_share + review.request_info_share:
        return Decision("request_info", service, reason="End-user certificate and contract copy")
    approve = outcomes.approve * shift.approval_factor
    if rng.random() * (approve + outcomes.reject) < outcomes.reject:
        return Decision("reject", service, reason="Refused", reason_code="refused")
    if rng.random() < shift.temporary_share:
        return Decision("approve_temporary", service, reason="Temporary licence, six months")
    return Decision("approve", service, valid_months=outcomes.valid_months)


def business_end(scenario: Scenario, start: datetime, days: float, calendar: Calendar) -> datetime:
    """When `days` of the scenario's clock starting at `start` are over."""
    if scenario.clock == "continuous":
        return start + timedelta(days=days)
    whole, fraction = int(days), days - int(days)
    today = calendar.date_of(start)
    later = calendar.add_working_days(today, whole)
    return start + timedelta(days=(later - today).days + fraction)
