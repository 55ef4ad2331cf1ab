"""The service's own commands as real processes of a test, each logging to a file of its own,
stopped with SIGTERM as a deployment would (and failed if one ignores it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from licenceflow.config import Settings


def start(args: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m licenceflow ARGS` with `env`, its output (both streams) in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "licenceflow", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


class Processes:
    def __init__(self, settings: Settings, folder: Path, **env: str) -> None:
        self.env = {
            **os.environ,
            "LICENCEFLOW_DATABASE_URL": settings.database_url or "",
            "LICENCEFLOW_REDIS_URL": settings.redis_url or "",
            # the test's clock: a server started at another pace would re-anchor the stored
            # clock that every process of the database reads, for the tests after this one too
            "LICENCEFLOW_CLOCK_SPEED": str(settings.clock_speed),
            "LICENCEFLOW_SWEEP_INTERVAL_SECONDS": "0.5",
            "LICENCEFLOW_RATE_LIMIT_PER_SECOND": str(settings.rate_limit_per_second),
            **env,
        }
        if settings.clock_start is not None and "LICENCEFLOW_CLOCK_START" not in env:
            self.env["LICENCEFLOW_CLOCK_START"] = settings.clock_start.isoformat()
        self.folder = folder
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, *args: str) -> Path:
        log = self.folder / f"{args[0]}.log"
        self.running.append((start(args, self.env, log), log))
        return log

    def stop(self) -> None:
        for process, _ in self.running:
            process.send_signal(signal.SIGTERM)
        for process, log in self.running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # Seen once in CI (2026-12-07): a Celery worker busy with its sweeps never began
                # its warm shutdown. Said, then asked once more; a second refusal fails the test.
                print(
                    f"{process.args}: no shutdown 30 s after SIGTERM; sent again", file=sys.stderr
                )
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    raise AssertionError(
                        f"{process.args} ignored SIGTERM twice:\n{log.read_text()}"
                    ) from None
