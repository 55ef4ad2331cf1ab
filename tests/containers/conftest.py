"""The container tests' engine, base images and the licenceflow image, once per session.

They need a Docker engine (tests/containers/engine.py starts one where it can) and the
PostgreSQL server the other tests use (tests/harness.py; containers reach it on the host
network, so it must listen on TCP)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers import engine, images
from tests.integration.conftest import empty_database, private_redis, servers
from tests.reports import report

__all__ = ["empty_database", "private_redis", "servers"]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "licenceflow:test"


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[str]:
    with engine.running() as what:
        report(f"container tests: {what}")
        yield what


@pytest.fixture(scope="session")
def base_images(docker_engine: str) -> images.Images:
    chosen = images.chosen()
    report(f"container tests: {chosen.kind} base images {chosen}")
    return chosen


@pytest.fixture(scope="session")
def image(base_images: images.Images) -> str:
    """deploy/Dockerfile as it ships, only PYTHON_IMAGE given (where it is not the default)."""
    overrides = []
    if base_images.python != images.OFFICIAL.python:
        overrides = [f"--build-arg=PYTHON_IMAGE={base_images.python}"]
    images.docker(
        "build",
        "--network=host",
        *overrides,
        "--file",
        str(ROOT / "deploy" / "Dockerfile"),
        "--tag",
        IMAGE,
        str(ROOT),
        timeout=1800,
    )
    return IMAGE


def output(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=120, check=False
    ).stdout.strip()
