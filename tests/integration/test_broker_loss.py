"""Redis lost mid-stream: the broker (the test's own, no persistence) dies for 30 s while
applications are filed and comes back empty; the API never waits on it, and the reconciler
re-queues what was lost: every application is decided, none twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from licenceflow.api.app import create_app
from licenceflow.clock import ClockAnchor, real_utc_now
from licenceflow.config import Settings
from licenceflow.names import BROKER_EPOCH_KEY
from licenceflow.store import clock as stored_clock
from licenceflow.store.pool import Connection
from tests.integration.conftest import Tokens, application_body
from tests.polling import eventually
from tests.private_redis import PrivateRedis
from tests.processes import start

OUTAGE_SECONDS = 30
SPEED = 1728.0  # the mmc scenario's pace: half a second of service per application
DEADLINE = 120.0
DECISIONS = ("approve", "approve_temporary", "reject")


def since_recovery(worker_log: str, redis: PrivateRedis) -> str:
    """What a failure needs to say (one CI run, 2026-12-07, found the worker idle after the
    outage, with kombu's AttributeError on closing its hub): how the worker's consumer came
    back, and what waits in the queues."""
    told = [
        line
        for line in worker_log.splitlines()
        if any(word in line for word in ("consumer", "Connected", "re-queued", "ERROR", "Error"))
    ]
    queues = {queue: redis.queue_length(queue) for queue in ("review", "housekeeping")}
    return f"queued now: {queues}\n--- the worker since Redis came back:\n" + "\n".join(told[-60:])


@pytest.mark.timeout(300)
async def test_every_application_is_decided_once_after_the_broker_comes_back_empty(
    settings: Settings, auth: Tokens, db: Connection, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    original = await stored_clock.current(db)
    assert original is not None
    now = real_utc_now()
    await stored_clock.save_anchor(
        db, ClockAnchor(real=now, business=datetime(2025, 6, 2, 1, tzinfo=UTC), speed=SPEED)
    )
    env = {
        **os.environ,
        "LICENCEFLOW_DATABASE_URL": settings.database_url or "",
        "LICENCEFLOW_REDIS_URL": private_redis.url,
        "LICENCEFLOW_SCENARIO": "mmc",
        "LICENCEFLOW_SWEEP_INTERVAL_SECONDS": "0.5",
        "LICENCEFLOW_BROKER_VISIBILITY_TIMEOUT": "10",
    }
    logs = [tmp_path / "worker.log", tmp_path / "scheduler.log"]
    processes = [
        start(["worker", "--queues", "review,housekeeping", "--concurrency", "2"], env, logs[0]),
        start(["scheduler", "--schedule-file", str(tmp_path / "beat")], env, logs[1]),
    ]
    api = create_app(  # at the stored clock's pace, or it would re-anchor the clock
        msgspec.structs.replace(
            settings, redis_url=private_redis.url, scenario="mmc", clock_speed=SPEED
        )
    )
    ids: list[str] = []
    try:
        async with AsyncTestClient(api) as client:

            async def file() -> None:
                response = await client.post(
                    "/v1/applications",
                    json=application_body(submit=True),
                    headers=auth("exporter"),
                )
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])

            async def marked() -> bool:
                """The reconciler has put its mark in both places: a loss from here on is one
                it can tell. (Before its first mark it re-queues whatever is pending: with the
                filings made first, those rows could still be in the outbox when Redis goes,
                be published after it, and leave the reconciler nothing to re-queue.)"""
                in_postgres = await db.fetchval("SELECT epoch FROM broker_epoch")
                return (
                    in_postgres is not None and private_redis.get(BROKER_EPOCH_KEY) == in_postgres
                )

            async def handed_over() -> bool:
                """The outbox has handed every task to the broker: only the reconciler can give
                back what the loss takes."""
                unpublished: int = await db.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
                return unpublished == 0

            await eventually(marked, "the reconciler's first mark", logs)
            # a queue builds: 20 at once for 2 officers, half a second each
            await asyncio.gather(*(file() for _ in range(20)))

            async def at_work() -> bool:
                started: int = await db.fetchval(
                    "SELECT count(*) FROM authority_runs WHERE application_id = ANY($1::uuid[])",
                    ids,
                )
                return started > 0

            await eventually(at_work, "the desk deciding", logs)
            await eventually(handed_over, "every task handed to the broker", logs)
            queued = private_redis.queue_length("review")
            assert queued >= 5, f"only {queued} tasks queued: nothing much to lose"
            private_redis.stop()  # whatever was queued is gone
            outage_end = time.monotonic() + OUTAGE_SECONDS
            slowest = 0.0
            while time.monotonic() < outage_end:
                began = time.monotonic()
                await file()
                slowest = max(slowest, time.monotonic() - began)
                await asyncio.sleep(3)
            print(f"slowest filing during the outage: {slowest * 1000:.0f} ms")
            recovery = len(logs[0].read_text())  # the worker's log from here on
            private_redis.start()  # back, and empty

            deadline = time.monotonic() + DEADLINE
            while True:
                undecided = await db.fetchval(
                    """SELECT count(*) FROM applications
                       WHERE id = ANY($1::uuid[]) AND decided_at IS NULL""",
                    ids,
                )
                if undecided == 0:
                    break
                if time.monotonic() > deadline:
                    states = await db.fetch(
                        """SELECT a.status, (SELECT count(*) FROM outbox o
                                WHERE o.payload->>'application_id' = a.id::text
                                  AND o.published_at IS NULL) AS unpublished
                           FROM applications a
                           WHERE a.id = ANY($1::uuid[]) AND a.decided_at IS NULL""",
                        ids,
                    )
                    epoch = await db.fetchval("SELECT epoch FROM broker_epoch")
                    raise AssertionError(
                        f"{undecided} of {len(ids)} undecided: {[tuple(s) for s in states]}"
                        f" epoch {epoch}\n"
                        + since_recovery(logs[0].read_text()[recovery:], private_redis)
                        + f"\n--- worker alive: {processes[0].poll() is None}; scheduler:\n"
                        + logs[1].read_text()[-800:]
                    )
                await asyncio.sleep(0.5)
        decisions = await db.fetch(
            """SELECT stream_id, count(*) AS n FROM events
               WHERE stream_id = ANY($1::uuid[]) AND action = ANY($2::text[])
               GROUP BY stream_id""",
            ids,
            list(DECISIONS),
        )
        assert len(decisions) == len(ids)
        assert {r["n"] for r in decisions} == {1}
        assert "re-queued" in logs[0].read_text()[recovery:]  # the reconciler recovered
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:  # a worker whose broker just came back can take long over its warm shutdown
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        await stored_clock.save_anchor(db, original)
