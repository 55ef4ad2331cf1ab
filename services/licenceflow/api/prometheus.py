"""`GET /metrics`: Prometheus text exposition, for every server worker process at once.

Requests are counted and timed by a middleware, labelled by route template (never the raw path:
one series per route, not per application id) and status class. With several server worker
processes (`serve`), prometheus-client's multiprocess mode keeps each process's samples in a
shared folder (`PROMETHEUS_MULTIPROC_DIR`, set by `serve`) and a scrape adds them up; a single
process uses the default registry.

Never anonymous: a scrape presents the configured scrape token (`LICENCEFLOW_METRICS_TOKEN`) or
a bearer JWT, like every other request. The backlog, queue and pipeline gauges are read at
scrape time from Redis, like the backlog endpoint: no SQL on this path. With Redis away they are
left out and `licenceflow_redis_up` is 0.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from licenceflow.api.dependencies import provide_principal
from licenceflow.api.services import services
from licenceflow.metrics import backlog, telemetry
from licenceflow.metrics.backlog import Backlog
from licenceflow.names import QUEUES
from licenceflow.workflow.context import Context

REQUESTS = Counter(
    "licenceflow_http_requests",
    "HTTP requests answered, by route template and status class.",
    ["method", "route", "status_class"],
)
DURATION = Histogram(
    "licenceflow_http_request_duration_seconds",
    "Time from a request's arrival to its response's last byte, by route template.",
    ["method", "route", "status_class"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class RequestMetrics(ASGIMiddleware):
    """Counts and times every routed HTTP request."""

    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        # (method, route, status class) → its counter and histogram: `labels()` looks them up
        # under a lock at every call, as much again as counting
        self._series: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status = 500  # what the client gets if the app dies before answering

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, timed_send)
        finally:
            route = scope.get("path_template", "")
            labels = (str(scope.get("method")), route, f"{status // 100}xx")
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = (REQUESTS.labels(*labels), DURATION.labels(*labels))
            counted, timed = series
            counted.inc()
            timed.observe(time.perf_counter() - started)


class _Readings(Collector):
    """Gauges read from Redis for one scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, doc, value=value)


def _labelled(name: str, doc: str, label: str, values: Mapping[str, float]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


def backlog_families(figures: Backlog) -> Iterator[Metric]:
    latency = figures.decision_latency_working_days
    yield _labelled(
        "licenceflow_backlog_applications", "Applications by status.", "status", figures.by_status
    )
    yield from _gauge(
        "licenceflow_backlog_pending", "Applications pending a decision.", figures.pending.count
    )
    yield from _gauge(
        "licenceflow_backlog_overdue",
        "Pending applications past their statutory deadline.",
        figures.pending.overdue,
    )
    yield from _gauge(
        "licenceflow_backlog_oldest_pending_age_working_days",
        "Working days since the oldest pending application was submitted.",
        figures.pending.oldest_age_working_days,
    )
    yield _labelled(
        "licenceflow_backlog_pending_by_element",
        "Pending applications by rare-earth element (one per element of their lines).",
        "element",
        {element: counts["pending"] for element, counts in figures.by_element.items()},
    )
    yield _labelled(
        "licenceflow_decision_latency_working_days",
        "Submission to decision in working days, over the throughput window.",
        "quantile",
        {
            q: v
            for q, v in (("0.5", latency.p50), ("0.9", latency.p90), ("0.99", latency.p99))
            if v is not None
        },
    )
    yield _labelled(
        "licenceflow_throughput_per_day",
        "Submissions and decisions per business day over the window.",
        "kind",
        {
            "submitted": figures.throughput.submitted_per_day,
            "decided": figures.throughput.decided_per_day,
        },
    )
    yield from _gauge(
        "licenceflow_expected_wait_working_days",
        "Pending divided by decisions per day (Little's law).",
        figures.expected_wait_working_days,
    )


def pipeline_families(pipeline: telemetry.Pipeline, now: float) -> Iterator[Metric]:
    seen = pipeline.fields
    yield _labelled(
        "licenceflow_queue_depth",
        "Messages waiting in each Celery queue.",
        "queue",
        {queue: float(depth) for queue, depth in pipeline.queue_depths.items()},
    )
    yield from _gauge(
        "licenceflow_projector_events_behind",
        "Committed events the projector had not applied when its last pass began.",
        seen.get("projector_events_behind"),
    )
    yield from _gauge(
        "licenceflow_projector_lag_seconds",
        "Real seconds from an event's commit to its being visible in the backlog "
        "(the worst event of the projector's last pass that applied any).",
        seen.get("projector_lag_seconds"),
    )
    yield from _gauge(
        "licenceflow_projector_heartbeat_timestamp_seconds",
        "Unix time of the projector's last pass.",
        seen.get("projector_heartbeat"),
    )
    yield from _gauge(
        "licenceflow_outbox_pending",
        "Due follow-up work committed but not yet published to the broker.",
        seen.get("outbox_pending"),
    )
    if "outbox_oldest_recorded_at" in seen:
        oldest = seen["outbox_oldest_recorded_at"]
        yield from _gauge(
            "licenceflow_outbox_oldest_age_seconds",
            "Real seconds the oldest unpublished due follow-up has waited (0: none).",
            max(0.0, now - oldest) if oldest else 0.0,
        )


async def _readings(redis: Any, context: Context) -> list[Metric]:
    def redis_up(up: bool) -> list[Metric]:
        return list(_gauge("licenceflow_redis_up", "Whether Redis answered this scrape.", up))

    if redis is None:
        return redis_up(False)
    try:
        figures = (await backlog.read(redis, "g", context.clock.now(), context.calendar)).figures
        pipeline = await telemetry.read(redis, QUEUES)
    except (OSError, RedisError):  # OSError covers timeouts and refused connections
        return redis_up(False)
    return [
        *redis_up(True),
        *backlog_families(figures),
        *pipeline_families(pipeline, time.time()),
    ]


def _request_registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def authorize_scrape(request: Request[Any, Any, Any], state: State) -> None:
    """`/metrics` is never anonymous: the configured scrape token, or any valid bearer JWT."""
    scrape_token: str | None = services(state).scrape_token
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if (
        scrape_token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode(), scrape_token.encode())
    ):
        return
    provide_principal(request, state)  # NotAuthenticated (401) without a valid token


@get("/metrics", tags=["metrics"], summary="Prometheus metrics", include_in_schema=False)
async def prometheus_metrics(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    authorize_scrape(request, state)
    context = services(state).context
    readings = CollectorRegistry(auto_describe=False)
    readings.register(_Readings(await _readings(services(state).redis, context)))
    body = generate_latest(_request_registry()) + generate_latest(readings)
    # the classic text format every Prometheus reads (Litestar appends the charset)
    return Response(body, media_type="text/plain; version=0.0.4")
