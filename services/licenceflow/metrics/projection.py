"""How one application event changes the backlog metrics. Pure: an event in, Redis operations
out, for the global scope and the application's organisation.

The read model (per scope):
    status        hash  status → applications in it
    element       hash  "<El>:<bucket>" → applications (bucket: pending, approved,
                        temporarily_approved, rejected); an application counts once per element
    destination   hash  "<CC>:<bucket>" → applications
    totals        hash  submitted (ever), approved, temporarily_approved, rejected, refused
    submitted     hash  business date → submissions that day
    decided       hash  business date → decisions that day
    latency       hash  "<date>:<working days>" → decisions that day that took that long
                        (submitted → decided, whole working days: exact, no binning error)
    pending       zset  application → submitted_at (epoch seconds): oldest pending first
    running       zset  application → due_at (epoch seconds) while the statutory clock runs
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

import msgspec

from licenceflow.domain.applications import CLOCK_RUNNING, DECIDED, PENDING
from licenceflow.domain.deadlines import Calendar


class Fact(msgspec.Struct, frozen=True, kw_only=True):
    """One application event and what the metrics need to know about its application."""

    seq: int
    xact: int
    at: datetime
    org: str
    application_id: UUID
    action: str
    from_status: str | None
    to_status: str
    reason_code: str | None
    elements: list[str]
    destination: str
    submitted_at: datetime | None
    due_at: datetime | None  # the application's current deadline
    recorded: float = 0.0  # real Unix time the event was written (the lag figure only)


class Op(NamedTuple):
    command: str  # HINCRBY | ZADD | ZREM
    key: str
    field: str
    value: str = ""


def scopes(org: str) -> tuple[str, str]:
    return ("g", f"o:{org}")


def ops_for(fact: Fact, key: Callable[[str, str], str], calendar: Calendar) -> list[Op]:
    """The operations that apply `fact` to every scope it counts in."""
    # statuses by name: `deleted`, where a deleted draft's timeline ends, is counted like one
    before, after = fact.from_status, fact.to_status
    was_pending, is_pending = before in PENDING, after in PENDING
    app = str(fact.application_id)
    today = calendar.date_of(fact.at).isoformat()
    ops: list[Op] = []
    for scope in scopes(fact.org):

        def k(name: str, scope: str = scope) -> str:
            return key(scope, name)

        if before is not None:
            ops.append(Op("HINCRBY", k("status"), before, "-1"))
        ops.append(Op("HINCRBY", k("status"), after, "1"))
        if is_pending and not was_pending:
            submitted = fact.submitted_at or fact.at
            ops += [Op("HINCRBY", k("element"), f"{e}:pending", "1") for e in fact.elements]
            ops.append(Op("HINCRBY", k("destination"), f"{fact.destination}:pending", "1"))
            ops.append(Op("ZADD", k("pending"), app, str(submitted.timestamp())))
            ops.append(Op("HINCRBY", k("totals"), "submitted", "1"))
            ops.append(Op("HINCRBY", k("submitted"), today, "1"))
        if was_pending and not is_pending:
            ops += [Op("HINCRBY", k("element"), f"{e}:pending", "-1") for e in fact.elements]
            ops.append(Op("HINCRBY", k("destination"), f"{fact.destination}:pending", "-1"))
            ops.append(Op("ZREM", k("pending"), app))
            if after in DECIDED:
                ops += [Op("HINCRBY", k("element"), f"{e}:{after}", "1") for e in fact.elements]
                ops.append(Op("HINCRBY", k("destination"), f"{fact.destination}:{after}", "1"))
                ops.append(Op("HINCRBY", k("totals"), after, "1"))
                if fact.reason_code == "refused":
                    ops.append(Op("HINCRBY", k("totals"), "refused", "1"))
                ops.append(Op("HINCRBY", k("decided"), today, "1"))
                if fact.submitted_at is not None:
                    took = calendar.working_days_between(
                        calendar.date_of(fact.submitted_at), calendar.date_of(fact.at)
                    )
                    ops.append(Op("HINCRBY", k("latency"), f"{today}:{took}", "1"))
        if after in CLOCK_RUNNING and fact.due_at is not None:
            ops.append(Op("ZADD", k("running"), app, str(fact.due_at.timestamp())))
        else:
            ops.append(Op("ZREM", k("running"), app))
    return ops
