"""The simulated authority: real Celery workers on the real broker decide what exporters file."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.config import Settings
from licenceflow.store.pool import Connection
from tests.integration.conftest import Tokens, application_body
from tests.polling import eventually
from tests.processes import Processes

DECIDED = ("approved", "temporarily_approved", "rejected")


@pytest.fixture
def processes(settings: Settings, tmp_path: Path) -> Processes:
    return Processes(settings, tmp_path)


async def test_workers_take_filings_through_intake_and_review(
    client: AsyncTestClient[Litestar], auth: Tokens, db: Connection, processes: Processes
) -> None:
    worker = processes.start("worker", "--queues", "intake,review", "--concurrency", "2")
    try:
        ids = []
        for _ in range(6):
            created = await client.post(
                "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
            )
            ids.append(created.json()["id"])

        async def all_moved_on() -> bool:
            statuses = await db.fetch(
                "SELECT status FROM applications WHERE id = ANY($1::uuid[])", ids
            )
            return all(r["status"] not in ("submitted", "under_review") for r in statuses)

        await eventually(all_moved_on, "every filing taken by the desks", [worker])
        for app_id in ids:
            events = await db.fetch(
                """SELECT action, actor_role, actor_sub FROM events
                   WHERE stream_id = $1 ORDER BY seq""",
                app_id,
            )
            actions = [e["action"] for e in events]
            assert actions[:2] == ["create", "submit"]
            officer_steps = [e for e in events if e["actor_role"] == "officer"]
            assert officer_steps, actions
            # the desk, never the worker's host name: exporters read these (issue 18)
            assert {e["actor_sub"] for e in officer_steps} <= {"desk:intake", "desk:review"}
            decisions = [a for a in actions if a in ("approve", "approve_temporary", "reject")]
            assert len(decisions) <= 1
        runs = await db.fetch(
            """SELECT desk, published_at, started_at, finished_at, released_at
               FROM authority_runs WHERE application_id = ANY($1::uuid[])""",
            ids,
        )
        assert {r["desk"] for r in runs} == {"intake", "review"}
        assert all(r["published_at"] <= r["started_at"] <= r["finished_at"] for r in runs)
    finally:
        processes.stop()
