"""Bad input gets a clear 4xx naming the field — never a 500, never a half-written row."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.store.pool import Connection
from tests.examples import line as example_line
from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]


def line(**overrides: Any) -> dict[str, Any]:
    """A terbium metal line (not the example's Dy oxide), with `overrides`."""
    return example_line(**({"element": "Tb", "form": "metal", "hs_code": "2805301910"} | overrides))


CASES = [
    pytest.param({"lines": [line(element="Xx")]}, "lines[0].element", id="unknown-element"),
    pytest.param({"lines": [line(element="dy")]}, "lines[0].element", id="element-case"),
    pytest.param({"destination_country": "ZZ"}, "destination_country", id="bad-country"),
    pytest.param({"destination_country": "CN"}, "destination_country", id="export-to-itself"),
    pytest.param({"exporter": {"name": "X", "country": "DE"}}, "exporter.country", id="exporter"),
    pytest.param({"consignee": {"name": "X", "country": "de"}}, "consignee.country", id="lower"),
    pytest.param({"lines": [line(quantity_kg="0")]}, "lines[0].quantity_kg", id="zero-qty"),
    pytest.param({"lines": [line(quantity_kg=-5)]}, "lines[0].quantity_kg", id="negative-qty"),
    pytest.param({"lines": [line(quantity_kg="1.0001")]}, "lines[0].quantity_kg", id="4-places"),
    pytest.param({"lines": [line(quantity_kg="NaN")]}, "lines[0].quantity_kg", id="nan"),
    pytest.param({"lines": [line(quantity_kg=True)]}, "lines[0].quantity_kg", id="bool-qty"),
    pytest.param({"lines": [line(value="1.5", currency="JPY")]}, "lines[0].value", id="jpy-cents"),
    pytest.param({"lines": [line(currency="XYZ")]}, "lines[0].currency", id="bad-currency"),
    pytest.param({"lines": [line(hs_code="2846")]}, "lines[0].hs_code", id="short-hs"),
    pytest.param({"lines": [line(hs_code="28469A")]}, "lines[0].hs_code", id="letters-hs"),
    pytest.param({"lines": [line(form="powder")]}, "lines[0].form", id="bad-form"),
    pytest.param({"lines": [line(contains=["Nd"])]}, "lines[0].contains", id="contains-metal"),
    pytest.param(
        {"lines": [line(form="magnet", contains=["Nd", "Qq"])]},
        "lines[0].contains[1]",
        id="contains-unknown",
    ),
    pytest.param({"lines": []}, "lines", id="no-lines"),
    pytest.param({"lines": [line()] * 51}, "lines", id="51-lines"),
    pytest.param({"lines": [line(colour="red")]}, "lines[0].colour", id="unknown-line-field"),
    pytest.param({"priority": "high"}, "priority", id="unknown-field"),
    pytest.param({"end_use_category": "mining"}, "end_use_category", id="bad-category"),
    pytest.param({"transport_mode": "pipeline"}, "transport_mode", id="bad-transport"),
    pytest.param({"planned_ship_date": "01/07/2025"}, "planned_ship_date", id="bad-date"),
    pytest.param({"contract_ref": 88123}, "contract_ref", id="wrong-type"),
    pytest.param({"end_use": ""}, "end_use", id="empty-end-use"),
    pytest.param({"submit": "yes"}, "submit", id="submit-not-bool"),
]


@pytest.mark.parametrize(("overrides", "field"), CASES)
async def test_invalid_application_names_the_field(
    client: Client, auth: Tokens, overrides: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/v1/applications", json=application_body(**overrides), headers=auth("exporter")
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]], problem
    listed = await client.get("/v1/applications", headers=auth("exporter"))
    assert listed.json()["items"] == []


@pytest.mark.smoke
async def test_missing_required_field_is_named(client: Client, auth: Tokens) -> None:
    body = application_body()
    del body["consignee"]
    response = await client.post("/v1/applications", json=body, headers=auth("exporter"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "consignee"


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"", b'{"lines": [1,]}', b"\xff\xfe"],
    ids=["truncated", "text", "empty", "trailing-comma", "binary"],
)
async def test_malformed_json_is_400(client: Client, auth: Tokens, raw: bytes) -> None:
    response = await client.post(
        "/v1/applications",
        content=raw,
        headers={**auth("exporter"), "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("/malformed-request")


@pytest.mark.parametrize(
    "raw", [b"[]", b"42", b'"x"', b"null"], ids=["array", "number", "string", "null"]
)
async def test_a_body_that_is_not_an_object_is_422(
    client: Client, auth: Tokens, raw: bytes
) -> None:
    response = await client.post(
        "/v1/applications",
        content=raw,
        headers={**auth("exporter"), "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body"


async def test_body_over_one_mebibyte_is_413(client: Client, auth: Tokens) -> None:
    response = await client.post(
        "/v1/applications",
        content=b'{"end_use": "' + b"x" * (1024 * 1024) + b'"}',
        headers={**auth("exporter"), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_numbers_are_exact_decimals(client: Client, auth: Tokens) -> None:
    body = application_body(lines=[line(quantity_kg=0.1, value=1234567.89)])
    response = await client.post("/v1/applications", json=body, headers=auth("exporter"))
    assert response.status_code == 201, response.text
    assert response.json()["lines"][0]["quantity_kg"] == "0.100"
    assert response.json()["lines"][0]["value"] == "1234567.89"


async def test_constituents_make_a_magnet_controlled(client: Client, auth: Tokens) -> None:
    body = application_body(
        lines=[line(element="Nd", form="magnet", hs_code="8505111000", contains=["Fe", "B", "Dy"])]
    )
    controlled = await client.post("/v1/applications", json=body, headers=auth("exporter"))
    assert controlled.json()["controlled"] is True
    plain = application_body(lines=[line(element="Nd", form="oxide", hs_code="2846.90")])
    uncontrolled = await client.post("/v1/applications", json=plain, headers=auth("exporter"))
    assert uncontrolled.json()["controlled"] is False


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("limit=0", 422),
        ("limit=201", 422),
        ("limit=ten", 422),
        ("status=pending", 422),
        ("element=Fe", 422),
        ("sort=reference", 422),
        ("cursor=not-a-cursor", 400),
        ("overdue=maybe", 422),
    ],
)
async def test_bad_list_parameters(client: Client, auth: Tokens, query: str, status: int) -> None:
    response = await client.get(f"/v1/applications?{query}", headers=auth("officer"))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"action": "fly"}, 422, "action"),
        ({}, 422, "action"),
        ({"action": "request_info"}, 422, "reason"),
        ({"action": "reject", "reason": "x", "reason_code": "lapsed"}, 422, "reason_code"),
        ({"action": "approve", "valid_months": 13}, 422, "valid_months"),
        ({"action": "accept", "extra": 1}, 422, "extra"),
    ],
)
async def test_bad_actions_name_the_field(
    client: Client, auth: Tokens, body: dict[str, Any], status: int, field: str
) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    response = await client.post(
        f"/v1/applications/{created.json()['id']}/actions", json=body, headers=auth("officer")
    )
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_unknown_or_malformed_ids_are_404(client: Client, auth: Tokens) -> None:
    for path in (
        "/v1/applications/not-a-uuid",
        "/v1/applications/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12,
    ):
        response = await client.get(path, headers=auth("exporter"))
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "overrides",
    [
        {"end_use": "motors\u0000"},
        {"exporter": {"name": "Bao\u0000tou", "country": "CN"}},
        {"contract_ref": "PO\u0001"},
    ],
    ids=["nul-end-use", "nul-name", "control-char"],
)
async def test_control_characters_are_refused_not_stored(
    client: Client, auth: Tokens, db: Connection, overrides: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/applications", json=application_body(**overrides), headers=auth("exporter")
    )
    assert response.status_code == 422, response.text
    assert await db.fetchval("SELECT count(*) FROM applications") == 0
    assert await db.fetchval("SELECT count(*) FROM events") == 0
    listed = await client.get("/v1/applications", headers=auth("exporter"))
    assert listed.json()["items"] == []


async def test_nul_in_query_or_reason_is_a_4xx(client: Client, auth: Tokens) -> None:
    listed = await client.get("/v1/applications?destination=U%00S", headers=auth("officer"))
    assert listed.status_code == 422
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    action = await client.post(
        f"/v1/applications/{created.json()['id']}/actions",
        json={"action": "reject", "reason": "no\u0000"},
        headers=auth("officer"),
    )
    assert action.status_code == 422
    assert action.json()["errors"][0]["field"] == "reason"


@pytest.mark.parametrize("quantity", ["1e30", "99999999999999999999999999.5", 1e300])
async def test_huge_numbers_are_a_422_not_a_crash(
    client: Client, auth: Tokens, quantity: Any
) -> None:
    body = application_body(lines=[line(quantity_kg=quantity)])
    response = await client.post("/v1/applications", json=body, headers=auth("exporter"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "lines[0].quantity_kg"


async def test_a_method_a_path_does_not_have_gets_405_naming_those_it_has(
    client: Client, auth: Tokens
) -> None:
    """RFC 9110: a 405 carries `Allow` (the problem+json answer used to drop it)."""
    refused = await client.request("DELETE", "/v1/clock", headers=auth("viewer"))
    assert refused.status_code == 405
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert {m.strip() for m in refused.headers["allow"].split(",")} == {"GET", "OPTIONS"}


async def test_options_names_every_method_of_the_path(client: Client) -> None:
    """Litestar 2 named only the methods registered before the last (litestar#4169)."""
    answers = {
        path: await client.options(path)
        for path in ("/v1/applications", "/v1/applications/any-id", "/v1/clock")
    }
    allowed = {
        path: {m.strip() for m in answer.headers["allow"].split(",")}
        for path, answer in answers.items()
    }
    assert allowed == {
        "/v1/applications": {"GET", "POST", "OPTIONS"},
        "/v1/applications/any-id": {"GET", "PATCH", "DELETE", "OPTIONS"},
        "/v1/clock": {"GET", "OPTIONS"},
    }
