"""`licenceflow simulate`, the exporters of a scenario, as a process a user starts: beside a
service that may not listen yet (`licenceflow dev` starts both at once)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from licenceflow.config import Settings
from licenceflow.store.pool import Connection
from tests.polling import eventually
from tests.private_redis import PrivateRedis, free_port
from tests.processes import start


@pytest.mark.timeout(120)
async def test_a_simulation_started_before_its_service_waits_for_it(
    fresh_db: tuple[str, Connection],
    private_redis: PrivateRedis,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """Two CI runs saw `licenceflow dev` file nothing: its simulation asked the API for the
    clock before the API listened, and ended on the refused connection."""
    url, db = fresh_db
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICENCEFLOW_")} | {
        "LICENCEFLOW_DATABASE_URL": url,
        "LICENCEFLOW_REDIS_URL": private_redis.url,
        "LICENCEFLOW_JWT_SECRET": settings.jwt_secret,
        "LICENCEFLOW_CLOCK_START": "2025-06-02T09:00:00+08:00",
        "LICENCEFLOW_CLOCK_SPEED": "86400",
        "LICENCEFLOW_AUTHORITY": "human",
        "LICENCEFLOW_LOG_LEVEL": "warning",
    }
    base = f"http://127.0.0.1:{port}"
    simulation_log, serve_log = tmp_path / "simulate.log", tmp_path / "serve.log"
    simulation = start(["simulate", "--base-url", base, "--duration", "2"], env, simulation_log)
    serve: subprocess.Popen[bytes] | None = None
    try:
        await eventually(
            lambda: (
                "does not answer yet" in simulation_log.read_text() or simulation.poll() is not None
            ),
            "the simulation waiting for a service that does not listen yet",
            logs=[simulation_log],
        )
        assert simulation.poll() is None, simulation_log.read_text()[-3000:]
        serve = start(["serve", "--host", "127.0.0.1", "--port", str(port)], env, serve_log)
        await eventually(
            lambda: simulation.poll() is not None,
            "the simulation files for two business days and sums up",
            logs=[simulation_log, serve_log],
            deadline=90,
        )
        assert simulation.returncode == 0, simulation_log.read_text()[-3000:]
        assert '"filed"' in simulation_log.read_text()
        assert await db.fetchval("SELECT count(*) FROM applications") > 0
    finally:
        for process in (simulation, serve):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
