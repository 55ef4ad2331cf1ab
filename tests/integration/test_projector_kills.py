"""2,000 simulated applications, the projector killed twice right after reading a batch: the
backlog metrics still equal PostgreSQL's truth exactly (`licenceflow metrics check`), a counter
corrupted on purpose is caught, and a rebuild from zero gives the same numbers."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.config import Settings
from licenceflow.domain.access import Principal
from licenceflow.domain.applications import ActionCommand
from licenceflow.domain.audit import Role
from licenceflow.domain.filing import NewApplication
from licenceflow.metrics import keys
from licenceflow.metrics.projector import BATCH, apply_batch, events_behind, read_batch
from licenceflow.simulation import generator, scenarios
from licenceflow.store.pool import Connection, connect
from licenceflow.workflow import applications as workflow
from licenceflow.workflow.context import Context
from tests.integration.conftest import CALENDAR, Tokens, application_body, project_all
from tests.polling import eventually

APPLICATIONS = 2000
ORGS = ("acme", "borealis", "cathay-magnets", "dunmore")
OFFICER = Principal(sub="officer:kills", org="authority", roles=frozenset({Role.OFFICER}))
# What officers and exporters do next, by weight: every status and bucket gets some.
NEXT = {
    "accept": 70,
    "reject_incomplete": 10,
    "withdraw": 5,
    "leave": 15,
}
DECIDE = {
    "approve": 40,
    "approve_temporary": 15,
    "reject": 15,
    "request_info": 15,
    "delay": 5,
    "leave": 10,
}
BODIES = {
    "approve": {"action": "approve", "valid_months": 12},
    "approve_temporary": {"action": "approve_temporary"},
    "reject": {"action": "reject", "reason": "end use not credible", "reason_code": "refused"},
    "reject_incomplete": {
        "action": "reject",
        "reason": "end-user certificate missing",
        "reason_code": "incomplete",
    },
    "request_info": {"action": "request_info", "reason": "end-user certificate"},
    "delay": {"action": "delay", "reason": "inter-agency review"},
    "accept": {"action": "accept"},
    "withdraw": {"action": "withdraw"},
}


def pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


async def simulate(database_url: str, ctx: Context, worker: int, count: int) -> None:
    """One stream of exporters filing realistic applications and officers acting on them,
    each step its own transaction, as the API would run them."""
    rng = random.Random(worker)
    mix = scenarios.load("baseline").mix
    today = ctx.calendar.date_of(ctx.clock.now())
    conn = await connect(database_url)
    try:
        for n in range(count):
            org = ORGS[n % len(ORGS)]
            exporter = Principal(sub=f"{org}:filer", org=org, roles=frozenset({Role.EXPORTER}))
            body = generator.application(mix, rng, today) | {"submit": True}
            async with conn.transaction():
                created = await workflow.create(
                    conn, ctx, exporter, msgspec.convert(body, NewApplication)
                )
            steps = [pick(rng, NEXT)]
            if steps[0] == "accept":
                steps.append(pick(rng, DECIDE))
            for step in steps:
                if step == "leave":
                    break
                actor = exporter if step == "withdraw" else OFFICER
                async with conn.transaction():
                    await workflow.act(
                        conn,
                        ctx,
                        actor,
                        created.application.id,
                        msgspec.convert(BODIES[step], ActionCommand),
                    )
    finally:
        await conn.close()


class Projector:
    """`licenceflow projector` as a real process, optionally pausing after its Nth batch read."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.env = {
            **os.environ,
            "LICENCEFLOW_DATABASE_URL": settings.database_url or "",
            "LICENCEFLOW_REDIS_URL": settings.redis_url or "",
        }
        self.marker = folder / "paused"
        self.log = folder / "projector.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, pause_after_reads: int | None = None) -> None:
        launcher = ["-m", "licenceflow"]
        if pause_after_reads is not None:
            skip = str(pause_after_reads - 1)
            launcher = ["-m", "tests.paused", "projector-read", str(self.marker), skip, "--"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, *launcher, "projector"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def paused(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        return self.marker.exists() and str(self.process.pid) in self.marker.read_text().split()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int | None:
        """SIGTERM, as a container stop sends: the projector exits cleanly (0)."""
        if self.process is None or self.process.poll() is not None:
            return None
        self.process.terminate()
        return self.process.wait(timeout=30)


async def position(redis: Any) -> bytes:
    return bytes(await redis.get((await keys.current(redis)).position) or b"")


async def metrics_command(settings: Settings, *args: str) -> tuple[int, str]:
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "licenceflow",
        "metrics",
        *args,
        env={
            **os.environ,
            "LICENCEFLOW_DATABASE_URL": settings.database_url or "",
            "LICENCEFLOW_REDIS_URL": settings.redis_url or "",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await run.communicate()
    assert run.returncode is not None
    return run.returncode, out.decode()


@pytest.mark.timeout(300)
async def test_a_projector_killed_twice_after_reading_loses_and_doubles_nothing(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    auth: Tokens,
    database_url: str,
    db: Connection,
    redis: Any,
    settings: Settings,
    tmp_path: Path,
) -> None:
    ctx: Context = app.state.services.context
    streams = 4  # exporters and officers at work while the projector dies and comes back
    filing = asyncio.gather(
        *(simulate(database_url, ctx, n, APPLICATIONS // streams) for n in range(streams))
    )
    projector = Projector(settings, tmp_path)
    try:
        # Kill 1: after its 3rd read (two batches applied). Kill 2: after the 2nd read of the
        # next run. Each time the batch it read must not have been applied.
        for reads in (3, 2):
            before = await position(redis)

            async def enough_events(reads: int = reads) -> bool:
                count: int = await db.fetchval(
                    "SELECT count(*) FROM events WHERE stream = 'application'"
                )
                return count > 2 * BATCH * reads

            await eventually(enough_events, "events to project")
            projector.start(pause_after_reads=reads)
            await eventually(projector.paused, "the projector pausing after a read")
            paused_at = await position(redis)
            projector.kill()
            assert await position(redis) == paused_at  # the batch it read was not applied
            assert paused_at != before  # it applied the batches before that read
            print(f"killed after read {reads}: position {before.decode()} → {paused_at.decode()}")
        await filing
        projector.start()

        async def caught_up() -> bool:
            return await events_behind(db, redis, await keys.current(redis)) == 0

        await eventually(caught_up, "the projector catching up", logs=[projector.log])
        assert projector.stop() == 0, projector.log.read_text()[-3000:]
    finally:
        projector.stop()

    assert await db.fetchval("SELECT count(*) FROM applications") == APPLICATIONS
    code, out = await metrics_command(settings, "check")
    assert code == 0, out
    backlog = (await client.get("/v1/metrics/backlog", headers=auth("viewer"))).json()
    statuses = backlog["by_status"]
    assert sum(statuses.values()) == APPLICATIONS
    print(f"by status: {statuses}")
    assert all(statuses[s] > 0 for s in statuses if s != "draft")  # every path was taken

    generation = await keys.current(redis)
    await redis.hincrby(generation.key("g", "element"), "Dy:pending", 1)  # corrupted
    code, out = await metrics_command(settings, "check")
    assert code == 1
    assert "g element Dy:pending: redis" in out

    code, out = await metrics_command(settings, "rebuild")
    assert code == 0, out
    code, out = await metrics_command(settings, "check")
    assert code == 0, out
    rebuilt = (await client.get("/v1/metrics/backlog", headers=auth("viewer"))).json()
    assert rebuilt == backlog


async def test_a_batch_two_projectors_read_is_applied_once(
    client: AsyncTestClient[Litestar], auth: Tokens, db: Connection, redis: Any
) -> None:
    """Two projectors read the same batch from the same position (a second copy, or one that
    stalled): the first to apply it moves the position, and the second's apply is refused
    whole — the counts are those of one application of the batch."""
    for _ in range(3):
        created = await client.post(
            "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
        )
        assert created.status_code == 201
    generation = await keys.current(redis)
    position = (await redis.get(generation.position) or b"").decode()
    batch = await read_batch(db, position)
    assert batch
    assert await apply_batch(redis, generation, position, batch, CALENDAR)
    assert not await apply_batch(redis, generation, position, batch, CALENDAR)
    await project_all(db, redis)  # whatever was not yet below the horizon
    by_status = (await client.get("/v1/metrics/backlog", headers=auth("viewer"))).json()[
        "by_status"
    ]
    assert by_status["submitted"] == sum(by_status.values()) == 3
