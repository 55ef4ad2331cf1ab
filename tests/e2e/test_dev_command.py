"""The README's first command, tried as a new user would: `licenceflow dev` with nothing
configured starts embedded PostgreSQL and Redis, serves the API, prints tokens; Ctrl-C stops it
cleanly and the data survives a restart."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.examples import ahead
from tests.integration.conftest import application_body

STARTUP_DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevServer:
    def __init__(self, data: Path, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("LICENCEFLOW_")}
        self._output = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "licenceflow",
                "dev",
                "--data-dir",
                str(data),
                "--port",
                str(self.port),
                "--speed",
                "1",  # real time: the simulated desks decide nothing while the test acts
            ],
            stdout=self._output,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.base}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not ready in {STARTUP_DEADLINE}s:\n{self.log.read_text()}")

    def tokens(self) -> dict[str, str]:
        found = re.findall(r"^\s+(\w+)\s+token \([^)]*\): (\S+)$", self.log.read_text(), re.M)
        return dict(found)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        finally:
            self._output.close()


def test_dev_runs_the_service_end_to_end(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = DevServer(data_dir, tmp_path / "dev-1.log")
    try:
        server.wait_ready()
        tokens = server.tokens()
        assert set(tokens) == {"exporter", "viewer", "officer"}
        exporter = {"Authorization": f"Bearer {tokens['exporter']}"}
        officer = {"Authorization": f"Bearer {tokens['officer']}"}
        with httpx.Client(base_url=server.base, timeout=10) as http:

            def act(app_id: str, who: dict[str, str], **body: Any) -> dict[str, Any]:
                r = http.post(f"/v1/applications/{app_id}/actions", json=body, headers=who)
                assert r.status_code == 200, r.text
                return dict(r.json())

            created = http.post(
                "/v1/applications",
                json=application_body(submit=True, planned_ship_date=ahead()),
                headers=exporter,
            )
            assert created.status_code == 201, created.text
            app_id = created.json()["id"]
            assert act(app_id, officer, action="accept")["due_at"] is not None
            act(app_id, officer, action="request_info", reason="End-user statement")
            act(app_id, exporter, action="respond", response="Statement attached")
            approved = act(app_id, officer, action="approve")
            assert approved["status"] == "approved"
            events = http.get(f"/v1/applications/{app_id}/events", headers=exporter).json()
            assert [e["action"] for e in events["items"]] == [
                "create",
                "submit",
                "accept",
                "request_info",
                "respond",
                "approve",
            ]
    finally:
        assert server.stop() == 0, server.log.read_text()

    again = DevServer(data_dir, tmp_path / "dev-2.log")
    try:
        again.wait_ready()
        exporter = {"Authorization": f"Bearer {again.tokens()['exporter']}"}
        kept = httpx.get(f"{again.base}/v1/applications/{app_id}", headers=exporter, timeout=10)
        assert kept.status_code == 200
        assert kept.json()["status"] == "approved"
    finally:
        assert again.stop() == 0, again.log.read_text()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({}, "LICENCEFLOW_JWT_SECRET"),
        # dev mode from the environment made `serve` accept the published secret (issue 18)
        ({"LICENCEFLOW_DEV_MODE": "true"}, "LICENCEFLOW_DEV_MODE"),
        ({"LICENCEFLOW_DEV_MODE": "true", "LICENCEFLOW_JWT_SECRET": "x" * 40}, "DEV_MODE"),
    ],
    ids=["no-secret", "dev-mode-from-env", "dev-mode-with-a-secret"],
)
def test_serve_refuses_the_development_secret(extra: dict[str, str], named: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICENCEFLOW_")}
    env["LICENCEFLOW_DATABASE_URL"] = "postgresql://nowhere/none"
    result = subprocess.run(
        [sys.executable, "-m", "licenceflow", "serve"],
        env=env | extra,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert named in result.stderr


def children_of(pid: int) -> list[int]:
    """The processes `pid` started (Linux's record of them)."""
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_sigterm_stops_dev_and_every_process_it_started(tmp_path: Path) -> None:
    """`licenceflow dev` ended by SIGTERM (a service manager, `docker stop`, `kill`) used to
    leave its workers, scheduler, projector and simulator running, and the embedded PostgreSQL
    too: only Ctrl-C stopped them."""
    data = tmp_path / "data"
    server = DevServer(data, tmp_path / "dev.log")
    children: list[int] = []
    try:
        server.wait_ready()
        children = children_of(server.process.pid)
        assert len(children) >= 4, server.log.read_text()  # desks, housekeeping, beat, projector
        postmaster = data / "postgres" / "postmaster.pid"
        assert postmaster.exists()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=60)
        deadline = time.monotonic() + 30
        while left := [child for child in children if running(child)] or postmaster.exists():
            assert time.monotonic() < deadline, f"still running after SIGTERM: {left}"
            time.sleep(0.2)
    finally:
        if server.process.poll() is None:
            server.process.kill()
        for child in children:
            if running(child):
                os.kill(child, signal.SIGKILL)
        leftover = data / "postgres" / "postmaster.pid"
        if leftover.exists():  # the fix missing: stop the server it left behind
            os.kill(int(leftover.read_text().split()[0]), signal.SIGTERM)
        server._output.close()
