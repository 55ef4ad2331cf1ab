"""Every command of an installation, run as a deployment runs it, on an empty database: the check
shared by the fresh virtual environment's test (tests/e2e) and the image's (tests/containers).

`migrate` prepares the database; `token` mints the tokens the checks use; `serve`, `worker`,
`scheduler` and `projector` run side by side; `simulate` files applications through the API; the
simulated authority decides some of them, the projector's backlog shows them, the scheduler
queues its sweeps, `metrics check` agrees with the event log, and every process stops on SIGTERM
with nothing in its log that speaks of an error. A command that cannot even import (a missing
runtime dependency, a broken package) fails it at its first step."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Sequence
from typing import Any, Protocol

import asyncpg
import httpx

from tests.polling import eventually
from tests.reports import problems

SECRET = "every-command-secret-of-more-than-32-bytes"
SPEED = 86400.0  # a business day per second: the simulated desks decide within seconds
JWT = re.compile(r"^[\w-]+\.[\w-]+\.[\w-]+$")
# Exit codes of a process stopped by SIGTERM: 0, or the signal (as a subprocess, or in a shell).
STOPPED = frozenset({0, -signal.SIGTERM, 128 + signal.SIGTERM})
DECIDED = ("approved", "temporarily_approved", "rejected", "info_requested")


def environment(database_url: str, redis_url: str) -> dict[str, str]:
    """The settings every command gets."""
    return {
        "LICENCEFLOW_DATABASE_URL": database_url,
        "LICENCEFLOW_REDIS_URL": redis_url,
        "LICENCEFLOW_JWT_SECRET": SECRET,
        "LICENCEFLOW_CLOCK_SPEED": str(SPEED),
        "LICENCEFLOW_SWEEP_INTERVAL_SECONDS": "1",
        "LICENCEFLOW_WEB_WORKERS": "1",
        "LICENCEFLOW_WORKER_CONCURRENCY": "1",
    }


class Running(Protocol):
    """A long-running command."""

    name: str

    def alive(self) -> bool: ...

    def output(self) -> str: ...

    def stop(self) -> int:
        """SIGTERM, wait (failing if it is ignored), and the exit code."""
        ...


class Launcher(Protocol):
    """How an installation runs `licenceflow ARGS` (its environment is the launcher's)."""

    def run(self, *args: str) -> tuple[int, str]:
        """A command that ends: its exit code and output."""
        ...

    def start(self, *args: str) -> Running: ...


def ended(command: Sequence[str], **options: Any) -> tuple[int, str]:
    """`command` run to its end (at most 5 minutes): its exit code and both its streams."""
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, **options
    )
    return done.returncode, done.stdout + done.stderr


def said(running: Sequence[Running]) -> str:
    return "\n".join(f"--- {r.name}\n{r.output()[-3000:]}" for r in running)


async def exercise(launcher: Launcher, api: str, database_url: str) -> None:
    """Run every command through `launcher`; the API listens at `api` (its port is set by the
    launcher's environment)."""
    code, out = launcher.run("migrate")
    assert code == 0, f"migrate exited {code}:\n{out}"

    tokens = {}
    for role in ("exporter", "viewer"):
        code, out = launcher.run("token", "--sub", f"{role}-1", "--org", "acme", "--role", role)
        token = out.strip().splitlines()[-1] if out.strip() else ""
        assert code == 0, f"token exited {code}:\n{out}"
        assert JWT.match(token), f"token printed no token:\n{out}"
        tokens[role] = token

    running: list[Running] = []
    try:
        for command in ("serve", "worker", "scheduler", "projector"):
            running.append(launcher.start(command))
        async with httpx.AsyncClient(base_url=api, timeout=10) as http:

            async def ready() -> bool:
                assert all(r.alive() for r in running), said(running)
                try:
                    return (await http.get("/health/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, f"the API ready at {api}\n{said(running)}", deadline=90)
            mine = await http.get(
                "/v1/applications", headers={"Authorization": f"Bearer {tokens['exporter']}"}
            )
            assert mine.status_code == 200, f"the minted token refused: {mine.text}"

            code, out = launcher.run(
                "simulate", "--base-url", api, "--duration", "3", "--speed", str(SPEED)
            )
            assert code == 0, f"simulate exited {code}:\n{out}\n{said(running)}"

            async def decided() -> bool:
                conn = await asyncpg.connect(database_url)
                try:
                    count: int = await conn.fetchval(
                        "SELECT count(*) FROM applications WHERE status = ANY($1::text[])",
                        list(DECIDED),
                    )
                finally:
                    await conn.close()
                return count > 0

            await eventually(decided, f"a decision by the workers\n{said(running)}", deadline=90)

            async def projected() -> bool:
                backlog = await http.get(
                    "/v1/metrics/backlog",
                    headers={"Authorization": f"Bearer {tokens['viewer']}"},
                )
                return backlog.status_code == 200 and sum(backlog.json()["by_status"].values()) > 0

            await eventually(projected, f"the projector's backlog\n{said(running)}")

        scheduler = running[2]
        await eventually(
            lambda: "Sending due task" in scheduler.output(),
            f"the scheduler queueing its sweeps\n{scheduler.output()}",
        )
        code, out = launcher.run("metrics", "check")
        assert code == 0, f"metrics check exited {code}:\n{out}"
    finally:
        codes = {r.name: r.stop() for r in running}
    # Celery's warm shutdown and the projector exit 0; uvicorn shuts down gracefully, then
    # re-raises the signal it caught (so its exit tells its supervisor it was stopped).
    assert all(code in STOPPED for code in codes.values()), f"exit codes {codes}\n{said(running)}"
    assert "Application shutdown complete" in running[0].output(), said(running[:1])
    errors = {r.name: problems(r.output()) for r in running}
    assert not any(errors.values()), f"errors in the logs: {errors}"
