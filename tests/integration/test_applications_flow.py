"""An application's life over HTTP, as a compliance team and an officer live it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.clock import BusinessClock
from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]


async def file(client: Client, auth: Tokens, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/applications", json=application_body(**overrides), headers=auth("exporter")
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def act(
    client: Client, auth: Tokens, app_id: str, role: str, action: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": action, **fields}, headers=auth(role)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.smoke
async def test_the_whole_life_of_an_application(
    client: Client, auth: Tokens, clock: BusinessClock
) -> None:
    draft = await file(client, auth)
    assert draft["status"] == "draft"
    assert draft["reference"] == "EL-2025-000001"
    assert draft["lines"][0]["quantity_kg"] == "1250.500"
    assert draft["lines"][0]["value"] == "480000.00"
    assert draft["controlled"] is True
    assert draft["due_at"] is None

    submitted = await act(client, auth, draft["id"], "exporter", "submit")
    assert submitted["status"] == "submitted"
    assert submitted["submitted_at"] == "2025-06-02T09:00:00+08:00"

    # Accepted on Tuesday 3 June 2025: 45 working days later (Dragon Boat Festival on
    # Monday 2 June is already behind) is Tuesday 5 August 2025.
    clock.advance(timedelta(days=1))
    accepted = await act(client, auth, draft["id"], "officer", "accept")
    assert accepted["status"] == "under_review"
    assert accepted["due_at"] == "2025-08-05T23:59:59+08:00"

    asked = await act(
        client, auth, draft["id"], "officer", "request_info", reason="End-user certificate"
    )
    assert asked["status"] == "info_requested"

    # Answered a week later (Tuesday 10 June): 5 working days (4–10 June) paused.
    clock.advance(timedelta(days=7))
    answered = await act(
        client, auth, draft["id"], "exporter", "respond", response="Certificate attached"
    )
    assert answered["status"] == "under_review"
    assert answered["due_at"] == "2025-08-12T23:59:59+08:00"
    assert answered["working_days_elapsed"] == 0

    clock.advance(timedelta(days=2))
    approved = await act(client, auth, draft["id"], "officer", "approve", reason="In order")
    assert approved["status"] == "approved"
    assert approved["decision"] == {
        "outcome": "approved",
        "reason_code": None,
        "reason": "In order",
    }
    assert approved["decided_at"] == "2025-06-12T09:00:00+08:00"
    assert approved["working_days_elapsed"] == 2

    timeline = await client.get(f"/v1/applications/{draft['id']}/events", headers=auth("viewer"))
    assert timeline.status_code == 200
    steps = [
        (e["action"], e["from_status"], e["to_status"], e["actor"]["role"], e["reason"])
        for e in timeline.json()["items"]
    ]
    assert steps == [
        ("create", None, "draft", "exporter", None),
        ("submit", "draft", "submitted", "exporter", None),
        ("accept", "submitted", "under_review", "officer", None),
        ("request_info", "under_review", "info_requested", "officer", "End-user certificate"),
        ("respond", "info_requested", "under_review", "exporter", None),
        ("approve", "under_review", "approved", "officer", "In order"),
    ]
    respond = timeline.json()["items"][4]
    assert respond["details"]["response"] == "Certificate attached"
    assert [e["seq"] for e in timeline.json()["items"]] == sorted(
        e["seq"] for e in timeline.json()["items"]
    )


async def test_get_returns_the_version_as_etag(client: Client, auth: Tokens) -> None:
    created = await file(client, auth, submit=True)
    response = await client.get(f"/v1/applications/{created['id']}", headers=auth("exporter"))
    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'
    assert response.json()["version"] == 2


async def test_filing_with_submit_true_files_at_once(client: Client, auth: Tokens) -> None:
    created = await file(client, auth, submit=True)
    assert created["status"] == "submitted"
    events = await client.get(f"/v1/applications/{created['id']}/events", headers=auth("exporter"))
    assert [e["action"] for e in events.json()["items"]] == ["create", "submit"]


async def test_references_count_up_per_business_year(
    client: Client, auth: Tokens, clock: BusinessClock
) -> None:
    first = await file(client, auth)
    second = await file(client, auth)
    clock.advance(timedelta(days=214))  # into 2026
    third = await file(client, auth)
    assert [first["reference"], second["reference"], third["reference"]] == [
        "EL-2025-000001",
        "EL-2025-000002",
        "EL-2026-000001",
    ]


async def test_reject_from_submitted_for_an_incomplete_file(client: Client, auth: Tokens) -> None:
    created = await file(client, auth, submit=True)
    rejected = await act(
        client,
        auth,
        created["id"],
        "officer",
        "reject",
        reason="No contract",
        reason_code="incomplete",
    )
    assert rejected["status"] == "rejected"
    assert rejected["decision"]["reason_code"] == "incomplete"


async def test_delay_lifts_the_deadline_and_an_approval_follows(
    client: Client, auth: Tokens
) -> None:
    created = await file(client, auth, submit=True)
    await act(client, auth, created["id"], "officer", "accept")
    delayed = await act(client, auth, created["id"], "officer", "delay", reason="Security review")
    assert delayed["status"] == "delayed"
    assert delayed["due_at"] is None
    assert delayed["overdue"] is False
    temporary = await act(client, auth, created["id"], "officer", "approve_temporary")
    assert temporary["status"] == "temporarily_approved"


async def test_withdraw_closes_a_pending_application(client: Client, auth: Tokens) -> None:
    created = await file(client, auth, submit=True)
    withdrawn = await act(
        client, auth, created["id"], "exporter", "withdraw", reason="Order cancelled"
    )
    assert withdrawn["status"] == "withdrawn"


async def test_overdue_after_the_deadline(
    client: Client, auth: Tokens, clock: BusinessClock
) -> None:
    created = await file(client, auth, submit=True)
    accepted = await act(client, auth, created["id"], "officer", "accept")
    assert accepted["overdue"] is False
    clock.advance(timedelta(days=80))
    later = await client.get(f"/v1/applications/{created['id']}", headers=auth("exporter"))
    assert later.json()["overdue"] is True
    assert later.headers["etag"] == '"3"'  # derived fields change without the version
    overdue = await client.get("/v1/applications?overdue=true", headers=auth("officer"))
    assert [a["id"] for a in overdue.json()["items"]] == [created["id"]]


async def test_reference_elements(client: Client, auth: Tokens) -> None:
    response = await client.get("/v1/reference/elements", headers=auth("viewer"))
    assert response.status_code == 200
    items = response.json()["items"]
    assert len(items) == 17
    controlled = {e["symbol"] for e in items if e["controlled"]}
    assert controlled == {"Sm", "Gd", "Tb", "Dy", "Lu", "Sc", "Y"}
    assert items[0]["symbol"] == "Sc"


async def test_health(client: Client) -> None:
    assert (await client.get("/health/live")).json() == {"status": "live"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "postgres": "ok", "redis": "ok"}


async def test_openapi_schema_is_served(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/v1/applications/{application_id}/actions" in paths
    assert "/v1/reference/elements" in paths


async def test_openapi_documents_request_bodies(client: Client) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    schemas = spec["components"]["schemas"]

    def body_ref(path: str, method: str) -> str:
        content = spec["paths"][path][method]["requestBody"]["content"]
        return str(content["application/json"]["schema"]["$ref"]).rsplit("/", 1)[-1]

    new = schemas[body_ref("/v1/applications", "post")]
    assert {"lines", "destination_country", "submit"} <= set(new["properties"])
    action = schemas[body_ref("/v1/applications/{application_id}/actions", "post")]
    tags = {option["$ref"].rsplit("/", 1)[-1] for option in action["anyOf"]}
    assert {"Approve", "Reject", "RequestInfo", "Respond"} <= tags
    assert action["discriminator"]["propertyName"] == "action"
    patch = schemas[body_ref("/v1/applications/{application_id}", "patch")]
    assert "required" not in patch
    for name in tags:  # every referenced component is present
        assert name in schemas
