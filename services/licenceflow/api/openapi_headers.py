"""What a generated client reads in the OpenAPI document beyond the shapes: the headers each
answer carries and each request may send, and the contract's examples (API.md), dated from the
business day so that each is a request the service would take."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

HeaderSpecs = dict[str, dict[str, Any]]

ETAG: HeaderSpecs = {
    "ETag": {
        "description": 'The stored version, quoted (`"3"`): send it back in If-Match to write on'
        " that version only, or in If-None-Match to be told 304 if nothing changed",
        "schema": {"type": "string"},
    }
}
CREATED: HeaderSpecs = ETAG | {
    "Location": {"description": "The new application's path", "schema": {"type": "string"}},
    "Idempotency-Replayed": {
        "description": "`true` when this is the first answer to the same Idempotency-Key again",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
RETRY_AFTER: HeaderSpecs = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}
RATE_LIMITED: HeaderSpecs = RETRY_AFTER | {
    "RateLimit-Policy": {
        "description": "The caller's limit (IETF draft): quota and window",
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": "What is left of it (IETF draft): remaining and reset",
        "schema": {"type": "string"},
    },
}
# operation → answer → the headers it carries
ANSWERED: dict[str, dict[str, HeaderSpecs]] = {
    "V1ApplicationsCreate": {"201": CREATED},
    "V1ApplicationsApplicationIdRead": {"200": ETAG},
    "V1ApplicationsByReferenceByReference": {"200": ETAG},
    "V1ApplicationsApplicationIdEdit": {"200": ETAG},
    "V1ApplicationsApplicationIdActionsAct": {"200": ETAG},
    "V1LicencesLicenceIdRead": {"200": ETAG},
    "V1LicencesLicenceIdActionsAct": {"200": ETAG},
    "V1LicencesLicenceIdShipmentsShip": {"201": ETAG},
    "V1MetricsBacklogBacklogMetrics": {"200": ETAG},
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag this resource answered: 304, and no body, if it is still current",
    "schema": {"type": "string"},
}


def describe(operation: dict[str, Any], *, conditional: bool, today: date) -> None:
    """Adds to `operation` its answers' headers, If-None-Match where a 304 can answer, the 200
    of a shipment's replay or dry run, and an example request."""
    operation_id = operation.get("operationId", "")
    responses: dict[str, Any] = operation.get("responses", {})
    if operation_id == "V1LicencesLicenceIdShipmentsShip" and "201" in responses:
        responses["200"] = {
            **responses["201"],
            "description": "A replay of a shipment already recorded, or a dry run (no ETag: the"
            " licence it describes is not stored)",
        }
    for status, headers in ANSWERED.get(operation_id, {}).items():
        if status in responses:
            responses[status].setdefault("headers", {}).update(headers)
    for status, headers in (("429", RATE_LIMITED), ("503", RETRY_AFTER)):
        if status in responses:
            responses[status].setdefault("headers", {}).update(headers)
    parameters = operation.setdefault("parameters", [])
    if conditional and not any(p.get("name") == "If-None-Match" for p in parameters):
        parameters.append(dict(IF_NONE_MATCH))
    if not parameters:
        operation.pop("parameters")
    example = examples(today).get(operation_id)
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if example is not None and body is not None:
        body["example"] = example


def next_month_first(today: date) -> date:
    return (today.replace(day=1) + timedelta(days=32)).replace(day=1)


# API.md's example goods line (dysprosium oxide) and application, as its contract states them;
# the tests file the same one (tests/examples.py).
EXAMPLE_LINE: dict[str, Any] = {
    "element": "Dy",
    "form": "oxide",
    "hs_code": "2846.90",
    "quantity_kg": "1250.5",
    "value": "480000.00",
    "currency": "USD",
}
EXAMPLE_FILING: dict[str, Any] = {
    "exporter": {"name": "Baotou Magnet Works", "country": "CN"},
    "consignee": {"name": "Magnetwerk GmbH", "country": "DE"},
    "end_user": {"name": "Auto Parts Inc", "country": "US"},
    "end_use": "traction motors for passenger EVs",
    "end_use_category": "automotive",
    "destination_country": "US",
    "transport_mode": "sea",
    "customs_port": "Tianjin",
    "planned_ship_date": "2025-07-01",
    "contract_ref": "PO-88123",
    "lines": [EXAMPLE_LINE],
}


def examples(today: date) -> dict[str, Any]:
    """API.md's examples, planned to ship next month and shipped today."""
    return {
        "V1ApplicationsCreate": copy.deepcopy(EXAMPLE_FILING)
        | {"planned_ship_date": next_month_first(today).isoformat(), "submit": False},
        "V1ApplicationsApplicationIdEdit": {
            "consignee": {"name": "Magnetwerk AG", "country": "DE"}
        },
        "V1ApplicationsApplicationIdActionsAct": {"action": "approve", "valid_months": 12},
        "V1LicencesLicenceIdActionsAct": {"action": "suspend", "reason": "end-use check"},
        "V1LicencesLicenceIdShipmentsShip": {
            "shipment_ref": "BL-001",
            "shipped_on": today.isoformat(),
            "lines": [{"line": 1, "quantity_kg": "300"}],
        },
    }
