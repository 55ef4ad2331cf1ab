"""Backlog metrics: the projector (exactly once, in commit-safe order), the endpoint (Redis
only, ETag and 304, tenancy), and the operator's check and rebuild."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.clock import BusinessClock, ClockAnchor, WorkingCalendar, real_utc_now
from licenceflow.config import Settings
from licenceflow.domain.access import Principal
from licenceflow.domain.audit import Role
from licenceflow.domain.filing import NewApplication
from licenceflow.metrics import keys, maintenance
from licenceflow.metrics.projector import project_once
from licenceflow.store.pool import Connection, connect
from licenceflow.workflow import applications
from tests.examples import application_body, line, new_application
from tests.integration.conftest import START, Tokens, project_all, relayed

Client = AsyncTestClient[Litestar]
CALENDAR = WorkingCalendar()


async def project(db: Connection, redis: Any) -> int:
    return (await project_once(db, redis, await keys.current(redis), CALENDAR)).applied


async def act(client: Client, auth: Tokens, app_id: str, role: str, **body: Any) -> None:
    response = await client.post(
        f"/v1/applications/{app_id}/actions", json=body, headers=auth(role)
    )
    assert response.status_code == 200, response.text


async def file(client: Client, auth: Tokens, org: str = "acme", **overrides: Any) -> str:
    response = await client.post(
        "/v1/applications",
        json=application_body(submit=True, **overrides),
        headers=auth("exporter", org=org),
    )
    assert response.status_code == 201
    return str(response.json()["id"])


async def test_interleaved_transactions_are_both_projected(
    app: Litestar, database_url: str, db: Connection, redis: Any
) -> None:
    exporter = Principal(sub="alice", org="acme", roles=frozenset({Role.EXPORTER}))
    in_2025 = app.state.services.context
    # Another business year: its own reference counter, so the second need not wait for the first.
    in_2026 = dataclasses.replace(
        in_2025,
        clock=BusinessClock(
            ClockAnchor(real=real_utc_now(), business=datetime(2026, 3, 2, 9, tzinfo=UTC), speed=0)
        ),
    )
    first, second = await connect(database_url), await connect(database_url)
    try:
        slow = first.transaction()
        await slow.start()
        await applications.create(first, in_2025, exporter, _body())
        # The second transaction's events get later seqs and commit first.
        async with second.transaction():
            await applications.create(second, in_2026, exporter, _body())
        projected_while_open = await project(db, redis)
        await slow.commit()
        projected_after = await project(db, redis)
    finally:
        await first.close()
        await second.close()
    generation = await keys.current(redis)
    status = await redis.hgetall(generation.key("g", "status"))
    assert {k.decode(): int(v) for k, v in status.items()}.get("submitted") == 2
    assert projected_while_open + projected_after == 4  # create + submit, twice
    assert projected_while_open == 0  # nothing below the open transaction's horizon yet
    assert await project(db, redis) == 0  # exactly once: nothing left to apply


def _body() -> NewApplication:
    return new_application(submit=True, planned_ship_date="2026-06-01")  # ahead of both clocks


async def test_the_backlog_counts_what_happened(
    client: Client, auth: Tokens, db: Connection, redis: Any
) -> None:
    approved = await file(client, auth)
    refused = await file(client, auth, lines=[line(element="Tb")])
    waiting = await file(client, auth, org="rival", destination_country="JP")
    for app_id in (approved, refused):
        await act(client, auth, app_id, "officer", action="accept")
    await act(client, auth, approved, "officer", action="approve")
    await act(client, auth, refused, "officer", action="reject", reason="no")
    await client.post("/v1/applications", json=application_body(), headers=auth("exporter"))
    await project_all(db, redis)

    response = await client.get("/v1/metrics/backlog", headers=auth("viewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["by_status"] == {
        "draft": 1,
        "submitted": 1,
        "under_review": 0,
        "info_requested": 0,
        "delayed": 0,
        "approved": 1,
        "temporarily_approved": 0,
        "rejected": 1,
        "withdrawn": 0,
    }
    assert body["pending"]["count"] == 1
    assert body["by_element"]["Dy"] == {
        "pending": 1,
        "approved": 1,
        "temporarily_approved": 0,
        "rejected": 0,
    }
    assert body["by_element"]["Tb"]["rejected"] == 1
    assert body["by_destination"]["JP"]["pending"] == 1
    assert body["approval_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert body["approval_rate"] == 0.5
    assert body["decision_latency_working_days"] == {"p50": 0, "p90": 0, "p99": 0}
    assert body["throughput"]["decided_per_day"] == pytest.approx(2 / 30, abs=1e-3)
    # the window's 30 days hold fewer working days (weekends, May Day): the wait is in those
    window_working_days = CALENDAR.working_days_between(
        START.date() - timedelta(days=30), START.date()
    )
    assert window_working_days < 30
    assert body["expected_wait_working_days"] == pytest.approx(
        1 / (2 / window_working_days), rel=0.01
    )
    # never public: the figures are for authenticated eyes, not for a shared cache (issue 18)
    assert response.headers["cache-control"].startswith("private")
    assert response.headers["vary"] == "Authorization"
    mine = await client.get("/v1/metrics/backlog?org=rival", headers=auth("viewer", org="rival"))
    assert mine.json()["pending"]["count"] == 1
    assert mine.json()["by_status"]["approved"] == 0
    # rival decided nothing, but its file waits at the same desk as everyone's
    assert mine.json()["expected_wait_working_days"] == body["expected_wait_working_days"]
    assert mine.headers["cache-control"].startswith("private")
    assert mine.headers["vary"] == "Authorization"
    other = await client.get("/v1/metrics/backlog?org=rival", headers=auth("exporter"))
    assert other.status_code == 404
    officer = await client.get("/v1/metrics/backlog?org=acme", headers=auth("officer"))
    assert officer.json()["by_status"]["approved"] == 1
    assert waiting


async def test_if_none_match_answers_304_until_an_event_is_applied(
    client: Client, auth: Tokens, db: Connection, redis: Any
) -> None:
    await file(client, auth)
    # the filing's task in its queue first: the body shows queue depths, and the relay's push
    # landing between the two reads changed the ETag (a flaky 200 on a loaded machine)
    await relayed(db)
    await project_all(db, redis)
    first = await client.get("/v1/metrics/backlog", headers=auth("viewer"))
    etag = first.headers["etag"]
    same = await client.get(
        "/v1/metrics/backlog", headers={**auth("viewer"), "If-None-Match": etag}
    )
    assert same.status_code == 304
    assert same.content == b""
    await file(client, auth)
    await project_all(db, redis)
    changed = await client.get(
        "/v1/metrics/backlog", headers={**auth("viewer"), "If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["pending"]["count"] == 2


async def test_a_queue_that_moves_changes_the_etag(
    client: Client, auth: Tokens, redis: Any
) -> None:
    """No event, but the body shows a deeper queue: a cached copy must not be confirmed."""
    await redis.delete("review")
    first = await client.get("/v1/metrics/backlog", headers=auth("viewer"))
    await redis.lpush("review", b"a task")
    try:
        moved = await client.get(
            "/v1/metrics/backlog",
            headers={**auth("viewer"), "If-None-Match": first.headers["etag"]},
        )
    finally:
        await redis.delete("review")
    assert moved.status_code == 200
    assert (
        moved.json()["queues"]["review"]["depth"] == first.json()["queues"]["review"]["depth"] + 1
    )


async def test_check_finds_drift_and_a_rebuild_restores_the_same_numbers(
    client: Client, auth: Tokens, db: Connection, redis: Any, settings: Settings
) -> None:
    for _ in range(3):
        app_id = await file(client, auth)
        await act(client, auth, app_id, "officer", action="accept")
    await act(client, auth, app_id, "officer", action="approve_temporary")
    await project_all(db, redis)
    assert await maintenance.check(db, redis) == []
    before = (await client.get("/v1/metrics/backlog", headers=auth("viewer"))).json()

    generation = await keys.current(redis)
    await redis.hincrby(generation.key("g", "status"), "under_review", 5)  # corrupted
    env = {
        **os.environ,
        "LICENCEFLOW_DATABASE_URL": settings.database_url or "",
        "LICENCEFLOW_REDIS_URL": settings.redis_url or "",
    }
    checked = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "licenceflow",
        "metrics",
        "check",
        env=env,
        stdout=subprocess.PIPE,
    )
    out, _ = await checked.communicate()
    assert checked.returncode == 1
    assert b"g status under_review: redis 7, postgres 2" in out

    await maintenance.rebuild(db, redis, CALENDAR)
    assert await maintenance.check(db, redis) == []
    after = (await client.get("/v1/metrics/backlog", headers=auth("viewer"))).json()
    assert {k: v for k, v in after.items() if k != "as_of"} == {
        k: v for k, v in before.items() if k != "as_of"
    }


async def test_with_redis_down_metrics_answer_503_and_filings_go_on(
    settings: Settings, auth: Tokens, tmp_path: Any
) -> None:
    import msgspec

    from licenceflow.api.app import create_app
    from tests.private_redis import PrivateRedis

    server = PrivateRedis(tmp_path)
    server.start()
    try:
        api = create_app(msgspec.structs.replace(settings, redis_url=server.url))
        async with AsyncTestClient(api) as client:
            server.stop()
            metrics = await client.get("/v1/metrics/backlog", headers=auth("viewer"))
            assert metrics.status_code == 503
            assert metrics.headers["retry-after"]
            assert (await file(client, auth)) is not None
            ready = await client.get("/health/ready")
            assert ready.status_code == 200
            assert ready.json()["redis"] == "unreachable"
    finally:
        server.stop()


async def test_check_reads_figures_and_position_as_one(
    client: Client, auth: Tokens, db: Connection, redis: Any
) -> None:
    """`metrics check` read the position, then the figures: a batch the projector applied in
    between showed as drift (in one CI run: `submitted: redis 6, postgres 7`). Here the real
    projector applies a batch exactly there, on the check's first read of a figure."""
    app_id = await file(client, auth)
    await project_all(db, redis)
    await act(client, auth, app_id, "officer", action="accept")  # committed, not yet projected
    await relayed(db)

    class ProjectingOnFirstRead:
        """The test's Redis, where the first figure read lets the projector run first."""

        def __init__(self) -> None:
            self.moved = False

        def __getattr__(self, name: str) -> Any:
            return getattr(redis, name)

        async def hgetall(self, key: Any) -> Any:
            if not self.moved:
                self.moved = True
                # the check's PostgreSQL reads are done: the projector may use its connection
                assert await project_all(db, redis) > 0
            return await redis.hgetall(key)

    watched = ProjectingOnFirstRead()
    assert await maintenance.check(db, watched) == []
    assert watched.moved
