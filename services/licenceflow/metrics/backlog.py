"""The backlog read model: everything `GET /v1/metrics/backlog` shows, read from Redis in one
round trip (no SQL on this path). Definitions are API.md's."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import msgspec

from licenceflow.clock import WorkingCalendar
from licenceflow.domain.applications import DECIDED, Status
from licenceflow.metrics import keys
from licenceflow.names import DESK_QUEUES

WINDOW_DAYS = 30
DESK = "g"  # the global scope: one authority's desk serves every organisation
_generation = keys.Generation(1)  # the generation this process read last
BUCKETS = ("pending", *sorted(s.value for s in DECIDED))
WATCHED = (keys.PREFIX, *DESK_QUEUES)  # every key `read` reads starts with one of these


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    overdue: int
    oldest_submitted_at: datetime | None
    oldest_age_working_days: int


class QueueDepth(msgspec.Struct, frozen=True):
    depth: int


class Throughput(msgspec.Struct, frozen=True, kw_only=True):
    window_days: int
    submitted_per_day: float
    decided_per_day: float


class Latency(msgspec.Struct, frozen=True, kw_only=True):
    p50: int | None
    p90: int | None
    p99: int | None


class Backlog(msgspec.Struct, frozen=True, kw_only=True):
    as_of: datetime | None
    by_status: dict[str, int]
    pending: Pending
    by_element: dict[str, dict[str, int]]
    by_destination: dict[str, dict[str, int]]
    queues: dict[str, QueueDepth]
    throughput: Throughput
    decision_latency_working_days: Latency
    approval_share: float | None
    approval_rate: float | None
    expected_wait_working_days: float | None


class Reading(msgspec.Struct, frozen=True, kw_only=True):
    figures: Backlog
    holds_until: float  # the business time from which they may differ with no write: the next
    # application under review to fall overdue, or the next day (ages, the window)


async def read(redis: Any, scope: str, now: datetime, calendar: WorkingCalendar) -> Reading:
    """Everything in one MULTI round trip, together with the name of the current generation:
    read with the generation last seen, and again in the rare case a rebuild swapped it."""
    global _generation
    today = calendar.date_of(now)
    overdue_before = now.timestamp() - 1
    window = [(today - timedelta(days=n)).isoformat() for n in range(WINDOW_DAYS)]
    while True:
        generation = _generation
        key = generation.key
        pipe = redis.pipeline(transaction=True)
        pipe.get(keys.CURRENT)
        pipe.get(generation.as_of)
        for name in ("status", "element", "destination", "totals", "latency"):
            pipe.hgetall(key(scope, name))
        pipe.zcard(key(scope, "pending"))
        pipe.zrange(key(scope, "pending"), 0, 0, withscores=True)
        pipe.zcount(key(scope, "running"), "-inf", f"({overdue_before}")
        pipe.zrange(
            key(scope, "running"),
            overdue_before,
            "+inf",
            byscore=True,
            offset=0,
            num=1,
            withscores=True,
        )
        pipe.hmget(key(scope, "submitted"), window)
        pipe.hmget(key(scope, "decided"), window)
        for queue in DESK_QUEUES:
            pipe.llen(queue)
        # the wait is the desk's, whoever looks: every file queues behind all the others
        if scope != DESK:
            pipe.zcard(key(DESK, "pending"))
            pipe.hmget(key(DESK, "decided"), window)
        (
            current,
            as_of,
            status,
            element,
            destination,
            totals,
            latency,
            pending,
            oldest,
            overdue,
            next_due,
            submitted,
            decided,
            *rest,
        ) = await pipe.execute()
        if keys.number(current) == generation.number:
            break
        _generation = keys.Generation(keys.number(current))

    depths = rest[: len(DESK_QUEUES)]
    desk_pending, desk_decided = rest[len(DESK_QUEUES) :] or (pending, decided)
    totals_ = _ints(totals)
    oldest_at = (
        datetime.fromtimestamp(oldest[0][1], UTC).astimezone(calendar.tz) if oldest else None
    )
    submitted_per_day = sum(int(n or 0) for n in submitted) / WINDOW_DAYS
    decided_per_day = sum(int(n or 0) for n in decided) / WINDOW_DAYS
    working_days = calendar.working_days_between(today - timedelta(days=WINDOW_DAYS), today)
    desk_per_working_day = sum(int(n or 0) for n in desk_decided) / max(working_days, 1)
    approvals = totals_.get("approved", 0) + totals_.get("temporarily_approved", 0)
    judged = approvals + totals_.get("refused", 0)
    tomorrow = datetime.combine(today + timedelta(days=1), time(), tzinfo=calendar.tz)
    figures = Backlog(
        as_of=datetime.fromisoformat(as_of.decode()) if as_of else None,
        by_status={s.value: _ints(status).get(s.value, 0) for s in Status},
        pending=Pending(
            count=int(pending),
            overdue=int(overdue),
            oldest_submitted_at=oldest_at,
            oldest_age_working_days=calendar.working_days_between(
                calendar.date_of(oldest_at), today
            )
            if oldest_at
            else 0,
        ),
        by_element=_buckets(element),
        by_destination=_buckets(destination),
        queues={
            queue: QueueDepth(int(depth)) for queue, depth in zip(DESK_QUEUES, depths, strict=True)
        },
        throughput=Throughput(
            window_days=WINDOW_DAYS,
            submitted_per_day=round(submitted_per_day, 3),
            decided_per_day=round(decided_per_day, 3),
        ),
        decision_latency_working_days=_percentiles(latency, set(window)),
        approval_share=round(approvals / totals_["submitted"], 4)
        if totals_.get("submitted")
        else None,
        approval_rate=round(approvals / judged, 4) if judged else None,
        expected_wait_working_days=round(int(desk_pending) / desk_per_working_day, 2)
        if desk_per_working_day
        else None,
    )
    holds_until = tomorrow.timestamp()
    if next_due:  # overdue counts it once `now - 1` passes its deadline
        holds_until = min(holds_until, next_due[0][1] + 1)
    return Reading(figures=figures, holds_until=holds_until)


def _ints(raw: dict[bytes, bytes]) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in raw.items()}


def _buckets(raw: dict[bytes, bytes]) -> dict[str, dict[str, int]]:
    """`{"Dy:pending": 3, ...}` → `{"Dy": {"pending": 3, "approved": 0, ...}}`."""
    found: dict[str, dict[str, int]] = {}
    for field, count in _ints(raw).items():
        name, bucket = field.rsplit(":", 1)
        found.setdefault(name, dict.fromkeys(BUCKETS, 0))[bucket] = count
    return {name: counts for name, counts in sorted(found.items()) if any(counts.values())}


def _percentiles(raw: dict[bytes, bytes], window: set[str]) -> Latency:
    """Exact percentiles over whole working days (the histogram keeps every integer value)."""
    counts: dict[int, int] = {}
    for field, count in _ints(raw).items():
        day, took = field.rsplit(":", 1)
        if day in window:
            counts[int(took)] = counts.get(int(took), 0) + count
    total = sum(counts.values())
    if not total:
        return Latency(p50=None, p90=None, p99=None)

    def percentile(p: float) -> int:
        seen = 0
        for took in sorted(counts):
            seen += counts[took]
            if seen >= p * total:
                return took
        return max(counts)

    return Latency(p50=percentile(0.5), p90=percentile(0.9), p99=percentile(0.99))
