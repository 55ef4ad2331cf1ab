"""`licenceflow ARGS` in containers of the image, on the host network (tests/every_command.py's
launcher for the image)."""

from __future__ import annotations

import subprocess
import uuid

from tests.containers.conftest import output
from tests.every_command import ended


class Container:
    """A long-running command in a container of its own, removed when stopped."""

    def __init__(self, name: str, run: list[str]) -> None:
        self.name = name
        self.id = f"licenceflow-test-{name}-{uuid.uuid4().hex[:8]}"
        started = subprocess.run(
            ["docker", "run", "--detach", "--name", self.id, *run],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert started.returncode == 0, f"docker run {name}: {started.stderr}"
        self.stopped_log: str | None = None  # its log, kept once the container is removed

    def state(self, template: str) -> str:
        return output("inspect", "--format", template, self.id)

    def alive(self) -> bool:
        return self.state("{{.State.Running}}") == "true"

    def output(self) -> str:
        if self.stopped_log is not None:
            return self.stopped_log
        logs = subprocess.run(
            ["docker", "logs", self.id], capture_output=True, text=True, timeout=60, check=False
        )
        return logs.stdout + logs.stderr

    def stop(self) -> int:
        """`docker stop` (SIGTERM, then SIGKILL after 60 s, which fails the test)."""
        subprocess.run(["docker", "stop", "--time", "60", self.id], capture_output=True, timeout=90)
        code = int(self.state("{{.State.ExitCode}}"))
        killed = self.state("{{.State.OOMKilled}}") == "true" or code == 137
        self.stopped_log = self.output()
        subprocess.run(["docker", "rm", "--force", self.id], capture_output=True, timeout=60)
        assert not killed, f"{self.name} ignored SIGTERM (exit {code}):\n{self.stopped_log[-3000:]}"
        return code


class InImage:
    """Each command in a fresh container of `image`, with `env`, on the host network."""

    def __init__(self, image: str, env: dict[str, str], *flags: str) -> None:
        self.image = image
        self.flags = [
            "--network=host",
            *flags,
            *(f"--env={name}={value}" for name, value in env.items()),
        ]

    def run(self, *args: str) -> tuple[int, str]:
        return ended(["docker", "run", "--rm", *self.flags, self.image, *args])

    def start(self, *args: str) -> Container:
        return Container(args[0], [*self.flags, self.image, *args])
