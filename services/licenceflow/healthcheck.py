"""The container's health check: `python -m licenceflow.healthcheck` exits 0 when the API in this
container answers `GET /health/live` with 200 on the address `serve` listens on
(`LICENCEFLOW_HOST`, `LICENCEFLOW_PORT`), else 1.

Standard library only, and nothing else of the package is imported: the engine runs it every few
seconds beside the server."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

TIMEOUT_SECONDS = 2.0
# A server listening on every address is asked on the loopback one.
ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}


def live_url(env: Mapping[str, str]) -> str:
    host = env.get("LICENCEFLOW_HOST", "127.0.0.1").strip()
    port = env.get("LICENCEFLOW_PORT", "8000").strip() or "8000"
    if host in ANY_ADDRESS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port}/health/live"


def main() -> int:
    url = live_url(os.environ)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status: int = response.status
    except (OSError, urllib.error.URLError) as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{url}: {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
