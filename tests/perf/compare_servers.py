"""Which ASGI server `serve` should run: uvicorn or granian, same app, same worker count.

    python -m tests.perf.compare_servers [--seconds 10] [--rounds 2]

Needs `wrk` (Debian) and granian (`pip install granian`; not a dependency of the service),
and LICENCEFLOW_DATABASE_URL / LICENCEFLOW_REDIS_URL. It migrates that database, files one
application, then alternates the two servers (A B A B: the machine is shared and noisy) under
wrk on three paths: liveness (no I/O), one application by id (one query), the backlog metrics
(Redis only). Prints requests per second and p99 per server and path, and the ratio."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from licenceflow.api.auth import issue_token
from licenceflow.config import Settings
from licenceflow.store import migrations
from licenceflow.store.pool import connect
from tests.examples import ahead, application_body
from tests.private_redis import free_port

WORKERS = 2
SECRET = "a-benchmark-secret-of-32-bytes-or-more"


def command(server: str, port: int) -> list[str]:
    if server == "uvicorn":
        return [sys.executable, "-m", "licenceflow", "serve", "--port", str(port)]
    return [
        str(Path(sys.executable).with_name("granian")),
        "--interface", "asgi", "--factory", "--workers", str(WORKERS),
        "--loop", "uvloop", "--host", "127.0.0.1", "--port", str(port),
        "--no-ws", "--log-level", "warning",
        "licenceflow.api.app:create_app",
    ]  # fmt: skip


def wrk(url: str, token: str, seconds: int) -> tuple[float, float]:
    auth = f"Authorization: Bearer {token}"
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-H", auth, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return rps, float(p99) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def prepare(settings: Settings) -> str:
    conn = await connect(settings.database_url or "")
    try:
        await migrations.migrate(conn)
    finally:
        await conn.close()
    return settings.database_url or ""


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--seconds", type=int, default=10)
    args.add_argument("--rounds", type=int, default=2)
    options = args.parse_args()
    settings = Settings.from_env(os.environ, jwt_secret=SECRET)
    asyncio.run(prepare(settings))
    token = issue_token(
        settings, sub="bench", org="acme", roles=["exporter"], ttl=timedelta(hours=1)
    )
    env = {
        **os.environ,
        "LICENCEFLOW_JWT_SECRET": SECRET,
        "LICENCEFLOW_WEB_WORKERS": str(WORKERS),
        "LICENCEFLOW_LOG_LEVEL": "warning",
        "LICENCEFLOW_RATE_LIMIT_PER_SECOND": "0",  # capacity, not the per-principal limit
        # request metrics shared between worker processes for both, as `serve` has them
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="licenceflow-metrics-"),
    }
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    app_id = ""
    for _ in range(options.rounds):
        for server in ("uvicorn", "granian"):
            port = free_port()
            process = subprocess.Popen(command(server, port), env=env)
            base = f"http://127.0.0.1:{port}"
            try:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if httpx.get(f"{base}/health/live").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, f"{server} did not start"
                    time.sleep(0.2)
                if not app_id:
                    created = httpx.post(
                        f"{base}/v1/applications",
                        json=application_body(submit=True, planned_ship_date=ahead()),
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    app_id = created.json()["id"]
                paths = {
                    "liveness": "/health/live",
                    "read by id": f"/v1/applications/{app_id}",
                    "backlog": "/v1/metrics/backlog",
                }
                for name, path in paths.items():
                    results.setdefault((server, name), []).append(
                        wrk(base + path, token, options.seconds)
                    )
            finally:
                process.terminate()
                process.wait(timeout=30)
    print(f"{'path':<12} {'server':<8} {'rps':>9} {'p99 ms':>8}   (median of {options.rounds})")
    for name in ("liveness", "read by id", "backlog"):
        for server in ("uvicorn", "granian"):
            runs = results[(server, name)]
            rps = statistics.median(r for r, _ in runs)
            p99 = statistics.median(p for _, p in runs)
            print(f"{name:<12} {server:<8} {rps:>9.0f} {p99:>8.2f}")
        ratio = statistics.median(r for r, _ in results[("granian", name)]) / statistics.median(
            r for r, _ in results[("uvicorn", name)]
        )
        print(f"{name:<12} granian/uvicorn rps ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
