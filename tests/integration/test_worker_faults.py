"""A worker killed with SIGKILL mid-task, at a known point (after the decision commits, before
the acknowledgement): the task comes back and the application is decided exactly once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from licenceflow.api.app import create_app
from licenceflow.config import Settings
from licenceflow.store.pool import Connection
from tests.integration.conftest import Tokens, application_body
from tests.polling import eventually
from tests.private_redis import PrivateRedis

DEADLINE = 60.0
VISIBILITY_TIMEOUT = 3


class Worker:
    """`licenceflow worker` for the intake desk, in a process group of its own."""

    def __init__(self, settings: Settings, redis_url: str, log: Path, pause: Path | None) -> None:
        env = {
            **os.environ,
            "LICENCEFLOW_DATABASE_URL": settings.database_url or "",
            "LICENCEFLOW_REDIS_URL": redis_url,
            "LICENCEFLOW_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        }
        launcher = ["-m", "licenceflow"]
        if pause is not None:
            launcher = ["-m", "tests.paused", "after-commit", str(pause), "0", "--"]
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    *launcher,
                    "worker",
                    "--queues",
                    "intake",
                    "--concurrency",
                    "1",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill_all(self) -> None:
        with_suppressed = self.process.poll() is None
        if with_suppressed:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill_all()


async def file_one(settings: Settings, redis_url: str, auth: Tokens, db: Connection) -> str:
    """File and submit one application; return once the relay has handed its task over."""
    app = create_app(msgspec.structs.replace(settings, redis_url=redis_url))
    async with AsyncTestClient(app) as client:
        created = await client.post(
            "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
        )
        assert created.status_code == 201
        deadline = time.monotonic() + DEADLINE
        while await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            assert time.monotonic() < deadline, "the relay never published the filing"
            await asyncio.sleep(0.05)
        return str(created.json()["id"])


async def officer_events(db: Connection, app_id: str) -> list[str]:
    rows = await db.fetch(
        "SELECT action FROM events WHERE stream_id = $1 AND actor_role = 'officer'", app_id
    )
    return [r["action"] for r in rows]


@pytest.mark.parametrize("victim", ["child", "main"])
async def test_a_kill_after_commit_decides_once(
    settings: Settings,
    auth: Tokens,
    db: Connection,
    private_redis: PrivateRedis,
    tmp_path: Path,
    victim: str,
) -> None:
    marker = tmp_path / "paused"
    first = Worker(settings, private_redis.url, tmp_path / "worker-1.log", marker)
    workers = [first]
    try:
        app_id = await file_one(settings, private_redis.url, auth, db)
        await eventually(
            lambda: marker.exists() and marker.read_text().strip(),
            "the task pausing after its commit",
            [first.log],
        )
        decided = await officer_events(db, app_id)
        assert len(decided) == 1  # committed before the kill
        paused_pid = int(marker.read_text().split()[0])
        if victim == "child":
            # The pool's child dies: the main process hands the task back at once.
            os.kill(paused_pid, signal.SIGKILL)
            retry_log = first.log
        else:
            # The whole worker dies unacknowledged: the broker redelivers after its
            # visibility timeout, to the next worker that asks.
            first.kill_all()
            second = Worker(settings, private_redis.url, tmp_path / "worker-2.log", None)
            workers.append(second)
            retry_log = second.log
        # the status check voids it (the decision left `submitted`, the intake desk's status)
        skipped = re.compile(rf"intake: {app_id} is (under_review|rejected); nothing to do")
        await eventually(
            lambda: skipped.search(retry_log.read_text()),
            "the redelivered task",
            [w.log for w in workers],
        )
        assert await officer_events(db, app_id) == decided
        status = await db.fetchval("SELECT status FROM applications WHERE id = $1", app_id)
        assert status in ("under_review", "rejected")
    finally:
        for worker in workers:
            worker.stop()
