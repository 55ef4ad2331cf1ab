"""One client cannot stall the others, and every wait is bounded: a slow body holds no pooled
connection and ends in 408, a wait for a connection ends in 503 with Retry-After, and requests
beyond the process's cap are refused at once (issue 18). Real servers, real sockets: the
in-process client would send each request whole."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import httpx
import msgspec

from licenceflow.config import Settings
from tests.integration.conftest import Tokens, application_body
from tests.integration.races import holding
from tests.integration.raw_http import connected, head, status_of
from tests.integration.served import serving

COUNTER_LOCK = "SELECT 1 FROM reference_counters FOR UPDATE"


async def test_slow_bodies_hold_no_connection_and_end_in_408(
    settings: Settings, auth: Tokens, tmp_path: Path
) -> None:
    """Five requests promising 100 bytes and sending 5 took both pooled connections, and every
    pooled endpoint hung (GET /v1/applications timed out at 8 s, /health/ready went 503)."""
    small = msgspec.structs.replace(settings, db_pool_max=2, body_timeout_seconds=2.0)
    async with serving(small, tmp_path / "serve.log") as base:
        url = httpx.URL(base)
        token = auth("viewer")["Authorization"].encode()
        headers = {"Authorization": token, "Content-Type": b"application/json"}
        async with contextlib.AsyncExitStack() as stack:
            sockets = [await stack.enter_async_context(connected(url)) for _ in range(5)]
            for _, writer in sockets:
                writer.write(head("POST", "/v1/applications", headers, length=100) + b'{"ex')
                await writer.drain()
            async with httpx.AsyncClient(base_url=base, timeout=5) as http:
                started = time.monotonic()
                listed = await http.get("/v1/applications", headers=auth("exporter"))
                ready = await http.get("/health/ready")
            assert listed.status_code == 200
            assert ready.status_code == 200
            assert time.monotonic() - started < 2  # not after the slow bodies timed out
            statuses = await asyncio.gather(*(status_of(reader) for reader, _ in sockets))
        assert statuses == [408] * 5


@contextlib.asynccontextmanager
async def one_filing_held(
    settings: Settings, auth: Tokens, database_url: str, log: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A server whose one filing in flight holds its pooled connection, queued at its commit on
    the year's counter row the test holds; the filing must succeed once it is let go."""
    async with (
        serving(settings, log) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        await http.post("/v1/applications", json=application_body(), headers=auth("exporter"))
        async with holding(database_url, COUNTER_LOCK) as hold:
            filing = asyncio.create_task(
                http.post("/v1/applications", json=application_body(), headers=auth("exporter"))
            )
            await hold.queued(1, "the filing's commit")
            yield http
        assert (await filing).status_code == 201  # the held filing was not lost


async def test_a_wait_for_a_pooled_connection_ends_in_503(
    settings: Settings, auth: Tokens, database_url: str, tmp_path: Path
) -> None:
    """With the only pooled connection held, a read waits for the pool no longer than the
    acquire timeout, then gets 503 and Retry-After."""
    one = msgspec.structs.replace(settings, db_pool_max=1, db_acquire_timeout_seconds=1.0)
    async with one_filing_held(one, auth, database_url, tmp_path / "serve.log") as http:
        started = time.monotonic()
        waited = await http.get("/v1/applications", headers=auth("exporter"))
        assert waited.status_code == 503, waited.text
        assert waited.headers["retry-after"]
        assert waited.headers["content-type"].startswith("application/problem+json")
        assert time.monotonic() - started < 5


async def test_beyond_the_cap_on_requests_in_flight_a_fast_503(
    settings: Settings, auth: Tokens, database_url: str, tmp_path: Path
) -> None:
    capped = msgspec.structs.replace(settings, max_in_flight=1)
    async with one_filing_held(capped, auth, database_url, tmp_path / "serve.log") as http:
        started = time.monotonic()
        refused = await http.get("/v1/applications", headers=auth("exporter"))
        assert time.monotonic() - started < 1
        assert refused.status_code == 503
        assert refused.json()["type"].endswith("/overloaded")
        assert refused.headers["retry-after"] == "1"
        assert (await http.get("/health/live")).status_code == 200  # probes always answer


async def test_a_wait_for_a_locked_row_ends_in_503(
    settings: Settings, auth: Tokens, database_url: str, tmp_path: Path
) -> None:
    """An action on a file another transaction holds waits no longer than the lock timeout
    (it waited for the 30 s statement timeout, holding its connection), then gets a 503 with
    Retry-After, and the file is unchanged."""
    quick = msgspec.structs.replace(settings, db_lock_timeout_seconds=1.0)
    async with (
        serving(quick, tmp_path / "serve.log") as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        created = await http.post(
            "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
        )
        path = f"/v1/applications/{created.json()['id']}"
        row = "SELECT 1 FROM applications WHERE id = $1 FOR UPDATE"
        async with holding(database_url, row, UUID(created.json()["id"])):
            started = time.monotonic()
            answer = await http.post(
                f"{path}/actions", json={"action": "accept"}, headers=auth("officer")
            )
            assert time.monotonic() - started < 5
        assert answer.status_code == 503, answer.text
        assert answer.json()["type"].endswith("/busy")
        assert answer.headers["retry-after"]
        after = await http.get(path, headers=auth("exporter"))
        assert after.json()["status"] == "submitted"
        assert after.json()["version"] == created.json()["version"]
