"""Overload: the create offered open-loop at three times its measured maximum for 30 s.

    python -m tests.perf.overload [--seconds 30] [--factor 3] [--client-cpu N]

Needs LICENCEFLOW_BENCH_DATABASE_URL (an administrative PostgreSQL URL: the run creates and
drops a database of its own) and LICENCEFLOW_BENCH_REDIS_URL (default redis://127.0.0.1:6379/13).
`licenceflow serve` runs as the image runs it (two worker processes), the human authority, a
fixed clock, rate limiting off (one principal sends everything: the service's own protection,
the cap on requests in flight, is what is measured). Three phases, each open-loop (every
request timed from when it was due, tests/perf/openloop.py):

1. unloaded: 20 creates a second for 20 s, the accepted requests' p99;
2. the maximum: 2,000 a second for 10 s, the rate of 201s achieved;
3. overload: `factor` × that maximum for `seconds`.

It prints, and checks: accepted requests' p99 within 5× the unloaded p99; refusals (503, 429)
answered fast (p99 ≤ 50 ms); nothing accepted lost (every 201 is a row); no 500.

With `--client-cpu N` the load generator runs alone on CPU N and the server's processes on the
others (as a load generator on its own machine would): on a two-core machine the client
otherwise takes CPU from the server it measures. Pin the database too for a clean split
(`taskset -a -cp 0 $(pgrep -o postgres)`); the run says which CPUs each side had."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import asyncpg
import msgspec

from licenceflow.api.auth import issue_token
from licenceflow.config import Settings
from tests import harness
from tests.examples import ahead, application_body
from tests.perf import openloop
from tests.perf.bench import raw_request, serving
from tests.private_redis import free_port

SECRET = "overload-run-secret-" + "x" * 32
REFUSED = (429, 503)


def p99_ms(latencies: list[float]) -> float:
    """The 99th percentile in ms; 0 when there is none (no request of that kind)."""
    ordered = sorted(latencies)
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1)


async def phase(port: int, request: bytes, rate: float, seconds: float) -> openloop.Outcome:
    # more connections than the server admits at once: beyond its cap the server must refuse,
    # not the client queue
    return await openloop.run(
        "127.0.0.1", port, lambda _: request, rate=rate, seconds=seconds, max_connections=1024
    )


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--seconds", type=float, default=30.0)
    options.add_argument("--factor", type=float, default=3.0)
    options.add_argument("--client-cpu", type=int, default=None)
    args = options.parse_args()
    admin = os.environ.get(
        "LICENCEFLOW_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("LICENCEFLOW_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    name, url = asyncio.run(harness.create_database(admin))
    folder = Path(tempfile.mkdtemp(prefix="licenceflow-overload-"))
    env = {
        **os.environ,
        "LICENCEFLOW_DATABASE_URL": url,
        "LICENCEFLOW_REDIS_URL": redis_url,
        "LICENCEFLOW_JWT_SECRET": SECRET,
        "LICENCEFLOW_WEB_WORKERS": "2",
        "LICENCEFLOW_AUTHORITY": "human",
        "LICENCEFLOW_LOG_LEVEL": "warning",
        "LICENCEFLOW_CLOCK_SPEED": "0",
        "LICENCEFLOW_RATE_LIMIT_PER_SECOND": "0",
    }
    try:
        subprocess.run([sys.executable, "-m", "licenceflow", "migrate"], env=env, check=True)
        token = issue_token(
            Settings(jwt_secret=SECRET),
            sub="overload",
            org="acme",
            roles=["exporter"],
            ttl=timedelta(hours=1),
        )
        body = msgspec.json.encode(application_body(submit=True, planned_ship_date=ahead()))
        request = raw_request("POST", "/v1/applications", token, body)
        port = free_port()
        every_cpu = os.sched_getaffinity(0)
        client_cpus = {args.client_cpu} if args.client_cpu is not None else every_cpu
        server_cpus = (every_cpu - client_cpus) or every_cpu
        os.sched_setaffinity(0, server_cpus)  # the server's processes inherit it
        with serving(env, port, folder / "serve.log"):
            os.sched_setaffinity(0, client_cpus)
            unloaded = asyncio.run(phase(port, request, 20, 20))
            maximum = asyncio.run(phase(port, request, 2000, 10))
            ceiling = maximum.statuses.get(201, 0) / maximum.elapsed
            offered = args.factor * ceiling
            loaded = asyncio.run(phase(port, request, offered, args.seconds))
        accepted = sum(o.statuses.get(201, 0) for o in (unloaded, maximum, loaded))
        rows = asyncio.run(count_rows(url))
        result = {
            "cpus": {"client": sorted(client_cpus), "server": sorted(server_cpus)},
            "unloaded": {
                "rate": 20,
                "p99_ms": p99_ms(unloaded.by_status.get(201, [])),
                "statuses": unloaded.statuses,
            },
            "maximum": {
                "offered": 2000,
                "created_per_second": round(ceiling, 1),
                "statuses": maximum.statuses,
            },
            "overload": {
                "offered_per_second": round(offered, 1),
                "seconds": args.seconds,
                "statuses": loaded.statuses,
                "errors": loaded.errors,
                "accepted_p99_ms": p99_ms(loaded.by_status.get(201, [])),
                "refused_p99_ms": p99_ms([t for s in REFUSED for t in loaded.by_status.get(s, [])]),
            },
            "accepted": accepted,
            "rows": rows,
            "lost": accepted - rows,
        }
    finally:
        asyncio.run(harness.drop_database(admin, name))
    checks = {
        "accepted p99 within 5x unloaded": result["overload"]["accepted_p99_ms"]
        <= 5 * result["unloaded"]["p99_ms"],
        "refusals p99 <= 50 ms": result["overload"]["refused_p99_ms"] <= 50,
        "nothing accepted lost": result["lost"] == 0,
        "no 500": all(500 not in o.statuses for o in (unloaded, maximum, loaded)),
    }
    print(json.dumps(result | {"checks": checks}, indent=2))
    return 0 if all(checks.values()) else 1


async def count_rows(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM applications")
        return count
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.exit(main())
