"""Licences customs can use: one request gives what the border needs; what may still ship is said
plainly; a dry run tells an exporter what a shipment would do before it is recorded."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.store.pool import Connection
from tests.examples import line
from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]


async def licensed(
    client: Client, auth: Tokens, action: str = "approve", **body: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An application approved (`action`), and the licence it was granted."""
    filed = await client.post(
        "/v1/applications", json=application_body(submit=True, **body), headers=auth("exporter")
    )
    path = f"/v1/applications/{filed.json()['id']}"
    for step in ("accept", action):
        acted = await client.post(f"{path}/actions", json={"action": step}, headers=auth("officer"))
        assert acted.status_code == 200, acted.text
    licence = await client.get(
        f"/v1/licences/{acted.json()['licence_id']}", headers=auth("exporter")
    )
    return acted.json(), licence.json()


def shipment(ref: str, *lines: tuple[int, str]) -> dict[str, Any]:
    return {
        "shipment_ref": ref,
        "shipped_on": "2025-06-02",
        "lines": [{"line": n, "quantity_kg": kg} for n, kg in lines],
    }


async def test_a_licence_carries_what_the_border_needs(client: Client, auth: Tokens) -> None:
    magnets = line(element="Nd", form="magnet", hs_code="8505.11", contains=["Dy", "Fe"])
    application, licence = await licensed(
        client, auth, lines=[line(), magnets], contract_ref="PO-7", customs_port="Ningbo"
    )
    assert licence["application_reference"] == application["reference"]
    assert licence["contract_ref"] == "PO-7"
    for field in ("exporter", "consignee", "end_user", "destination_country", "end_use"):
        assert licence[field] == application[field]
    assert licence["end_use_category"] == "automotive"
    assert (licence["transport_mode"], licence["customs_port"]) == ("sea", "Ningbo")
    assert [(ln["element"], ln["contains"]) for ln in licence["lines"]] == [
        ("Dy", []),
        ("Nd", ["Dy", "Fe"]),
    ]


async def test_a_standard_licence_used_by_a_partial_shipment_may_ship_nothing_more(
    client: Client, auth: Tokens
) -> None:
    _, licence = await licensed(client, auth)
    shipped = await client.post(
        f"/v1/licences/{licence['id']}/shipments",
        json=shipment("BL-1", (1, "300")),
        headers=auth("exporter"),
    )
    assert shipped.status_code == 201, shipped.text
    [after] = shipped.json()["lines"]
    assert shipped.json()["status"] == "exhausted"
    assert (after["used_kg"], after["remaining_kg"], after["shippable_kg"]) == (
        "300.000",
        "950.500",  # licensed − used, as ever
        "0.000",  # but none of it may ship: a standard licence covers one shipment
    )


async def test_a_temporary_licence_may_ship_what_remains(client: Client, auth: Tokens) -> None:
    _, licence = await licensed(client, auth, action="approve_temporary")
    shipped = await client.post(
        f"/v1/licences/{licence['id']}/shipments",
        json=shipment("BL-1", (1, "300")),
        headers=auth("exporter"),
    )
    [after] = shipped.json()["lines"]
    assert shipped.json()["status"] == "active"
    assert after["remaining_kg"] == after["shippable_kg"] == "950.500"


async def test_a_dry_run_answers_as_the_shipment_would_and_records_nothing(
    client: Client, auth: Tokens, db: Connection
) -> None:
    _, licence = await licensed(client, auth, action="approve_temporary")
    path = f"/v1/licences/{licence['id']}/shipments"
    misspelt = await client.post(  # a dry run misspelt records nothing either
        f"{path}?dryrun=true", json=shipment("BL-1", (1, "1")), headers=auth("exporter")
    )
    assert misspelt.status_code == 400
    assert misspelt.json()["errors"][0]["field"] == "dryrun"
    tried = await client.post(
        f"{path}?dry_run=true", json=shipment("BL-1", (1, "1250.5")), headers=auth("exporter")
    )
    assert tried.status_code == 200, tried.text
    assert "ETag" not in tried.headers  # the licence it describes is not stored
    assert tried.json()["status"] == "exhausted"
    assert tried.json()["lines"][0]["used_kg"] == "1250.500"
    assert [s["shipment_ref"] for s in tried.json()["shipments"]] == ["BL-1"]

    too_much = await client.post(
        f"{path}?dry_run=true", json=shipment("BL-1", (1, "1250.6")), headers=auth("exporter")
    )
    assert too_much.status_code == 409
    assert too_much.json()["type"].endswith("/quantity-exceeded")
    tomorrow = {**shipment("BL-1", (1, "1")), "shipped_on": "2025-06-03"}
    future = await client.post(f"{path}?dry_run=true", json=tomorrow, headers=auth("exporter"))
    assert future.status_code == 422

    unchanged = await client.get(f"/v1/licences/{licence['id']}", headers=auth("exporter"))
    assert unchanged.json() == licence
    assert await db.fetchval("SELECT count(*) FROM shipments") == 0
    assert await db.fetchval("SELECT count(*) FROM events WHERE action = 'ship'") == 0
    recorded = await client.post(
        path, json=shipment("BL-1", (1, "1250.5")), headers=auth("exporter")
    )
    assert recorded.status_code == 201
    assert {k: v for k, v in recorded.json().items() if k != "version"} == {
        k: v for k, v in tried.json().items() if k != "version"
    } | {"shipments": recorded.json()["shipments"]}
