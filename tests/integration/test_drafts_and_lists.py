"""Editing drafts (merge patch, If-Match) and paging through lists with cursors."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.clock import BusinessClock
from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]


async def draft(client: Client, auth: Tokens, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/applications", json=application_body(**overrides), headers=auth("exporter")
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_patch_merges_into_a_draft_and_audits_it(client: Client, auth: Tokens) -> None:
    created = await draft(client, auth)
    response = await client.patch(
        f"/v1/applications/{created['id']}",
        json={
            "consignee": {"name": "Magnetwerk AG"},
            "customs_port": None,
            "lines": [
                {
                    "element": "Tb",
                    "form": "metal",
                    "hs_code": "2805301910",
                    "quantity_kg": "2",
                    "value": "9000",
                    "currency": "EUR",
                }
            ],
        },
        headers={**auth("exporter"), "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["consignee"] == {"name": "Magnetwerk AG", "country": "DE"}
    assert edited["customs_port"] is None
    assert [line["element"] for line in edited["lines"]] == ["Tb"]
    assert edited["version"] == 2
    assert response.headers["etag"] == '"2"'
    events = await client.get(f"/v1/applications/{created['id']}/events", headers=auth("viewer"))
    edit = events.json()["items"][-1]
    assert edit["action"] == "edit"
    assert set(edit["details"]["fields"]) == {"consignee", "customs_port", "lines"}
    changes = edit["details"]["changes"]
    assert changes["consignee"] == {
        "from": {"name": "Magnetwerk GmbH", "country": "DE"},
        "to": {"name": "Magnetwerk AG", "country": "DE"},
    }
    assert changes["customs_port"] == {"from": "Tianjin", "to": None}
    assert changes["lines"]["from"][0]["element"] == "Dy"
    assert changes["lines"]["to"][0]["quantity_kg"] == "2.000"


async def test_patch_with_a_stale_etag_is_412(client: Client, auth: Tokens) -> None:
    created = await draft(client, auth)
    path = f"/v1/applications/{created['id']}"
    first = await client.patch(
        path, json={"contract_ref": "PO-2"}, headers={**auth("exporter"), "If-Match": '"1"'}
    )
    assert first.status_code == 200
    stale = await client.patch(
        path, json={"contract_ref": "PO-3"}, headers={**auth("exporter"), "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    current = await client.get(path, headers=auth("exporter"))
    assert current.json()["contract_ref"] == "PO-2"
    star = await client.patch(
        path, json={"contract_ref": "PO-4"}, headers={**auth("exporter"), "If-Match": "*"}
    )
    assert star.status_code == 200


async def test_patch_is_for_drafts_only_and_never_submits(client: Client, auth: Tokens) -> None:
    created = await draft(client, auth)
    path = f"/v1/applications/{created['id']}"
    no_submit = await client.patch(path, json={"submit": True}, headers=auth("exporter"))
    assert no_submit.status_code == 422
    assert no_submit.json()["errors"][0]["field"] == "submit"
    invalid = await client.patch(path, json={"destination_country": "XX"}, headers=auth("exporter"))
    assert invalid.status_code == 422
    await client.post(f"{path}/actions", json={"action": "submit"}, headers=auth("exporter"))
    late = await client.patch(path, json={"contract_ref": "PO-9"}, headers=auth("exporter"))
    assert late.status_code == 409
    assert late.json()["current_status"] == "submitted"


async def test_stale_if_match_on_an_action_is_412(client: Client, auth: Tokens) -> None:
    created = await draft(client, auth)
    response = await client.post(
        f"/v1/applications/{created['id']}/actions",
        json={"action": "submit"},
        headers={**auth("exporter"), "If-Match": '"7"'},
    )
    assert response.status_code == 412
    assert response.json()["status"] == 412


async def test_paging_walks_every_row_once_while_rows_are_added(
    client: Client, auth: Tokens, clock: BusinessClock
) -> None:
    for _ in range(7):
        await draft(client, auth)
        clock.advance(timedelta(minutes=1))
    seen: list[str] = []
    url = "/v1/applications?limit=3"
    first = await client.get(url, headers=auth("exporter"))
    seen += [a["id"] for a in first.json()["items"]]
    cursor = first.json()["next_cursor"]
    await draft(client, auth)  # a newer row must not shift the pages already handed out
    while cursor:
        page = await client.get(f"{url}&cursor={cursor}", headers=auth("exporter"))
        assert page.status_code == 200
        seen += [a["id"] for a in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert len(seen) == len(set(seen)) == 7
    newest_first = [a["created_at"] for a in first.json()["items"]]
    assert newest_first == sorted(newest_first, reverse=True)


async def test_a_cursor_replayed_with_other_filters_is_400(client: Client, auth: Tokens) -> None:
    for _ in range(3):
        await draft(client, auth)
    page = await client.get("/v1/applications?limit=1&status=draft", headers=auth("exporter"))
    cursor = page.json()["next_cursor"]
    assert cursor
    same = await client.get(
        f"/v1/applications?limit=2&status=draft&cursor={cursor}", headers=auth("exporter")
    )
    assert same.status_code == 200
    other = await client.get(
        f"/v1/applications?limit=1&status=submitted&cursor={cursor}", headers=auth("exporter")
    )
    assert other.status_code == 400


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=draft", {"dy-us-draft"}),
        ("status=submitted&status=draft", {"dy-us-draft", "tb-de", "sm-jp"}),
        ("element=Tb", {"tb-de"}),
        ("element=Nd", {"sm-jp"}),
        ("destination=JP", {"sm-jp"}),
        ("destination=US&status=submitted", set()),
    ],
)
async def test_filters(client: Client, auth: Tokens, query: str, expected: set[str]) -> None:
    def lines(element: str, **extra: Any) -> list[dict[str, Any]]:
        return [
            {
                "element": element,
                "form": extra.get("form", "oxide"),
                "hs_code": "2846.90",
                "quantity_kg": "5",
                "value": "100",
                "currency": "USD",
                **({"contains": extra["contains"]} if "contains" in extra else {}),
            }
        ]

    await asyncio.gather(
        draft(client, auth, contract_ref="dy-us-draft"),
        draft(
            client,
            auth,
            contract_ref="tb-de",
            destination_country="DE",
            lines=lines("Tb"),
            submit=True,
        ),
        draft(
            client,
            auth,
            contract_ref="sm-jp",
            destination_country="JP",
            lines=lines("Sm", form="magnet", contains=["Co", "Nd"]),
            submit=True,
        ),
    )
    response = await client.get(f"/v1/applications?{query}", headers=auth("exporter"))
    assert response.status_code == 200
    assert {a["contract_ref"] for a in response.json()["items"]} == expected


async def test_sort_by_due_date_lists_every_row_once_nulls_last(
    client: Client, auth: Tokens, clock: BusinessClock
) -> None:
    """Drafts, files not yet accepted and referrals have no due date: they come after the dated
    ones (in id order), and walking the pages two at a time meets every row exactly once."""
    dated = []
    for _ in range(3):
        created = await draft(client, auth, submit=True)
        await client.post(
            f"/v1/applications/{created['id']}/actions",
            json={"action": "accept"},
            headers=auth("officer"),
        )
        dated.append(created["id"])
        clock.advance(timedelta(days=1))
    undated = [(await draft(client, auth))["id"] for _ in range(2)]
    undated += [(await draft(client, auth, submit=True))["id"] for _ in range(2)]
    referred = dated.pop(0)
    delayed = await client.post(
        f"/v1/applications/{referred}/actions",
        json={"action": "delay", "reason": "security review"},
        headers=auth("officer"),
    )
    assert delayed.status_code == 200
    assert delayed.json()["due_at"] is None
    undated.append(referred)
    seen: list[str] = []
    url = "/v1/applications?sort=due_at&limit=2"
    while url:  # as the exporter: drafts are its own
        page = await client.get(url, headers=auth("exporter"))
        assert page.status_code == 200, page.text
        seen += [a["id"] for a in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        url = f"/v1/applications?sort=due_at&limit=2&cursor={cursor}" if cursor else ""
    assert seen[: len(dated)] == dated
    assert seen[len(dated) :] == sorted(undated, key=UUID)
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"contract_ref": "PO-2025-0042"},
        {"customs_port": "Tianjin", "contract_ref": "PO-2025-0042"},
    ],
    ids=["empty", "same value", "same values"],
)
async def test_an_edit_that_changes_nothing_changes_nothing(
    client: Client, auth: Tokens, patch: dict[str, Any]
) -> None:
    """No new version (so no other client's ETag goes stale), no `edit` event."""
    created = await draft(client, auth, contract_ref="PO-2025-0042", customs_port="Tianjin")
    path = f"/v1/applications/{created['id']}"
    response = await client.patch(path, json=patch, headers={**auth("exporter"), "If-Match": '"1"'})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1
    assert response.headers["etag"] == '"1"'
    events = await client.get(f"{path}/events", headers=auth("exporter"))
    assert [e["action"] for e in events.json()["items"]] == ["create"]
    changed = await client.patch(
        path, json={"contract_ref": "PO-9"}, headers={**auth("exporter"), "If-Match": '"1"'}
    )
    assert changed.json()["version"] == 2
