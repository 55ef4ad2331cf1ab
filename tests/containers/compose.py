"""The README's compose stack, run by the compose this machine has, on the host network.

`docker compose` (v2) runs the README's command as it stands:
`docker compose --profile load up --build --exit-code-from locust-master`. Debian's
`docker-compose` (1.29) stops the whole stack as soon as any container exits (the one-shot
`migrate` first), so there the same stack is brought up with `--detach` and the run's exit code is
Locust master's, read with `docker wait`: the same services, images and order, and the same
answer.

The override file (`host_network`) only puts every service on the host network and moves ports
and addresses to match: 127.0.0.1 for every service name, free ports for PostgreSQL, Redis, the
API and the Locust master, so that the machine's own servers keep theirs. The host network
refuses published ports: v2's override drops the api's with `!reset`; 1.29 knows no `!reset` and
merges lists, so there the stack runs from a copy of docker-compose.yml whose only change is that
the api publishes no port (`--project-directory` keeps its relative paths the repository's).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
LICENCEFLOW_SERVICES = (
    "migrate", "api", "worker", "scheduler", "projector", "simulator", "load-tokens"
)  # fmt: skip


class Reset(list[Any]):
    """A list an override replaces instead of merging (compose v2's `!reset` tag)."""


yaml.SafeDumper.add_representer(
    Reset, lambda dumper, value: dumper.represent_sequence("!reset", value)
)


class Ports(msgspec.Struct, frozen=True):
    postgres: int
    redis: int
    api: int
    locust: int


POSTGRES_PASSWORD = "compose-test-postgres"
REDIS_PASSWORD = "compose-test-redis"
PASSWORDS = {"POSTGRES_PASSWORD": POSTGRES_PASSWORD, "REDIS_PASSWORD": REDIS_PASSWORD}


def database_url(ports: Ports) -> str:
    return f"postgresql://licenceflow:{POSTGRES_PASSWORD}@127.0.0.1:{ports.postgres}/licenceflow"


def host_network(ports: Ports, services: dict[str, Any]) -> dict[str, Any]:
    """The override for `services` (docker-compose.yml's, as parsed)."""
    addresses = {
        "LICENCEFLOW_DATABASE_URL": database_url(ports),
        "LICENCEFLOW_REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{ports.redis}/0",
    }
    api = f"http://127.0.0.1:{ports.api}"
    override: dict[str, Any] = {
        name: {"network_mode": "host"} for name in services
    }  # every service, the load profile's too
    override["postgres"]["environment"] = {"PGPORT": str(ports.postgres)}  # server and pg_isready
    override["redis"]["command"] = [*services["redis"]["command"], "--port", str(ports.redis)]
    override["redis"]["healthcheck"] = {
        "test": ["CMD", "redis-cli", "-p", str(ports.redis), "ping"]
    }
    for name in LICENCEFLOW_SERVICES:
        override[name]["environment"] = dict(addresses)
        override[name]["build"] = {"network": "host"}  # the build reaches the package index
    override["api"]["environment"]["LICENCEFLOW_PORT"] = str(ports.api)
    override["api"]["ports"] = Reset()
    override["simulator"]["command"] = [
        api if part == "http://api:8000" else part for part in services["simulator"]["command"]
    ]
    master = services["locust-master"]["command"].replace("http://api:8000", api)
    override["locust-master"]["command"] = f"{master} --master-bind-port {ports.locust}"
    override["locust-worker"]["command"] = [
        *services["locust-worker"]["command"][:-2],  # without `--master-host locust-master`
        "--master-host", "127.0.0.1", "--master-port", str(ports.locust),
    ]  # fmt: skip
    return override


def compose_command() -> list[str]:
    """Compose v2 where there is one, else Debian's docker-compose (1.29)."""
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if v2.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("neither `docker compose` nor `docker-compose` is installed")


class Compose:
    """`compose -p PROJECT -f docker-compose.yml -f OVERRIDE --profile load ...` with `env`, the
    override written to `folder`."""

    def __init__(self, project: str, ports: Ports, folder: Path, env: dict[str, str]) -> None:
        self.command = compose_command()
        self.v2 = self.command == ["docker", "compose"]
        parsed = services()
        override = folder / "docker-compose.host-network.yml"
        overrides = host_network(ports, parsed)
        main = COMPOSE_FILE
        if not self.v2:
            del overrides["api"]["ports"]
            copy = yaml.safe_load(COMPOSE_FILE.read_text())
            del copy["services"]["api"]["ports"]
            main = folder / "docker-compose.yml"
            main.write_text(yaml.safe_dump(copy))
        override.write_text(yaml.safe_dump({"services": overrides}))
        self.base = [
            *self.command, "-p", project, "--project-directory", str(ROOT), "-f", str(main),
            "-f", str(override), "--profile", "load",
        ]  # fmt: skip
        self.project = project
        self.env = env
        self.foreground: subprocess.Popen[str] | None = None
        self.log = folder / "compose.log"

    def __call__(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base, *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def up(self) -> None:
        """The load run, started: the README's command with v2; `up --detach` with 1.29."""
        if self.v2:
            with self.log.open("w") as out:
                self.foreground = subprocess.Popen(
                    [*self.base, "up", "--build", "--exit-code-from", "locust-master"],
                    env=self.env,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            return
        done = self("up", "--build", "--detach", timeout=900)
        self.log.write_text(done.stdout + done.stderr)
        assert done.returncode == 0, f"up exited {done.returncode}:\n{done.stdout}{done.stderr}"

    def container(self, service: str) -> str:
        """The id of the service's (first) container, or ''."""
        ids = self("ps", "-q", service, timeout=60).stdout.split()
        return ids[0] if ids else ""

    def exit_code(self) -> int:
        """Locust master's exit code, once the run is over."""
        if self.foreground is not None:
            return self.foreground.wait(timeout=900)
        waited = subprocess.run(
            ["docker", "wait", self.container("locust-master")],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        return int(waited.stdout.strip())

    def down(self) -> subprocess.CompletedProcess[str]:
        if self.foreground is not None and self.foreground.poll() is None:
            self.foreground.terminate()
            self.foreground.wait(timeout=300)
        return self("down", "--volumes", "--remove-orphans", timeout=600)


def services() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return parsed
