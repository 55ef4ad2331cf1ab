"""A Docker engine for the container tests: the one that answers, or one started here.

Where no engine answers, root on a machine with Debian's `docker.io` starts `dockerd` with no
bridge network and no firewall rules (every container then runs on the host network) and stops
it afterwards; its images stay on disk as a cache for the next run.

    python -m tests.containers.engine available      # exit 0 when an engine answers or can start
    python -m tests.containers.engine run CMD [ARG...]   # CMD with an engine; its exit code
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

START_SECONDS = 60.0
DOCKERD_FLAGS = ("--bridge=none", "--iptables=false", "--ip6tables=false")


def answers() -> bool:
    """`docker info` reaches an engine."""
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def can_start() -> bool:
    return os.geteuid() == 0 and shutil.which("dockerd") is not None


def available() -> bool:
    return answers() or can_start()


@contextlib.contextmanager
def running() -> Iterator[str]:
    """An engine for the block; started here (and stopped after it) when none answers.
    Yields what it is, for the run's log."""
    if answers():
        yield "the Docker engine that was running"
        return
    if not can_start():
        raise RuntimeError(
            "no Docker engine answers, and none can be started here (dockerd needs root and "
            "Debian's docker.io)"
        )
    log = Path(tempfile.gettempdir()) / "licenceflow-dockerd.log"
    with log.open("ab") as out:
        daemon = subprocess.Popen(["dockerd", *DOCKERD_FLAGS], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not answers():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start; its log: {log}")
            time.sleep(0.2)
        yield f"dockerd started for this run (pid {daemon.pid}, log {log})"
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def main(argv: list[str]) -> int:
    if argv == ["available"]:
        return 0 if available() else 1
    if len(argv) >= 2 and argv[0] == "run":
        with running() as what:
            print(f"container tests: {what}", flush=True)
            return subprocess.run(argv[1:], check=False).returncode
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
