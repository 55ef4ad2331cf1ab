"""Example requests shared by every test layer: API.md's example application."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import msgspec

from licenceflow.domain.filing import NewApplication

# API.md's example goods line: dysprosium oxide.
EXAMPLE_LINE: dict[str, Any] = {
    "element": "Dy",
    "form": "oxide",
    "hs_code": "2846.90",
    "quantity_kg": "1250.5",
    "value": "480000.00",
    "currency": "USD",
}

# API.md's example request body, minus "submit" (a request flag, not part of the filing).
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


def line(**changes: Any) -> dict[str, Any]:
    """The example line with `changes`."""
    return copy.deepcopy(EXAMPLE_LINE) | changes


def application_body(**overrides: Any) -> dict[str, Any]:
    """The example POST body (a draft unless `submit=True`), with `overrides`."""
    return copy.deepcopy(EXAMPLE_FILING) | {"submit": False} | overrides


def new_application(**overrides: Any) -> NewApplication:
    """The example body as the typed command a caller in the process passes to `create`."""
    return msgspec.convert(application_body(**overrides), NewApplication)


def ahead(days: int = 60) -> str:
    """A planned ship date still ahead on a real clock, for runs whose business clock is now
    (API.md's example ships in July 2025, and a past date is refused at submission)."""
    return (date.today() + timedelta(days=days)).isoformat()
