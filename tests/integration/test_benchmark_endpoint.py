"""The benchmark's no-I/O reference: a JSON body of the asked size, only where switched on."""

from __future__ import annotations

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.api.app import create_app
from licenceflow.config import Settings


async def test_it_serves_a_json_body_of_the_asked_size(settings: Settings) -> None:
    app = create_app(msgspec.structs.replace(settings, benchmark_endpoint=True))
    async with AsyncTestClient(app) as client:
        answer = await client.get("/benchmark/static?size=1500")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert len(answer.content) == 1500
        assert set(answer.json()) == {"padding"}
        too_big = await client.get("/benchmark/static?size=99999999")
        assert too_big.status_code == 422
        assert too_big.json()["errors"][0]["field"] == "size"


async def test_it_is_absent_unless_switched_on(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/benchmark/static?size=1500")).status_code == 404
