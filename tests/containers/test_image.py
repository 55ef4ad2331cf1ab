"""The image built from deploy/Dockerfile as it ships: it runs as a non-root user, its health
check follows the port it serves on, and every command runs in it (tests/every_command.py), on
this machine's PostgreSQL and a Redis of the test's own, over the host network."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.containers.conftest import output
from tests.containers.launcher import InImage
from tests.every_command import environment, exercise
from tests.polling import eventually
from tests.private_redis import PrivateRedis, free_port
from tests.reports import report

pytestmark = pytest.mark.containers


def test_the_image_runs_as_a_non_root_user(image: str) -> None:
    config = json.loads(output("image", "inspect", "--format", "{{json .Config}}", image))
    assert config["User"] == "licenceflow"
    ids = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", image],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert ids.startswith("uid=10001(licenceflow) gid=10001(licenceflow)"), ids
    size = int(output("image", "inspect", "--format", "{{.Size}}", image))
    report(f"image {image}: {size / 1e6:.0f} MB")


@pytest.mark.timeout(600)
async def test_every_command_runs_in_the_image(
    image: str, empty_database: str, private_redis: PrivateRedis
) -> None:
    port = free_port()
    env = {**environment(empty_database, private_redis.url), "LICENCEFLOW_PORT": str(port)}
    await exercise(InImage(image, env), f"http://127.0.0.1:{port}", empty_database)


@pytest.mark.timeout(300)
async def test_the_health_check_asks_the_port_the_api_serves_on(
    image: str, empty_database: str, private_redis: PrivateRedis
) -> None:
    port = free_port()  # not the image's default 8000
    env = {**environment(empty_database, private_redis.url), "LICENCEFLOW_PORT": str(port)}
    code, out = InImage(image, env).run("migrate")
    assert code == 0, out
    serve = InImage(image, env).start("serve")

    def healthy() -> bool:
        status = serve.state("{{.State.Health.Status}}")
        assert status != "unhealthy", f"the HEALTHCHECK failed on port {port}:\n{serve.output()}"
        return status == "healthy"

    try:
        await eventually(
            healthy,
            f"the image's HEALTHCHECK reporting healthy on port {port}",
            deadline=90,
        )
    finally:
        serve.stop()
