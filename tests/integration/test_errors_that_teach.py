"""Refusals a user can act on in one go: every missing or invalid field of a body named in one
422, with the values allowed, the format expected and the spelling meant; a 403 that names the
roles in words."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.examples import line
from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]


def named(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/invalid-filing")
    return {e["field"]: e["message"] for e in response.json()["errors"]}


async def test_every_missing_and_invalid_field_is_named_at_once(
    client: Client, auth: Tokens
) -> None:
    body = application_body(
        end_use_category="Cars",
        planned_ship_date="1/7/2025",
        transport_mode="Sea",
        colour="red",
        lines=[line(form="Oxide"), line(quantity_kg=[1])],
    )
    for missing in ("exporter", "consignee", "contract_ref"):
        del body[missing]
    problems = named(await client.post("/v1/applications", json=body, headers=auth("exporter")))
    assert problems.keys() == {
        "exporter",
        "consignee",
        "contract_ref",
        "end_use_category",
        "planned_ship_date",
        "transport_mode",
        "colour",
        "lines[0].form",
        "lines[1].quantity_kg",
    }
    assert "missing required field" in problems["contract_ref"]
    assert "automotive, defence, electronics" in problems["end_use_category"]  # what is allowed
    assert "YYYY-MM-DD" in problems["planned_ship_date"]
    assert "did you mean 'sea'?" in problems["transport_mode"]
    assert "did you mean 'oxide'?" in problems["lines[0].form"]
    assert "unknown field" in problems["colour"]


async def test_the_rules_suggest_the_spelling_meant(client: Client, auth: Tokens) -> None:
    body = application_body(
        destination_country="us",
        end_user={"name": "Auto Parts Inc", "country": "us"},
        lines=[line(element="dy"), line(element="Nd", form="magnet", contains=["fe", "Xx"])],
    )
    problems = named(await client.post("/v1/applications", json=body, headers=auth("exporter")))
    assert "did you mean 'US'?" in problems["destination_country"]
    assert "did you mean 'US'?" in problems["end_user.country"]
    assert "did you mean 'Dy'?" in problems["lines[0].element"]
    assert "did you mean 'Fe'?" in problems["lines[1].contains[0]"]
    assert "did you mean" not in problems["lines[1].contains[1]"]


async def test_an_unknown_action_lists_the_actions(client: Client, auth: Tokens) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    refused = await client.post(
        f"/v1/applications/{created.json()['id']}/actions",
        json={"action": "Withdraw"},
        headers=auth("exporter"),
    )
    problems = named(refused)
    assert "did you mean 'withdraw'?" in problems["action"]
    assert "request_info" in problems["action"]


@pytest.mark.parametrize(
    ("role", "path", "body", "words"),
    [
        ("viewer", "/v1/applications", application_body(), "only an exporter may file"),
        ("officer", "/v1/applications", application_body(), "not an officer"),
        ("viewer", "actions", {"action": "withdraw"}, "a viewer may only read"),
        ("exporter", "actions", {"action": "approve"}, "an exporter may not approve"),
        ("viewer+officer", "/v1/applications", application_body(), "not an officer or a viewer"),
    ],
)
async def test_a_403_names_the_roles_in_words(
    client: Client, auth: Tokens, role: str, path: str, body: dict[str, Any], words: str
) -> None:
    if path == "actions":
        created = await client.post(
            "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
        )
        path = f"/v1/applications/{created.json()['id']}/actions"
    refused = await client.post(path, json=body, headers=auth(role))
    assert refused.status_code == 403, refused.text
    detail = refused.json()["detail"]
    assert words in detail
    for python in ("frozenset", "Role.", "{", "<", "["):
        assert python not in detail
