"""Per-principal rate limits shared by every server process (Redis): beyond the burst a 429
with Retry-After, the IETF draft's RateLimit headers on every answer, other principals
unaffected, and Redis's absence never a refusal (issue 18: no limit anywhere, the contract's
429 never sent)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from licenceflow.config import Settings
from licenceflow.simulation.exporters import post_retrying
from tests.examples import application_body
from tests.integration.conftest import Tokens
from tests.integration.served import serving
from tests.private_redis import PrivateRedis


async def test_a_principal_over_its_burst_gets_429_and_others_do_not(
    settings: Settings, auth: Tokens, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    limited = msgspec.structs.replace(
        settings, redis_url=private_redis.url, rate_limit_per_second=2.0, rate_limit_burst=5
    )
    async with (
        serving(limited, tmp_path / "a.log") as first,
        serving(limited, tmp_path / "b.log") as second,
        httpx.AsyncClient(timeout=30) as http,
    ):
        alice = auth("viewer", sub="alice")
        # ten requests at once, spread over two server processes: the burst is shared
        answers = await asyncio.gather(
            *(
                http.get(f"{(first, second)[n % 2]}/v1/applications", headers=alice)
                for n in range(10)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses.count(200) in (5, 6)  # the burst, and at most one more earned meanwhile
        assert set(statuses) == {200, 429}
        refused = next(a for a in answers if a.status_code == 429)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("/rate-limited")
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-policy"] == '"principal";q=5;w=3'
        assert refused.headers["ratelimit"].startswith('"principal";r=0;t=')
        accepted = next(a for a in answers if a.status_code == 200)
        assert "ratelimit" in accepted.headers
        # another principal of the same organisation has a bucket of its own
        bob = await http.get(f"{first}/v1/applications", headers=auth("viewer", sub="bob"))
        assert bob.status_code == 200
        assert bob.headers["ratelimit"].startswith('"principal";r=4;')
        # probes are never limited
        assert (await http.get(f"{first}/health/live")).status_code == 200


@contextlib.asynccontextmanager
async def one_server(
    settings: Settings, private_redis: PrivateRedis, log: Path, **limits: Any
) -> AsyncIterator[httpx.AsyncClient]:
    configured = msgspec.structs.replace(settings, redis_url=private_redis.url, **limits)
    async with (
        serving(configured, log) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        yield http


async def test_without_redis_requests_are_let_through(
    settings: Settings, auth: Tokens, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    limits = {"rate_limit_per_second": 1.0, "rate_limit_burst": 1}
    async with one_server(settings, private_redis, tmp_path / "serve.log", **limits) as http:
        private_redis.stop()
        answers = [await http.get("/v1/applications", headers=auth("viewer")) for _ in range(3)]
        assert [a.status_code for a in answers] == [200] * 3
        assert "ratelimit" not in answers[0].headers


async def test_zero_turns_limiting_off(
    settings: Settings, auth: Tokens, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    async with one_server(settings, private_redis, log, rate_limit_per_second=0) as http:
        answers = await asyncio.gather(
            *(http.get("/v1/applications", headers=auth("viewer")) for _ in range(30))
        )
        assert {a.status_code for a in answers} == {200}
        assert "ratelimit" not in answers[0].headers


async def test_the_simulated_exporters_wait_out_a_refusal_and_file_once(
    settings: Settings, auth: Tokens, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    limits = {"rate_limit_per_second": 1.0, "rate_limit_burst": 1}
    async with one_server(settings, private_redis, tmp_path / "serve.log", **limits) as http:
        exporter = auth("exporter", sub="sim")
        keys = [f"sim-retry-{n}-{uuid.uuid4()}" for n in range(3)]
        # three filings at once through a burst of one: two are refused (429) and sent again
        answers = await asyncio.gather(
            *(
                post_retrying(
                    http,
                    "/v1/applications",
                    application_body(submit=True),
                    {**exporter, "Idempotency-Key": key},
                )
                for key in keys
            )
        )
        assert [a.status_code for a in answers] == [201] * 3
        assert len({a.json()["id"] for a in answers}) == 3
