"""The image's health check asks the address `serve` listens on (`LICENCEFLOW_HOST`,
`LICENCEFLOW_PORT`), not a fixed port; and it answers by exit code."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from licenceflow import healthcheck


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://127.0.0.1:8000/health/live"),
        ({"LICENCEFLOW_PORT": "9123"}, "http://127.0.0.1:9123/health/live"),
        (
            {"LICENCEFLOW_HOST": "0.0.0.0", "LICENCEFLOW_PORT": "80"},
            "http://127.0.0.1:80/health/live",
        ),
        ({"LICENCEFLOW_HOST": "::"}, "http://127.0.0.1:8000/health/live"),
        ({"LICENCEFLOW_HOST": "10.1.2.3"}, "http://10.1.2.3:8000/health/live"),
        ({"LICENCEFLOW_HOST": "fd00::1"}, "http://[fd00::1]:8000/health/live"),
    ],
)
def test_the_url_follows_the_settings(env: dict[str, str], url: str) -> None:
    assert healthcheck.live_url(env) == url


class Live(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health/live" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.HTTPServer]:
    served = http.server.HTTPServer(("127.0.0.1", 0), Live)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


def test_exit_code(server: http.server.HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LICENCEFLOW_HOST", "0.0.0.0")
    monkeypatch.setenv("LICENCEFLOW_PORT", str(server.server_address[1]))
    assert healthcheck.main() == 0
    monkeypatch.setattr(Live, "status", 503)
    assert healthcheck.main() == 1
    server.shutdown()
    server.server_close()
    assert healthcheck.main() == 1  # nothing listening
