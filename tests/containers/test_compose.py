"""The README's compose stack with its load profile, brought up as the README says
(tests/containers/compose.py), on the host network.

While Locust runs: the migrations are applied, every service is up, the simulated authority
decides applications, the backlog and the dashboard answer through the api container; then the
worker container is killed (`docker kill`) and started again, and every application it had to
act on is acted on, none decided twice. Locust exits 0, with no unexpected status, and leaves its
CSV and HTML reports; `metrics check` agrees with the event log. `docker compose down -v` removes
what the run made."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from licenceflow.store import migrations
from tests.containers import compose
from tests.containers.images import Images
from tests.polling import eventually
from tests.private_redis import free_port
from tests.reports import problems, read_csv, report, table

pytestmark = pytest.mark.containers

ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "compose-load"
SECRET = "compose-test-secret-" + "x" * 32
DECISIONS = ("approve", "approve_temporary", "reject")
# The README's defaults are 50 users for 2 minutes over 2 Locust workers; two cores also run
# the whole stack here, so the CI run is lighter, and its business day lasts a second (a desk
# decides within seconds). A redelivered task comes back after 10 s instead of an hour.
RUN = {
    "LOAD_USERS": "10",
    "LOAD_SPAWN_RATE": "5",
    "LOAD_DURATION": "75s",
    "LOAD_WORKERS": "1",
    "LICENCEFLOW_CLOCK_SPEED": "86400",
    "SIMULATE_DAYS": "60",
    "LICENCEFLOW_BROKER_VISIBILITY_TIMEOUT": "10",
}
LONG_RUNNING = ("postgres", "redis", "api", "worker", "scheduler", "projector", "locust-master")
ONE_SHOT = ("migrate", "load-tokens")


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], capture_output=True, check=True, timeout=60)


def state(container: str) -> tuple[str, int]:
    shown = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout.split()
    return (shown[0], int(shown[1])) if len(shown) == 2 else ("missing", -1)


@pytest.mark.timeout(1500)
async def test_the_readme_compose_stack_under_load(
    image: str,  # built first: compose's build then reuses its layers
    base_images: Images,
    tmp_path: Path,
) -> None:
    ports = compose.Ports(free_port(), free_port(), free_port(), free_port())
    results = tmp_path / "load-results"
    results.mkdir()
    results.chmod(0o777)  # the Locust image writes as its own user (uid 1000)
    env = {
        **os.environ,
        **RUN,
        "LICENCEFLOW_JWT_SECRET": SECRET,
        **compose.PASSWORDS,
        "LOAD_RESULTS": str(results),
        "PYTHON_IMAGE": base_images.python,
        "POSTGRES_IMAGE": base_images.postgres,
        "REDIS_IMAGE": base_images.redis,
        "LOCUST_IMAGE": base_images.locust,
    }
    stack = compose.Compose(f"licenceflow-test-{uuid.uuid4().hex[:8]}", ports, tmp_path, env)
    database = compose.database_url(ports)
    api = f"http://127.0.0.1:{ports.api}"
    began = time.monotonic()
    try:
        stack.up()

        def logs() -> str:
            return stack("logs", "--no-color", "--tail", "60", timeout=120).stdout

        async def up() -> bool:
            for service in LONG_RUNNING:
                container = stack.container(service)
                if not container or state(container)[0] != "running":
                    return False
            for service in ONE_SHOT:
                container = stack.container(service)
                assert state(container) == ("exited", 0), f"{service}: {state(container)}"
            return True

        await eventually(up, "every service up", deadline=300)
        conn = await asyncpg.connect(database)
        try:
            applied = await migrations.applied_versions(conn)
            assert applied == {m.version for m in migrations.available()}

            async def decided_by_a_desk() -> bool:
                return bool(
                    await conn.fetchval(
                        """SELECT count(*) FROM events
                           WHERE action = ANY($1::text[]) AND actor_sub LIKE 'desk:%'""",
                        list(DECISIONS),
                    )
                )

            await eventually(decided_by_a_desk, f"a desk's decision\n{logs()}", deadline=120)
            await through_the_api(stack, api)

            # The worker dies mid-run: what it had (queued, or in hand) is not lost.
            owed = [
                row["id"]
                for row in await conn.fetch(
                    "SELECT id FROM applications WHERE status IN ('submitted', 'under_review')"
                )
            ]
            worker = stack.container("worker")
            await asyncio.to_thread(docker, "kill", worker)
            assert state(worker) == ("exited", 137), state(worker)  # SIGKILL: no warm shutdown
            await asyncio.to_thread(docker, "start", worker)
            report(f"compose: the worker killed and started again, {len(owed)} applications owed")

            async def acted_on() -> bool:
                left = await conn.fetchval(
                    """SELECT count(*) FROM applications
                       WHERE id = ANY($1::uuid[]) AND status IN ('submitted', 'under_review')""",
                    owed,
                )
                return left == 0

            await eventually(
                acted_on, f"the {len(owed)} owed applications acted on\n{logs()}", deadline=240
            )
            code = stack.exit_code()
            twice = await conn.fetch(
                """SELECT stream_id, count(*) FROM events WHERE action = ANY($1::text[])
                   GROUP BY stream_id HAVING count(*) > 1""",
                list(DECISIONS),
            )
            assert not twice, f"decided more than once: {twice}"
        finally:
            await conn.close()
        check = stack("exec", "-T", "projector", "licenceflow", "metrics", "check", timeout=120)
        assert check.returncode == 0, f"metrics check:\n{check.stdout}{check.stderr}"
        app_logs = stack("logs", "--no-color", *compose.LICENCEFLOW_SERVICES, timeout=120).stdout
    finally:
        down = stack.down()
        report(f"compose ({' '.join(stack.command)}): {time.monotonic() - began:.0f} s, up to down")
    assert down.returncode == 0, down.stderr
    assert not volumes_left(stack), "down -v left volumes"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for made in results.iterdir():
        shutil.copy(made, ARTIFACTS / made.name)
    stats = read_csv(results / "licenceflow_stats.csv")
    report(f"compose's locust ({RUN['LOAD_USERS']} users, {RUN['LOAD_DURATION']}):\n{table(stats)}")
    failures = read_csv(results / "licenceflow_failures.csv")
    assert not failures, "\n".join(
        f"{f['Occurrences']} × {f['Name']}: {f['Error']}" for f in failures
    )
    assert (results / "report.html").stat().st_size > 0
    assert code == 0, f"locust-master exited {code}"
    assert not problems(app_logs), problems(app_logs)


async def through_the_api(stack: compose.Compose, api: str) -> None:
    """A token minted in the api container (`exec`: 1.29's `run` links the service to its
    dependencies, which the host network refuses), then the backlog and the dashboard."""
    minted = stack(
        "exec", "-T", "api", "licenceflow", "token", "--sub", "me", "--org", "acme",
        "--role", "viewer",
    )  # fmt: skip
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip().splitlines()[-1]
    async with httpx.AsyncClient(base_url=api, timeout=10) as http:
        backlog = await http.get(
            "/v1/metrics/backlog", headers={"Authorization": f"Bearer {token}"}
        )
        assert backlog.status_code == 200, backlog.text
        assert sum(backlog.json()["by_status"].values()) > 0
        page = await http.get("/dashboard")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]


def volumes_left(stack: compose.Compose) -> list[str]:
    project = stack.project
    listed = subprocess.run(
        [
            "docker",
            "volume",
            "ls",
            "--quiet",
            "--filter",
            f"label=com.docker.compose.project={project}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return listed.stdout.split()
