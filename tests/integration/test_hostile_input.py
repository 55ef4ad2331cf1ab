"""Hostile input over HTTP: a clear 4xx naming what is wrong, and nothing stored or changed.

Each case was a 500, a stored zero, or a multi-megabyte refusal before it was bounded (issue 18):
5,000 nested arrays, a quantity of 1e1000000 or 1e-1000030, `If-Match: "²"`, a 250 kB list of
constituents, a planned ship date in year 1 or 9999."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.examples import line
from tests.integration.conftest import Tokens, application_body
from tests.integration.raw_http import exchange, head

Client = AsyncTestClient[Litestar]
JSON = {"content-type": "application/json"}
NESTED = b"[" * 5000 + b"]" * 5000


def raw_body(**overrides: Any) -> bytes:
    """The example body with `overrides`; a `RawNumber` is written as a bare JSON number."""
    return msgspec.json.encode(application_body(**overrides))


class Draft:
    """A draft as it stood, to show that a refused write changed nothing."""

    def __init__(self, resource: dict[str, Any], timeline: list[Any]) -> None:
        self.resource, self.timeline = resource, timeline

    @classmethod
    async def read(cls, client: Client, auth: Tokens, id: str) -> Draft:
        resource = await client.get(f"/v1/applications/{id}", headers=auth("exporter"))
        timeline = await client.get(f"/v1/applications/{id}/events", headers=auth("exporter"))
        return cls(resource.json(), timeline.json()["items"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Draft) and (self.resource, self.timeline) == (
            other.resource,
            other.timeline,
        )


async def a_draft(client: Client, auth: Tokens) -> Draft:
    created = await client.post(
        "/v1/applications", json=application_body(), headers=auth("exporter")
    )
    assert created.status_code == 201
    return await Draft.read(client, auth, created.json()["id"])


def refused(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]], problem
    return problem


async def listed(client: Client, auth: Tokens) -> list[str]:
    page = await client.get("/v1/applications", headers=auth("exporter"))
    return [item["id"] for item in page.json()["items"]]


@pytest.mark.parametrize("where", ["create", "edit", "action", "ship"])
async def test_deep_nesting_is_a_400_and_changes_nothing(
    client: Client, auth: Tokens, where: str
) -> None:
    before = await a_draft(client, auth)
    id = before.resource["id"]
    method, url = {
        "create": ("POST", "/v1/applications"),
        "edit": ("PATCH", f"/v1/applications/{id}"),
        "action": ("POST", f"/v1/applications/{id}/actions"),
        "ship": ("POST", "/v1/licences/00000000-0000-0000-0000-000000000000/shipments"),
    }[where]
    response = await client.request(
        method, url, content=NESTED, headers={**auth("exporter"), **JSON}
    )
    if where == "ship":  # no such licence: the 404 comes first, as the contract orders it
        refused(response, 404)
    else:
        assert refused(response, 400)["type"].endswith("/malformed-request")
    assert await Draft.read(client, auth, id) == before
    assert await listed(client, auth) == [id]


@pytest.mark.parametrize(
    ("number", "field"),
    [
        (b'"quantity_kg": 1e1000000', "lines[0].quantity_kg"),
        (b'"quantity_kg": "1e1000000"', "lines[0].quantity_kg"),
        (b'"quantity_kg": 1e-1000030', "lines[0].quantity_kg"),  # 0.000 once quantized
        (b'"quantity_kg": "-1e-1000030"', "lines[0].quantity_kg"),
        (b'"value": 1e1000000', "lines[0].value"),
        (b'"value": "1e1000000"', "lines[0].value"),
    ],
)
async def test_a_number_beyond_any_shipment_is_a_422(
    client: Client, auth: Tokens, number: bytes, field: str
) -> None:
    name = number.split(b":")[0]
    body = raw_body().replace(name + b":", number + b', "_was":', 1)
    body = body.replace(b', "_was":"1250.5"', b"").replace(b', "_was":"480000.00"', b"")
    assert b"_was" not in body
    refused(
        await client.post("/v1/applications", content=body, headers={**auth("exporter"), **JSON}),
        422,
        field,
    )
    assert await listed(client, auth) == []


@pytest.mark.parametrize("where", ["edit", "action", "unknown-id"])
async def test_an_if_match_too_long_for_a_version_is_a_412(
    client: Client, auth: Tokens, where: str
) -> None:
    """5,000 nines: a digit string longer than `int()` reads (4,300 digits) was a 500."""
    before = await a_draft(client, auth)
    id = before.resource["id"]
    headers = {**auth("exporter"), "If-Match": '"' + "9" * 5000 + '"'}
    if where == "edit":
        response = await client.patch(
            f"/v1/applications/{id}", json={"end_use": "x"}, headers=headers
        )
    else:
        target = id if where == "action" else "00000000-0000-0000-0000-000000000000"
        response = await client.post(
            f"/v1/applications/{target}/actions", json={"action": "submit"}, headers=headers
        )
    refused(response, 404 if where == "unknown-id" else 412)
    assert await Draft.read(client, auth, id) == before


@pytest.mark.parametrize("tag", [b'"\xb2"', b'"\xb9", "7"', b'W/"\xb3"'])
async def test_an_if_match_with_a_latin1_digit_is_a_412(
    served: httpx.AsyncClient, auth: Tokens, tag: bytes
) -> None:
    """Header bytes are Latin-1: b"\xb2" is "²", a digit to `str.isdigit` but not to `int()`
    (a 500 before). Written byte for byte: an HTTP library would re-encode it."""
    created = await served.post(
        "/v1/applications", json=application_body(), headers=auth("exporter")
    )
    id = created.json()["id"]
    token = auth("exporter")["Authorization"].encode()
    body = b'{"end_use": "changed"}'
    headers = {"Authorization": token, "Content-Type": b"application/json", "If-Match": tag}
    request = head("PATCH", f"/v1/applications/{id}", headers, length=len(body)) + body
    assert await exchange(served.base_url, request) == 412
    after = await served.get(f"/v1/applications/{id}", headers=auth("exporter"))
    assert after.json()["version"] == 1
    assert after.json()["end_use"] == application_body()["end_use"]


async def test_a_huge_list_gets_a_small_refusal(client: Client, auth: Tokens) -> None:
    """20,000 unknown constituents (~250 kB) were a 6 MB refusal, one error per entry."""
    body = application_body(lines=[line(form="magnet", contains=["Qq"] * 20_000)])
    response = await client.post("/v1/applications", json=body, headers=auth("exporter"))
    refused(response, 422, "lines[0].contains")
    assert len(response.content) < 2_000
    assert await listed(client, auth) == []


async def test_a_refusal_lists_at_most_fifty_fields(client: Client, auth: Tokens) -> None:
    body = application_body(lines=[line(element="Fe", currency="XYZ", hs_code="1")] * 50)
    problem = refused(
        await client.post("/v1/applications", json=body, headers=auth("exporter")), 422
    )
    assert len(problem["errors"]) == 50
    assert "(and 145 more; the first 50 listed)" in problem["detail"]


@pytest.mark.parametrize("date", ["0001-01-01", "9999-12-31", "2020-05-28", "2030-06-07"])
async def test_an_implausible_ship_date_is_a_422(client: Client, auth: Tokens, date: str) -> None:
    """The business date is 2025-06-02: five years either side of it are allowed."""
    for write in ("create", "edit"):
        if write == "create":
            response = await client.post(
                "/v1/applications",
                json=application_body(planned_ship_date=date),
                headers=auth("exporter"),
            )
            refused(response, 422, "planned_ship_date")
            assert await listed(client, auth) == []
        else:
            before = await a_draft(client, auth)
            response = await client.patch(
                f"/v1/applications/{before.resource['id']}",
                json={"planned_ship_date": date},
                headers=auth("exporter"),
            )
            refused(response, 422, "planned_ship_date")
            assert await Draft.read(client, auth, before.resource["id"]) == before
