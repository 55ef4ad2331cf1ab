"""The fault run: the stack under the Locust load while its dependencies fail (issue 18).

    python -m tests.load.faults [--seconds 60] [--users 20]

The whole stack as processes (`serve` with two workers, a worker, the scheduler, the projector)
on an embedded PostgreSQL (pgserver) and a Redis of its own; tests/load/locustfile.py drives it
headless, its users (compliance teams, officers, a dashboard) journaling every answer. During
the run PostgreSQL is SIGKILLed once and started again, then Redis is stopped for 20 s. It
prints the counts (accepted, refused by status, no answer, lost) and checks:

- every write acknowledged with a 2xx is in PostgreSQL afterwards (at its version or later);
- no answer was a 500: a dependency down is a 503;
- the service recovered without a restart: `/health/ready` is 200 and requests succeed again;
- `licenceflow metrics check` passes once the projector has caught up.

Exit status 0 when every check holds."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

from licenceflow.config import Settings
from tests.load.test_load import LOCUSTFILE, tokens
from tests.private_redis import PrivateRedis, free_port
from tests.processes import Processes

SECRET = "fault-run-secret-of-more-than-32-bytes"
START_PG = (
    "import sys; from pgserver import get_server; "
    "print(get_server(sys.argv[1], cleanup_mode=None).get_uri())"
)


def start_postgres(folder: Path) -> str:
    """The embedded PostgreSQL in `folder`, created and started by pgserver (in a process of
    its own, which leaves it running); its URL."""
    started = subprocess.run(
        [sys.executable, "-c", START_PG, str(folder)], capture_output=True, text=True, check=True
    )
    return started.stdout.strip().splitlines()[-1]


def pg_ctl(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """pgserver's own pg_ctl on `folder`, as the user that owns it (pgserver runs the server
    as a user of its own when started as root)."""
    from pgserver._commands import POSTGRES_BIN_PATH  # type: ignore[import-untyped]

    owner = folder.stat()

    def as_owner() -> None:
        if os.getuid() != owner.st_uid:
            os.setgid(owner.st_gid)
            os.setuid(owner.st_uid)

    return subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(folder), *args],
        preexec_fn=as_owner,
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


def restart_postgres(folder: Path) -> None:
    """Start the killed server again as pgserver started it (same socket folder), once its
    orphaned backends have let go of the shared memory."""
    options = f"-h '' -k {folder}"
    deadline = time.monotonic() + 60
    while (
        started := pg_ctl(
            folder, "-w", "-o", options, "-l", str(folder / "log"), "start", check=False
        )
    ).returncode != 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"PostgreSQL did not start again:\n{started.stderr[-2000:]}")
        time.sleep(0.5)


def kill_postgres(folder: Path) -> None:
    """SIGKILL the postmaster: no shutdown, no checkpoint; its backends exit on their own."""
    pid = int((folder / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)


def stop_postgres(folder: Path) -> None:
    pg_ctl(folder, "-m", "fast", "stop", check=False)


async def faults(pg_folder: Path, redis: PrivateRedis, seconds: float) -> list[str]:
    """The timeline: PostgreSQL killed at a quarter of the run and started again at once;
    Redis stopped at half of it, for 20 s."""
    timeline = []
    await asyncio.sleep(seconds / 4)
    kill_postgres(pg_folder)
    timeline.append(f"{seconds / 4:.0f} s: PostgreSQL SIGKILLed")
    began = time.monotonic()
    await asyncio.to_thread(restart_postgres, pg_folder)
    timeline.append(f"PostgreSQL back after {time.monotonic() - began:.1f} s")
    await asyncio.sleep(max(0.0, seconds / 2 - seconds / 4 - (time.monotonic() - began)))
    redis.stop()
    timeline.append(f"{seconds / 2:.0f} s: Redis stopped for 20 s")
    await asyncio.sleep(20)
    redis.start()
    timeline.append("Redis started again")
    return timeline


async def lost_writes(url: str, journal: list[dict[str, object]]) -> list[dict[str, object]]:
    """The acknowledged writes PostgreSQL does not hold (at the version answered, or later)."""
    conn = await asyncpg.connect(url)
    try:
        lost = []
        for entry in journal:
            if "kind" not in entry:
                continue
            table = "applications" if entry["kind"] == "application" else "licences"
            version = await conn.fetchval(
                f"SELECT version FROM {table} WHERE id = $1::uuid",  # one of two table names
                str(entry["id"]),
            )
            if version is None or version < int(str(entry["version"])):
                lost.append(entry)
        return lost
    finally:
        await conn.close()


async def recovered(host: str, viewer: str) -> bool:
    """Ready, and the API answers a read, within a minute of the last fault."""
    async with httpx.AsyncClient(base_url=host, timeout=5) as http:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                ready = await http.get("/health/ready")
                listed = await http.get(
                    "/v1/applications", headers={"Authorization": f"Bearer {viewer}"}
                )
                if ready.status_code == listed.status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            await asyncio.sleep(1)
    return False


def metrics_check(env: dict[str, str]) -> bool:
    """`licenceflow metrics check`, until the projector has caught up (a minute at most)."""
    deadline = time.monotonic() + 60
    while True:
        checked = subprocess.run(
            [sys.executable, "-m", "licenceflow", "metrics", "check"], env=env, capture_output=True
        )
        if checked.returncode == 0 or time.monotonic() > deadline:
            return checked.returncode == 0
        time.sleep(2)


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--seconds", type=float, default=60.0)
    options.add_argument("--users", type=int, default=20)
    args = options.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="licenceflow-faults-"))
    pg_folder = folder / "pgdata"
    database_url = start_postgres(pg_folder)
    redis = PrivateRedis(folder)
    redis.start()
    settings = Settings(database_url=database_url, redis_url=redis.url, jwt_secret=SECRET)
    processes = Processes(
        settings,
        folder,
        LICENCEFLOW_JWT_SECRET=SECRET,
        LICENCEFLOW_AUTHORITY="human",  # the locust officers decide
        LICENCEFLOW_CLOCK_SPEED="1",
        PROMETHEUS_MULTIPROC_DIR=str(folder / "prometheus"),
    )
    subprocess.run([sys.executable, "-m", "licenceflow", "migrate"], env=processes.env, check=True)
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    given = tokens(settings)
    (folder / "tokens.json").write_text(json.dumps(given))
    journal_file = folder / "journal.jsonl"
    processes.start("serve", "--port", str(port), "--workers", "2")
    processes.start("worker")
    processes.start("scheduler", "--schedule-file", str(folder / "beat-schedule"))
    processes.start("projector")
    try:
        if not asyncio.run(recovered(host, str(given["viewer"]))):
            raise SystemExit(f"the stack did not start; see the logs in {folder}")
        locust = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("locust")),
                "-f",
                str(LOCUSTFILE),
                "--headless",
                f"--users={args.users}",
                f"--spawn-rate={args.users}",
                f"--run-time={args.seconds:.0f}s",
                "--stop-timeout=10",
                f"--host={host}",
                "--only-summary",
            ],
            env={
                **os.environ,
                "LICENCEFLOW_LOAD_TOKENS": str(folder / "tokens.json"),
                "LICENCEFLOW_LOAD_JOURNAL": str(journal_file),
            },
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        timeline = asyncio.run(faults(pg_folder, redis, args.seconds))
        locust.wait(timeout=args.seconds + 60)
        back = asyncio.run(recovered(host, str(given["viewer"])))
        consistent = metrics_check(processes.env)
        journal = [json.loads(line) for line in journal_file.read_text().splitlines()]
        lost = asyncio.run(lost_writes(database_url, journal))
    finally:
        processes.stop()
        redis.stop()
        stop_postgres(pg_folder)
    statuses = Counter(int(entry["status"]) for entry in journal)
    accepted = sum(n for status, n in statuses.items() if 200 <= status < 400)
    written = sum("kind" in entry for entry in journal)
    result = {
        "timeline": timeline,
        "requests": len(journal),
        "accepted": accepted,
        "acknowledged_writes": written,
        "refused_by_status": {s: n for s, n in sorted(statuses.items()) if s >= 400},
        "no_answer": statuses.get(0, 0),
        "lost": len(lost),
        "logs": str(folder),
    }
    checks = {
        "nothing acknowledged lost": not lost,
        "no 500": statuses.get(500, 0) == 0,
        "a dependency down is a 503": statuses.get(503, 0) > 0,
        "recovered without a restart": back,
        "metrics check passes": consistent,
    }
    print(json.dumps(result | {"checks": checks}, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
