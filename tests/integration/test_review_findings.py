"""Regression tests: tenancy with several roles, shipment replays, cursors, and the order of
checks, each pinned after a review found it wrong."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.integration.conftest import Tokens, application_body
from tests.integration.test_licences import approved_licence, ship

Client = AsyncTestClient[Litestar]


async def test_an_exporter_officer_token_cannot_write_to_another_org(
    client: Client, auth: Tokens
) -> None:
    victim = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = victim.json()["id"]
    mallory = auth("exporter+officer", sub="mallory", org="attacker")
    withdraw = await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "withdraw"}, headers=mallory
    )
    assert withdraw.status_code == 404
    accept = await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "accept"}, headers=mallory
    )
    assert accept.status_code == 200  # as an officer it may act on every filed application
    licence = await approved_licence(client, auth)
    shipped = await client.post(
        f"/v1/licences/{licence['id']}/shipments",
        json={
            "shipment_ref": "X",
            "shipped_on": "2025-06-10",
            "lines": [{"line": 1, "quantity_kg": "1"}],
        },
        headers=mallory,
    )
    assert shipped.status_code == 404
    surrender = await client.post(
        f"/v1/licences/{licence['id']}/actions", json={"action": "surrender"}, headers=mallory
    )
    assert surrender.status_code == 404


@pytest.mark.parametrize("quantity", ["1e30", "Infinity", "-5", "NaN", "100.0004"])
async def test_a_replayed_reference_with_bad_lines_is_422(
    client: Client, auth: Tokens, quantity: str
) -> None:
    licence = await approved_licence(client, auth)
    assert (await ship(client, auth, licence["id"], "BL-1", "100")).status_code == 201
    again = await ship(client, auth, licence["id"], "BL-1", quantity)
    assert again.status_code == 422, again.text


async def test_shipments_honour_if_match(client: Client, auth: Tokens) -> None:
    licence = await approved_licence(client, auth)
    stale = await ship(client, auth, licence["id"], "BL-1", "1", **{"If-Match": '"999"'})
    assert stale.status_code == 412
    fresh = await ship(client, auth, licence["id"], "BL-1", "1", **{"If-Match": '"1"'})
    assert fresh.status_code == 201


async def test_a_withdrawn_draft_stays_hidden_from_officers(client: Client, auth: Tokens) -> None:
    draft = await client.post("/v1/applications", json=application_body(), headers=auth("exporter"))
    app_id = draft.json()["id"]
    await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "withdraw"}, headers=auth("exporter")
    )
    officer = auth("officer", org="mofcom")
    assert (await client.get(f"/v1/applications/{app_id}", headers=officer)).status_code == 404
    listed = await client.get("/v1/applications", headers=officer)
    assert listed.json()["items"] == []


def forge(cursor: str, key: Any) -> str:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    signature, body = raw[:16], raw[16:]
    query, _ = msgspec.json.decode(body)
    forged = msgspec.json.encode([query, key])
    return base64.urlsafe_b64encode(signature + forged).rstrip(b"=").decode()


async def test_forged_cursors_are_400(client: Client, auth: Tokens) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = created.json()["id"]
    page = await client.get(f"/v1/applications/{app_id}/events?limit=1", headers=auth("exporter"))
    cursor = page.json()["next_cursor"]
    for key in (2**63, -1, "x"):
        response = await client.get(
            f"/v1/applications/{app_id}/events?cursor={forge(cursor, key)}",
            headers=auth("exporter"),
        )
        assert response.status_code == 400
    for _ in range(2):
        await client.post("/v1/applications", json=application_body(), headers=auth("exporter"))
    listing = await client.get("/v1/applications?limit=1", headers=auth("exporter"))
    forged = forge(listing.json()["next_cursor"], ["0001-01-01T00:00:00+01:00", app_id])
    response = await client.get(
        f"/v1/applications?limit=1&cursor={forged}", headers=auth("exporter")
    )
    assert response.status_code == 400


async def test_viewers_are_refused_before_their_body_is_read(client: Client, auth: Tokens) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    viewer = auth("viewer")
    for body in ({"action": "fly"}, []):
        response = await client.post(
            f"/v1/applications/{created.json()['id']}/actions", json=body, headers=viewer
        )
        assert response.status_code == 403
    long_key = await client.post(
        "/v1/applications",
        json=application_body(),
        headers={**viewer, "Idempotency-Key": "k" * 300},
    )
    assert long_key.status_code == 403


async def test_unknown_resources_are_404_before_the_body_is_read(
    client: Client, auth: Tokens
) -> None:
    nobody = "00000000-0000-0000-0000-000000000000"
    for path in (f"/v1/applications/{nobody}/actions", f"/v1/licences/{nobody}/shipments"):
        response = await client.post(
            path,
            content=b"{not json",
            headers={**auth("exporter"), "content-type": "application/json"},
        )
        assert response.status_code == 404
