"""The scheduler (Celery beat) and a real worker expire licences on the business clock:
real processes, a real broker, the clock moved through its row in PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.clock import ClockAnchor, real_utc_now
from licenceflow.config import Settings
from licenceflow.store import clock as stored_clock
from licenceflow.store.pool import Connection
from tests.integration.conftest import SHANGHAI, Tokens, application_body
from tests.polling import eventually
from tests.processes import Processes

SWEEP_LINE = re.compile(r"sweep expire_licences: (\d+) expired")


@pytest.fixture
def processes(settings: Settings, tmp_path: Path) -> Iterator[Processes]:
    running = Processes(settings, tmp_path)
    yield running
    running.stop()


def sweeps(log: Path) -> list[int]:
    return [int(n) for n in SWEEP_LINE.findall(log.read_text())]


async def test_beat_and_a_worker_expire_a_licence_once(
    client: AsyncTestClient[Litestar], auth: Tokens, db: Connection, processes: Processes
) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = created.json()["id"]
    for action in ("accept", "approve_temporary"):
        await client.post(
            f"/v1/applications/{app_id}/actions", json={"action": action}, headers=auth("officer")
        )
    licence_id = (await client.get(f"/v1/applications/{app_id}", headers=auth("exporter"))).json()[
        "licence_id"
    ]
    original = await stored_clock.current(db)
    assert original is not None
    worker = processes.start("worker", "--concurrency", "1")
    scheduler = processes.start("scheduler", "--schedule-file", str(processes.folder / "beat"))
    logs = [worker, scheduler]
    try:

        async def swept() -> bool:
            return len(sweeps(worker)) >= 1

        await eventually(swept, "a first sweep", logs)
        assert (
            await db.fetchval("SELECT status FROM licences WHERE id = $1", licence_id) == "active"
        )

        # The business day after the licence's last valid day (2 December 2025).
        await stored_clock.save_anchor(
            db,
            ClockAnchor(
                real=real_utc_now(),
                business=datetime(2025, 12, 3, 8, 0, tzinfo=SHANGHAI),
                speed=0,
            ),
        )

        async def expired() -> bool:
            status = await db.fetchval("SELECT status FROM licences WHERE id = $1", licence_id)
            return bool(status == "expired")

        await eventually(expired, "expiry", logs)
        seen = len(sweeps(worker))

        async def two_more_sweeps() -> bool:
            return len(sweeps(worker)) >= seen + 2

        await eventually(two_more_sweeps, "two more sweeps", logs)
        events = await db.fetch(
            "SELECT actor_role FROM events WHERE stream_id = $1 AND action = 'expire'", licence_id
        )
        assert [e["actor_role"] for e in events] == ["system"]
        assert sum(sweeps(worker)) == 1
    finally:
        await stored_clock.save_anchor(db, original)
