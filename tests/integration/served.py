"""`licenceflow serve` as a process of its own, configured from `Settings` the way a deployment
is: for a browser, and for a load whose schedule must not share an event loop with the server
it loads (an in-process server's work would delay the sends and bend their timing)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from licenceflow.config import Settings
from tests.polling import eventually
from tests.private_redis import free_port
from tests.processes import start


def start_serve(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`licenceflow serve` (one worker) on `port`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICENCEFLOW_")} | {
        "LICENCEFLOW_DATABASE_URL": settings.database_url or "",
        "LICENCEFLOW_REDIS_URL": settings.redis_url or "",
        "LICENCEFLOW_JWT_SECRET": settings.jwt_secret,
        "LICENCEFLOW_CLOCK_SPEED": str(settings.clock_speed),
        "LICENCEFLOW_SCENARIO": settings.scenario,
        "LICENCEFLOW_AUTHORITY": settings.authority,
        "LICENCEFLOW_LOG_LEVEL": "warning",
        # every request of a race gets a connection and queues on the lock, not for the pool
        "LICENCEFLOW_DB_POOL_MAX": str(settings.db_pool_max),
        "LICENCEFLOW_DB_POOL_MIN": str(min(settings.db_pool_min, settings.db_pool_max)),
        "LICENCEFLOW_DB_ACQUIRE_TIMEOUT_SECONDS": str(settings.db_acquire_timeout_seconds),
        "LICENCEFLOW_DB_LOCK_TIMEOUT_SECONDS": str(settings.db_lock_timeout_seconds),
        "LICENCEFLOW_BODY_TIMEOUT_SECONDS": str(settings.body_timeout_seconds),
        "LICENCEFLOW_METRICS_TOKEN": settings.metrics_token or "",
        "LICENCEFLOW_RATE_LIMIT_PER_SECOND": str(settings.rate_limit_per_second),
        "LICENCEFLOW_RATE_LIMIT_BURST": str(settings.rate_limit_burst),
    }
    if settings.clock_start is not None:
        env["LICENCEFLOW_CLOCK_START"] = settings.clock_start.isoformat()
    if settings.max_in_flight is not None:  # else the served process's default: the pool's size
        env["LICENCEFLOW_MAX_IN_FLIGHT"] = str(settings.max_in_flight)
    return start(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], env, log)


@contextlib.asynccontextmanager
async def serving(settings: Settings, log: Path) -> AsyncIterator[str]:
    """A real HTTP server; yields its base URL once it answers."""
    port = free_port()
    process = start_serve(settings, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=2) as http:

            async def answers() -> bool:
                if process.poll() is not None:
                    return True  # exited: said below, with its log
                with contextlib.suppress(httpx.TransportError):
                    return (await http.get("/health/live")).status_code == 200
                return False

            await eventually(answers, "`licenceflow serve` answers", logs=[log], deadline=30)
            assert process.poll() is None, f"`licenceflow serve` exited; see {log}"
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
