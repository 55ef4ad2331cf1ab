"""Licences over HTTP: issued on approval, drawn down by shipments, ended by officers,
exporters or the expiry sweep."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.clock import BusinessClock
from licenceflow.config import Settings
from licenceflow.store.pool import Connection
from licenceflow.workflow import licences as licence_workflow
from tests.examples import line
from tests.integration.conftest import SHANGHAI, Tokens, application_body
from tests.integration.races import holding

Client = AsyncTestClient[Litestar]


async def approved_licence(
    client: Client, auth: Tokens, action: str = "approve_temporary", **body: Any
) -> dict[str, Any]:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True, **body), headers=auth("exporter")
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    for step in ({"action": "accept"}, {"action": action}):
        done = await client.post(
            f"/v1/applications/{app_id}/actions", json=step, headers=auth("officer")
        )
        assert done.status_code == 200, done.text
    licence_id = done.json()["licence_id"]
    assert licence_id is not None
    licence = await client.get(f"/v1/licences/{licence_id}", headers=auth("exporter"))
    assert licence.status_code == 200
    body_: dict[str, Any] = licence.json()
    assert body_["application_id"] == app_id
    return body_


async def ship(
    client: Client | httpx.AsyncClient,
    auth: Tokens,
    licence_id: str,
    ref: str,
    kg: str,
    on: str = "2025-06-02",  # the day the tests' clock starts, and their licences' first day
    **headers: str,
) -> Any:
    return await client.post(
        f"/v1/licences/{licence_id}/shipments",
        json={"shipment_ref": ref, "shipped_on": on, "lines": [{"line": 1, "quantity_kg": kg}]},
        headers={**auth("exporter"), **headers},
    )


@pytest.mark.parametrize(
    ("issued", "valid_until"),
    [("2025-06-02", "2025-12-02"), ("2025-08-31", "2026-02-28"), ("2027-08-31", "2028-02-29")],
)
async def test_temporary_licences_run_six_calendar_months(
    client: Client, auth: Tokens, clock: BusinessClock, issued: str, valid_until: str
) -> None:
    day = datetime.fromisoformat(issued).replace(hour=10, tzinfo=SHANGHAI)
    clock.advance(day - clock.now())
    licence = await approved_licence(client, auth, planned_ship_date=issued)
    assert licence["kind"] == "temporary"
    assert (licence["valid_from"], licence["valid_until"]) == (issued, valid_until)
    assert licence["status"] == "active"
    assert licence["number"].startswith("LT-")


async def test_standard_licence_for_valid_months(client: Client, auth: Tokens) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = created.json()["id"]
    await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "accept"}, headers=auth("officer")
    )
    approved = await client.post(
        f"/v1/applications/{app_id}/actions",
        json={"action": "approve", "valid_months": 3},
        headers=auth("officer"),
    )
    licence = await client.get(
        f"/v1/licences/{approved.json()['licence_id']}", headers=auth("viewer")
    )
    body = licence.json()
    assert (body["kind"], body["valid_from"], body["valid_until"]) == (
        "standard",
        "2025-06-02",
        "2025-09-02",
    )
    assert body["number"] == "LS-2025-000001"
    assert body["lines"] == [
        {
            "line": 1,
            "element": "Dy",
            "form": "oxide",
            "hs_code": "2846.90",
            "contains": [],
            "quantity_kg": "1250.500",
            "used_kg": "0.000",
            "remaining_kg": "1250.500",
            "shippable_kg": "1250.500",
        }
    ]


@pytest.mark.smoke
async def test_shipments_draw_a_temporary_licence_down_to_exhaustion(
    client: Client, auth: Tokens
) -> None:
    licence = await approved_licence(client, auth)
    first = await ship(client, auth, licence["id"], "BL-001", "1000.25")
    assert first.status_code == 201, first.text
    assert first.json()["lines"][0]["used_kg"] == "1000.250"
    assert first.json()["lines"][0]["remaining_kg"] == "250.250"
    assert first.json()["status"] == "active"
    too_much = await ship(client, auth, licence["id"], "BL-002", "250.251")
    assert too_much.status_code == 409
    assert too_much.json()["type"].endswith("/quantity-exceeded")
    last = await ship(client, auth, licence["id"], "BL-003", "250.25")
    assert last.status_code == 201
    assert last.json()["status"] == "exhausted"
    assert [s["shipment_ref"] for s in last.json()["shipments"]] == ["BL-001", "BL-003"]
    after = await ship(client, auth, licence["id"], "BL-004", "0.001")
    assert after.status_code == 409
    assert after.json()["type"].endswith("/licence-not-usable")


async def test_a_standard_licence_is_exhausted_by_its_shipment(
    client: Client, auth: Tokens
) -> None:
    licence = await approved_licence(client, auth, action="approve")
    partial = await ship(client, auth, licence["id"], "BL-1", "100")
    assert partial.json()["status"] == "exhausted"
    second = await ship(client, auth, licence["id"], "BL-2", "100")
    assert second.status_code == 409


async def test_shipments_outside_validity_are_refused(
    client: Client, auth: Tokens, clock: BusinessClock
) -> None:
    licence = await approved_licence(client, auth)
    clock.advance(timedelta(days=200))  # past the licence's last day (not yet swept as expired)
    before = await ship(client, auth, licence["id"], "BL-1", "1", on="2025-06-01")
    after = await ship(client, auth, licence["id"], "BL-2", "1", on="2025-12-03")
    last_day = await ship(client, auth, licence["id"], "BL-3", "1", on="2025-12-02")
    assert before.status_code == after.status_code == 409
    assert before.json()["type"].endswith("/licence-not-usable")
    assert last_day.status_code == 201


async def test_a_shipment_dated_after_today_is_refused(
    client: Client, auth: Tokens, clock: BusinessClock
) -> None:
    """A shipment is recorded once made: tomorrow's is a 422 naming the date, today's is fine."""
    licence = await approved_licence(client, auth)
    tomorrow = await ship(client, auth, licence["id"], "BL-1", "1", on="2025-06-03")
    assert tomorrow.status_code == 422, tomorrow.text
    assert tomorrow.json()["errors"][0]["field"] == "shipped_on"
    assert "after today (2025-06-02)" in tomorrow.json()["errors"][0]["message"]
    clock.advance(timedelta(days=1))
    assert (
        await ship(client, auth, licence["id"], "BL-1", "1", on="2025-06-03")
    ).status_code == 201


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([{"line": 2, "quantity_kg": "1"}], "lines[0].line"),
        ([{"line": 1, "quantity_kg": "0"}], "lines[0].quantity_kg"),
        ([{"line": 1, "quantity_kg": "-1"}], "lines[0].quantity_kg"),
        ([{"line": 1, "quantity_kg": "1.0001"}], "lines[0].quantity_kg"),
        ([{"line": 1, "quantity_kg": "1"}, {"line": 1, "quantity_kg": "1"}], "lines[1].line"),
        ([], "lines"),
        ([{"line": "one", "quantity_kg": "1"}], "lines[0].line"),
    ],
)
async def test_bad_shipment_lines_name_the_field(
    client: Client, auth: Tokens, lines: list[dict[str, Any]], field: str
) -> None:
    licence = await approved_licence(client, auth)
    response = await client.post(
        f"/v1/licences/{licence['id']}/shipments",
        json={"shipment_ref": "BL-1", "shipped_on": "2025-06-10", "lines": lines},
        headers=auth("exporter"),
    )
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


LICENCE_LOCK = "SELECT 1 FROM licences WHERE id = $1 FOR UPDATE"


@pytest.mark.smoke
async def test_fifty_concurrent_shipments_never_overdraw(
    client: Client,
    served: httpx.AsyncClient,
    auth: Tokens,
    db: Connection,
    database_url: str,
    settings: Settings,
) -> None:
    """Fifty shipments queued behind the licence's row at once (the test holds it): each is
    judged on what the one before it left, so they draw the licence down to what it holds and
    no further, and every refusal says why (never a 412 for a request that named no version)."""
    licence = await approved_licence(client, auth)  # 1250.500 kg on line 1
    asks = [Decimal("37.125") + Decimal(i % 7) for i in range(50)]  # ~2,000 kg in all
    async with holding(database_url, LICENCE_LOCK, licence["id"]) as hold:
        sent = [
            asyncio.create_task(ship(served, auth, licence["id"], f"BL-{i:03}", str(kg)))
            for i, kg in enumerate(asks)
        ]
        # as many as the server has connections; the rest wait for one of those
        await hold.queued(min(len(sent), settings.db_pool_max), "fifty shipments")
    responses = await asyncio.gather(*sent)
    codes = [r.status_code for r in responses]
    assert set(codes) <= {201, 409}, codes
    accepted = sum(
        (kg for kg, r in zip(asks, responses, strict=True) if r.status_code == 201), Decimal(0)
    )
    refused = [r for r in responses if r.status_code == 409]
    assert refused
    assert all(
        r.json()["type"].endswith(("/quantity-exceeded", "/licence-not-usable")) for r in refused
    )
    final = (await client.get(f"/v1/licences/{licence['id']}", headers=auth("exporter"))).json()
    used, remaining = (Decimal(final["lines"][0][k]) for k in ("used_kg", "remaining_kg"))
    assert accepted == used <= Decimal("1250.500")
    assert remaining < max(asks)  # refused only once what was left could not cover an ask
    assert used + remaining == Decimal("1250.500")
    assert len(final["shipments"]) == codes.count(201)
    recorded = await db.fetchval("SELECT count(*) FROM shipments")
    assert recorded == codes.count(201)


async def test_a_replayed_shipment_is_recorded_once_even_concurrently(
    client: Client, served: httpx.AsyncClient, auth: Tokens, db: Connection, database_url: str
) -> None:
    """The same shipment sent ten times at once, queued behind the licence's row: one draws,
    nine replay it (200), and one shipment and one event are recorded."""
    licence = await approved_licence(client, auth)
    async with holding(database_url, LICENCE_LOCK, licence["id"]) as hold:
        sent = [
            asyncio.create_task(ship(served, auth, licence["id"], "BL-7", "100.5"))
            for _ in range(10)
        ]
        await hold.queued(len(sent), "ten copies of one shipment")
    responses = await asyncio.gather(*sent)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 9 + [201], [(r.status_code, r.text[:80]) for r in responses]
    assert {r.json()["lines"][0]["used_kg"] for r in responses} == {"100.500"}
    assert await db.fetchval("SELECT count(*) FROM shipments") == 1
    ship_events = await db.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = $1 AND action = 'ship'", licence["id"]
    )
    assert ship_events == 1
    other = await ship(client, auth, licence["id"], "BL-7", "99")
    assert other.status_code == 409
    assert other.json()["type"].endswith("/shipment-ref-conflict")


async def test_lifecycle_actions_are_audited(client: Client, auth: Tokens) -> None:
    licence = await approved_licence(client, auth)
    path = f"/v1/licences/{licence['id']}"

    async def act(role: str, **body: Any) -> Any:
        return await client.post(f"{path}/actions", json=body, headers=auth(role))

    assert (await act("officer", action="suspend")).status_code == 422  # reason required
    suspended = await act("officer", action="suspend", reason="Customs inquiry")
    assert suspended.json()["status"] == "suspended"
    refused = await ship(client, auth, licence["id"], "BL-1", "1")
    assert refused.status_code == 409
    assert (await act("exporter", action="reinstate", reason="x")).status_code == 403
    reinstated = await act("officer", action="reinstate", reason="Inquiry closed")
    assert reinstated.json()["status"] == "active"
    surrendered = await act("exporter", action="surrender", reason="Order cancelled")
    assert surrendered.json()["status"] == "surrendered"
    again = await act("officer", action="revoke", reason="x")
    assert again.status_code == 409
    assert again.json()["current_status"] == "surrendered"
    timeline = (await client.get(f"{path}/events", headers=auth("viewer"))).json()["items"]
    assert [(e["action"], e["actor"]["role"], e["reason"]) for e in timeline] == [
        ("issue", "officer", None),
        ("suspend", "officer", "Customs inquiry"),
        ("reinstate", "officer", "Inquiry closed"),
        ("surrender", "exporter", "Order cancelled"),
    ]


async def test_stale_if_match_on_a_licence_action_is_412(
    client: Client, auth: Tokens, db: Connection
) -> None:
    licence = await approved_licence(client, auth)
    timeline = "SELECT action FROM events WHERE stream_id = $1 ORDER BY seq"
    before = await db.fetch(timeline, licence["id"])
    response = await client.post(
        f"/v1/licences/{licence['id']}/actions",
        json={"action": "revoke", "reason": "x"},
        headers={**auth("officer"), "If-Match": '"9"'},
    )
    assert response.status_code == 412
    after = await client.get(f"/v1/licences/{licence['id']}", headers=auth("officer"))
    assert (after.json()["status"], after.json()["version"]) == (
        licence["status"],
        licence["version"],
    )
    assert await db.fetch(timeline, licence["id"]) == before


@pytest.mark.smoke
async def test_expiry_sweep_expires_once_and_shipments_stop(
    client: Client, auth: Tokens, clock: BusinessClock, app: Litestar, db: Connection
) -> None:
    licence = await approved_licence(client, auth)  # valid through 2025-12-02
    context = app.state.services.context
    async with db.transaction():
        assert await licence_workflow.expire_due(db, context) == 0
    clock.advance(datetime(2025, 12, 3, 0, 0, tzinfo=SHANGHAI) - clock.now())
    for expected in (1, 0):  # the second sweep finds nothing left to do
        async with db.transaction():
            assert await licence_workflow.expire_due(db, context) == expected
    expired = await client.get(f"/v1/licences/{licence['id']}", headers=auth("exporter"))
    assert expired.json()["status"] == "expired"
    expire_events = await db.fetch(
        "SELECT actor_role FROM events WHERE stream_id = $1 AND action = 'expire'", licence["id"]
    )
    assert [e["actor_role"] for e in expire_events] == ["system"]
    late = await ship(client, auth, licence["id"], "BL-9", "1", on="2025-12-02")
    assert late.status_code == 409
    assert late.json()["type"].endswith("/licence-not-usable")


async def test_another_orgs_exporter_cannot_see_ship_or_surrender(
    client: Client, auth: Tokens
) -> None:
    licence = await approved_licence(client, auth)
    rival = auth("exporter", org="rival")
    path = f"/v1/licences/{licence['id']}"
    assert (await client.get(path, headers=rival)).status_code == 404
    assert (await client.get(f"{path}/events", headers=rival)).status_code == 404
    shipped = await client.post(
        f"{path}/shipments",
        json={
            "shipment_ref": "X",
            "shipped_on": "2025-06-10",
            "lines": [{"line": 1, "quantity_kg": "1"}],
        },
        headers=rival,
    )
    assert shipped.status_code == 404
    surrender = await client.post(f"{path}/actions", json={"action": "surrender"}, headers=rival)
    assert surrender.status_code == 404
    assert (await client.get("/v1/licences", headers=rival)).json()["items"] == []
    officer = await client.get(path, headers=auth("officer", org="mofcom"))
    assert officer.status_code == 200
    assert (await ship(client, auth, licence["id"], "Y", "1")).status_code == 201


async def test_officers_and_viewers_may_not_ship(client: Client, auth: Tokens) -> None:
    licence = await approved_licence(client, auth)
    for role in ("officer", "viewer"):
        response = await client.post(
            f"/v1/licences/{licence['id']}/shipments",
            json={"shipment_ref": "X"},  # 403 before the invalid body is read
            headers=auth(role),
        )
        assert response.status_code == 403


async def test_expiring_within_days_lists_licences_to_renew(
    client: Client, auth: Tokens, clock: BusinessClock
) -> None:
    six_months = await approved_licence(client, auth)  # until 2025-12-02
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = created.json()["id"]
    await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "accept"}, headers=auth("officer")
    )
    await client.post(
        f"/v1/applications/{app_id}/actions",
        json={"action": "approve", "valid_months": 12},
        headers=auth("officer"),
    )
    clock.advance(timedelta(days=160))  # 2025-11-09
    soon = await client.get("/v1/licences?expiring_within_days=30", headers=auth("exporter"))
    assert [item["id"] for item in soon.json()["items"]] == [six_months["id"]]
    by_end = await client.get("/v1/licences?sort=valid_until", headers=auth("exporter"))
    assert [item["valid_until"] for item in by_end.json()["items"]] == [
        "2025-12-02",
        "2026-06-02",
    ]
    temporary = await client.get("/v1/licences?kind=temporary", headers=auth("exporter"))
    assert [item["id"] for item in temporary.json()["items"]] == [six_months["id"]]


async def test_a_renewal_names_its_licence_on_both_sides(client: Client, auth: Tokens) -> None:
    licence = await approved_licence(client, auth)
    renewal = await client.post(
        "/v1/applications",
        json=application_body(renews_licence_id=licence["id"], lines=[line(quantity_kg="500")]),
        headers=auth("exporter"),
    )
    assert renewal.status_code == 201, renewal.text
    assert renewal.json()["renews_licence_id"] == licence["id"]
    shown = await client.get(f"/v1/licences/{licence['id']}", headers=auth("exporter"))
    assert shown.json()["renewal_application_ids"] == [renewal.json()["id"]]
    foreign = await client.post(
        "/v1/applications",
        json=application_body(renews_licence_id=licence["id"]),
        headers=auth("exporter", org="rival"),
    )
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["field"] == "renews_licence_id"
