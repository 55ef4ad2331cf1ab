"""`GET /metrics`: request metrics by route template and status class, summed over the server's
worker processes; backlog gauges equal to the backlog endpoint's figures; the pipeline's health
(queue depths, projector lag, outbox lag) as the projector and the relay sweep recorded it."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from licenceflow.api.app import create_app
from licenceflow.clock import WorkingCalendar
from licenceflow.config import Settings
from licenceflow.metrics import telemetry
from licenceflow.metrics.projector import one_pass
from licenceflow.outbox.broker import create_celery
from licenceflow.store.pool import Connection
from licenceflow.workers.runtime import Runtime
from licenceflow.workers.sweeps import relay_outbox
from tests.examples import application_body, line
from tests.integration.conftest import SCRAPE_TOKEN, Tokens, project_all, relayed
from tests.polling import eventually
from tests.private_redis import PrivateRedis, free_port
from tests.processes import Processes

Client = AsyncTestClient[Litestar]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Scrape:
    def __init__(self, text: str) -> None:
        self.samples: Samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        """One sample's value; the series must be there (a gauge missing is not a zero)."""
        key = (name, frozenset(labels.items()))
        assert key in self.samples, f"no sample {name}{labels} in the scrape"
        return self.samples[key]

    def before(self, name: str, **labels: str) -> float:
        """A counter's value before what a test counts: 0 when nothing has counted it yet."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def labels(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for sample, labels in self.samples if sample == name]


async def scrape(client: Client | httpx.AsyncClient) -> Scrape:
    """What Prometheus reads, presenting the scrape token."""
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return Scrape(response.text)


async def file(client: Client, auth: Tokens, element: str) -> str:
    response = await client.post(
        "/v1/applications",
        json=application_body(submit=True, lines=[line(element=element)]),
        headers=auth("exporter"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_requests_are_counted_by_route_template_and_status_class(
    client: Client, auth: Tokens
) -> None:
    known = await file(client, auth, "Dy")
    unknown = [str(uuid.uuid4()) for _ in range(2)]
    before = await scrape(client)
    assert (await client.get(f"/v1/applications/{known}", headers=auth("exporter"))).is_success
    for missing in unknown:
        answered = await client.get(f"/v1/applications/{missing}", headers=auth("exporter"))
        assert answered.status_code == 404
    after = await scrape(client)

    route = "/v1/applications/{application_id}"

    def added(name: str, **labels: str) -> float:
        return after(name, method="GET", route=route, **labels) - before.before(
            name, method="GET", route=route, **labels
        )

    counted = "licenceflow_http_requests_total"
    assert added(counted, status_class="2xx") == 1
    assert added(counted, status_class="4xx") == 2
    timed = "licenceflow_http_request_duration_seconds_count"
    assert added(timed, status_class="2xx") + added(timed, status_class="4xx") == 3
    routes = {labels["route"] for labels in after.labels(counted)}
    assert not any(known in r or any(m in r for m in unknown) for r in routes)  # templates only
    assert "/v1/applications" in routes  # the filing, POST
    assert {labels["status_class"] for labels in after.labels(counted)} <= {
        "2xx",
        "3xx",
        "4xx",
        "5xx",
    }


async def test_backlog_gauges_equal_the_backlog_endpoint(
    client: Client, auth: Tokens, db: Connection, redis: Any
) -> None:
    for element in ("Dy", "Dy", "Tb"):
        await file(client, auth, element)
    await redis.lpush("review", b"a waiting message")
    await redis.lpush("review", b"another")
    await relayed(db)  # the intake tasks are queued
    events = await db.fetchval("SELECT count(*) FROM events WHERE stream = 'application'")
    await one_pass(db, redis, WorkingCalendar())
    first = await scrape(client)  # the projector's first pass: what was waiting when it began
    assert first("licenceflow_projector_events_behind") == events
    await project_all(db, redis)

    metrics = await scrape(client)
    backlog = (await client.get("/v1/metrics/backlog", headers=auth("officer"))).json()
    assert metrics("licenceflow_redis_up") == 1
    for status, count in backlog["by_status"].items():
        assert metrics("licenceflow_backlog_applications", status=status) == count
    assert metrics("licenceflow_backlog_pending") == backlog["pending"]["count"] == 3
    assert metrics("licenceflow_backlog_overdue") == backlog["pending"]["overdue"]
    assert (
        metrics("licenceflow_backlog_oldest_pending_age_working_days")
        == backlog["pending"]["oldest_age_working_days"]
    )
    assert metrics("licenceflow_backlog_pending_by_element", element="Dy") == 2
    assert metrics("licenceflow_backlog_pending_by_element", element="Tb") == 1
    assert (
        metrics("licenceflow_throughput_per_day", kind="submitted")
        == backlog["throughput"]["submitted_per_day"]
    )
    assert metrics("licenceflow_queue_depth", queue="review") == 2
    assert metrics("licenceflow_queue_depth", queue="intake") == 3  # the filings' intake tasks
    # how long the worst event of the last pass that applied any took to be visible
    assert 0 < metrics("licenceflow_projector_lag_seconds") < 60
    assert abs(metrics("licenceflow_projector_heartbeat_timestamp_seconds") - time.time()) < 60


async def test_an_idle_projector_pass_keeps_the_last_lag(db: Connection, redis: Any) -> None:
    await telemetry.record(redis, projector_lag_seconds=1.5)
    assert (await one_pass(db, redis, WorkingCalendar())).applied == 0
    seen = await telemetry.read(redis, ())
    assert seen.fields["projector_lag_seconds"] == 1.5
    assert seen.fields["projector_events_behind"] == 0


async def test_without_redis_the_request_metrics_still_answer(
    settings: Settings, auth: Tokens, private_redis: PrivateRedis
) -> None:
    away = msgspec.structs.replace(settings, redis_url=private_redis.url)
    private_redis.stop()
    async with AsyncTestClient(create_app(away)) as client:
        metrics = await scrape(client)
    assert metrics("licenceflow_redis_up") == 0
    assert metrics.labels("licenceflow_backlog_pending") == []


async def test_the_relay_sweep_reports_what_the_fast_path_left_behind(
    settings: Settings, db: Connection, private_redis: PrivateRedis
) -> None:
    """Follow-ups committed a minute ago and never published: the sweep reports them (and
    their age) before it publishes them; the next sweep finds none."""
    broker = msgspec.structs.replace(settings, redis_url=private_redis.url)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for id in ids:
        await db.execute(
            """INSERT INTO outbox (topic, payload, created_at, recorded_at)
               VALUES ('application.submit', $1, now(), clock_timestamp() - $2::interval)""",
            {"application_id": id, "event_seq": 1},
            timedelta(seconds=60),
        )

    def sweep_twice() -> list[dict[str, float]]:
        create_celery(broker)  # the current app of this thread: the relay publishes through it
        rt = Runtime(broker)
        try:
            seen = []
            for _ in range(2):
                rt.run(relay_outbox(rt))
                seen.append(rt.run(telemetry.read(rt.redis, ())).fields)
            return seen
        finally:
            rt.close()

    first, second = await asyncio.to_thread(sweep_twice)
    assert first["outbox_pending"] == 3
    assert 60 <= time.time() - first["outbox_oldest_recorded_at"] < 120
    assert second["outbox_pending"] == 0
    assert second["outbox_oldest_recorded_at"] == 0
    assert sorted(private_redis.queued_applications("intake")) == sorted(ids)

    async with AsyncTestClient(create_app(broker)) as client:
        recorded = aioredis.from_url(private_redis.url)
        await telemetry.record(recorded, **first)  # as the first sweep left it
        await recorded.aclose()
        metrics = await scrape(client)
    assert metrics("licenceflow_outbox_pending") == 3
    assert metrics("licenceflow_outbox_oldest_age_seconds") >= 60


@pytest.mark.timeout(120)
async def test_serve_sums_the_request_metrics_of_every_worker_process(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    processes = Processes(
        settings,
        tmp_path,
        LICENCEFLOW_JWT_SECRET="a-test-secret-of-at-least-32-bytes!",
        LICENCEFLOW_PORT=str(port),
        LICENCEFLOW_WEB_WORKERS="2",
        LICENCEFLOW_METRICS_TOKEN=SCRAPE_TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
    )
    log = processes.start("serve")
    try:
        # a fresh connection per request: the kernel hands them to both workers
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(max_keepalive_connections=0)
        ) as http:

            async def up() -> bool:
                try:
                    return (await http.get("/health/live")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, "the server answering", logs=[log])
            before = await scrape(http)
            sent = 200
            limit = asyncio.Semaphore(20)

            async def probe() -> None:
                async with limit:
                    assert (await http.get("/health/live")).status_code == 200

            await asyncio.gather(*(probe() for _ in range(sent)))
            after = await scrape(http)
    finally:
        processes.stop()
    counted = "licenceflow_http_requests_total"
    labels = {"method": "GET", "route": "/health/live", "status_class": "2xx"}
    assert after(counted, **labels) - before.before(counted, **labels) == sent
    # one file of samples per worker process: both served, and both were counted
    assert len(list((tmp_path / "prometheus").glob("counter_*.db"))) == 2


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ", "Bearer not-the-scrape-token", f"Basic {SCRAPE_TOKEN}", "Bearer a.b.c"],
    ids=["anonymous", "empty", "wrong-token", "wrong-scheme", "forged-jwt"],
)
async def test_metrics_are_never_anonymous(client: Client, authorization: str | None) -> None:
    """Anonymous `GET /metrics` showed the backlog's figures to anyone (issue 18)."""
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "licenceflow_backlog" not in response.text


async def test_any_valid_bearer_token_may_scrape(client: Client, auth: Tokens) -> None:
    response = await client.get("/metrics", headers=auth("viewer", org="procurement"))
    assert response.status_code == 200
    assert "licenceflow_http_requests_total" in response.text
