"""Separation of duties: nobody decides their own organisation's files, whatever roles their
token holds (issue 18: an exporter+officer token filed, accepted and approved its own
application). A refusal names the roles in words, never as Python's enum repr."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]


async def state_of(client: Client, auth: Tokens, path: str) -> tuple[Any, Any]:
    """The resource and its timeline, as an officer of the authority reads them."""
    resource = await client.get(path, headers=auth("officer"))
    timeline = await client.get(f"{path}/events", headers=auth("officer"))
    return resource.json(), timeline.json()["items"]


@pytest.mark.parametrize("token", ["exporter+officer", "officer"])
@pytest.mark.parametrize("action", ["accept", "reject"])
async def test_an_officer_may_not_decide_their_own_organisations_application(
    client: Client, auth: Tokens, token: str, action: str
) -> None:
    created = await client.post(
        "/v1/applications",
        json=application_body(submit=True),
        headers=auth("exporter", org="acme"),
    )
    path = f"/v1/applications/{created.json()['id']}"
    before = await state_of(client, auth, path)
    insider = auth(token, sub="mallory", org="acme")
    response = await client.post(
        f"{path}/actions", json={"action": action, "reason": "mine"}, headers=insider
    )
    assert response.status_code == 403, response.text
    assert "separation of duties" in response.json()["detail"]
    assert await state_of(client, auth, path) == before
    # an officer of the authority may
    decided = await client.post(
        f"{path}/actions", json={"action": action, "reason": "theirs"}, headers=auth("officer")
    )
    assert decided.status_code == 200, decided.text


async def test_an_officer_may_not_act_on_their_own_organisations_licence(
    client: Client, auth: Tokens
) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    path = f"/v1/applications/{created.json()['id']}"
    for step in ({"action": "accept"}, {"action": "approve"}):
        done = await client.post(f"{path}/actions", json=step, headers=auth("officer"))
        assert done.status_code == 200, done.text
    licence = f"/v1/licences/{done.json()['licence_id']}"
    before = await state_of(client, auth, licence)
    response = await client.post(
        f"{licence}/actions",
        json={"action": "suspend", "reason": "covering for a colleague"},
        headers=auth("officer", sub="insider", org="acme"),
    )
    assert response.status_code == 403, response.text
    assert "separation of duties" in response.json()["detail"]
    assert await state_of(client, auth, licence) == before


@pytest.mark.parametrize(
    ("token", "method", "path", "body", "words"),
    [
        ("viewer", "POST", "/v1/applications", application_body(), "not a viewer"),
        ("officer", "POST", "/v1/applications", application_body(), "only an exporter"),
    ],
    ids=["viewer-files", "officer-files"],
)
async def test_a_403_names_the_roles_in_words(
    client: Client, auth: Tokens, token: str, method: str, path: str, body: Any, words: str
) -> None:
    response = await client.request(method, path, json=body, headers=auth(token))
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert words in detail
    assert "<Role." not in detail
    assert "[" not in detail


async def test_a_viewers_refused_action_names_the_role(client: Client, auth: Tokens) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(), headers=auth("exporter")
    )
    response = await client.post(
        f"/v1/applications/{created.json()['id']}/actions",
        json={"action": "submit"},
        headers=auth("viewer"),
    )
    assert response.status_code == 403
    assert "<Role." not in response.json()["detail"]
