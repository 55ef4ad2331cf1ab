"""Dates that make sense. Refused (422): submitting a file planned to ship before today, and
recording a shipment dated after today (tests/integration/test_licences.py). Allowed but said: an
approval whose licence ends before the planned ship date (an officer may mean it: the exporter
may ship sooner, or renew), answered with `warnings` and audited in the event."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.store.pool import Connection
from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]


async def test_a_file_planned_to_ship_before_today_is_not_submitted(
    client: Client, auth: Tokens, db: Connection
) -> None:
    """The tests' clock is at 2 June 2025: 1 June has passed."""
    at_once = await client.post(
        "/v1/applications",
        json=application_body(planned_ship_date="2025-06-01", submit=True),
        headers=auth("exporter"),
    )
    assert at_once.status_code == 422, at_once.text
    assert at_once.json()["errors"][0]["field"] == "planned_ship_date"
    assert "before today (2025-06-02)" in at_once.json()["errors"][0]["message"]
    assert await db.fetchval("SELECT count(*) FROM applications") == 0

    draft = await client.post(  # a draft may wait for its date to be put right
        "/v1/applications",
        json=application_body(planned_ship_date="2025-06-01"),
        headers=auth("exporter"),
    )
    assert draft.status_code == 201
    path = f"/v1/applications/{draft.json()['id']}"
    refused = await client.post(
        f"{path}/actions", json={"action": "submit"}, headers=auth("exporter")
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "planned_ship_date"
    edited = await client.patch(
        path, json={"planned_ship_date": "2025-06-02"}, headers=auth("exporter")
    )
    assert edited.status_code == 200
    submitted = await client.post(
        f"{path}/actions", json={"action": "submit"}, headers=auth("exporter")
    )
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "submitted"


@pytest.mark.parametrize(
    ("approval", "planned", "valid_until"),
    [
        ({"action": "approve", "valid_months": 3}, "2025-09-03", "2025-09-02"),
        ({"action": "approve_temporary"}, "2026-01-15", "2025-12-02"),
    ],
)
async def test_an_approval_ending_before_the_planned_shipment_is_said_not_refused(
    client: Client, auth: Tokens, approval: dict[str, Any], planned: str, valid_until: str
) -> None:
    filed = await client.post(
        "/v1/applications",
        json=application_body(planned_ship_date=planned, submit=True),
        headers=auth("exporter"),
    )
    path = f"/v1/applications/{filed.json()['id']}"
    await client.post(f"{path}/actions", json={"action": "accept"}, headers=auth("officer"))
    approved = await client.post(f"{path}/actions", json=approval, headers=auth("officer"))
    assert approved.status_code == 200, approved.text
    assert approved.json()["licence_id"] is not None
    [warning] = approved.json()["warnings"]
    assert warning["field"] == "planned_ship_date"
    assert (
        f"valid until {valid_until}, before the planned ship date {planned}" in (warning["message"])
    )
    timeline = await client.get(f"{path}/events", headers=auth("exporter"))
    assert timeline.json()["items"][-1]["details"]["warnings"] == [warning["message"]]
    read = await client.get(path, headers=auth("exporter"))
    assert read.json()["warnings"] == []  # said to the one who acted, kept in the timeline


async def test_an_approval_covering_the_planned_shipment_warns_of_nothing(
    client: Client, auth: Tokens
) -> None:
    filed = await client.post(
        "/v1/applications",
        json=application_body(planned_ship_date="2025-09-02", submit=True),
        headers=auth("exporter"),
    )
    path = f"/v1/applications/{filed.json()['id']}"
    await client.post(f"{path}/actions", json={"action": "accept"}, headers=auth("officer"))
    approved = await client.post(
        f"{path}/actions", json={"action": "approve", "valid_months": 3}, headers=auth("officer")
    )
    assert approved.json()["warnings"] == []
    timeline = await client.get(f"{path}/events", headers=auth("exporter"))
    assert "warnings" not in timeline.json()["items"][-1]["details"]
