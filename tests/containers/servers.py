"""PostgreSQL and Redis in containers started by testcontainers, for tests/harness.py.

The images are tests/containers/images.py's choice (`LICENCEFLOW_TEST_IMAGES`: the official ones,
or the local stand-ins). On an engine with a bridge network the containers publish their ports
as testcontainers does everywhere; on one without (dockerd started with `--bridge=none`, as here)
they run on the host network, each on a free port of its own."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from typing import Any

from tests.containers import images
from tests.private_redis import free_port


def has_bridge_network() -> bool:
    return (
        subprocess.run(
            ["docker", "network", "inspect", "bridge"], capture_output=True, timeout=30
        ).returncode
        == 0
    )


class OnHostNetwork:
    """A testcontainers container on the host network: nothing is mapped, so its ports are the
    ones its server listens on, at 127.0.0.1. Mixed in before the container class."""

    port: int
    ports: dict[str, int | None]

    def on_host_network(self) -> Any:
        self.ports.clear()  # nothing to publish: the engine refuses ports with the host network
        return self

    def _get_exposed_port(self, port: int) -> int:
        return port

    def get_container_host_ip(self) -> str:
        return "127.0.0.1"


@contextlib.contextmanager
def started() -> Iterator[tuple[str, str, str]]:
    """(PostgreSQL URL, Redis URL, what ran them) for the block."""
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.community.redis import RedisContainer
    from testcontainers.core.config import testcontainers_config

    chosen = images.chosen()
    if chosen.kind == "standin":  # no registry: testcontainers' reaper image is out of reach too
        testcontainers_config.ryuk_disabled = True
    what = f"testcontainers ({chosen.postgres}, {chosen.redis}"
    if has_bridge_network():
        with (
            PostgresContainer(chosen.postgres, driver=None) as pg,
            RedisContainer(chosen.redis) as rd,
        ):
            host, port = rd.get_container_host_ip(), rd.get_exposed_port(6379)
            yield pg.get_connection_url(), f"redis://{host}:{port}/0", what + ")"
        return

    class HostPostgres(OnHostNetwork, PostgresContainer):  # type: ignore[misc]
        pass

    class HostRedis(OnHostNetwork, RedisContainer):  # type: ignore[misc]
        pass

    pg_port, redis_port = free_port(), free_port()
    postgres: Any = (
        HostPostgres(chosen.postgres, port=pg_port, driver=None)
        .on_host_network()
        .with_kwargs(network_mode="host")
        .with_env("PGPORT", str(pg_port))  # the server's port, and psql's in the wait
    )
    redis: Any = (
        HostRedis(chosen.redis, port=redis_port)
        .on_host_network()
        .with_kwargs(network_mode="host")
        .with_command(f"redis-server --port {redis_port} --save '' --appendonly no")
    )
    with postgres as pg, redis as rd:
        yield (
            pg.get_connection_url(),
            f"redis://127.0.0.1:{rd.port}/0",
            what + ", host network)",
        )
