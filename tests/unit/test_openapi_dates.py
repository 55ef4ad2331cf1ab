"""The OpenAPI document's date rules take today on every day of the year (the 29th to the 31st
are left out of the patterns' any-month days), and its examples keep to them."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from licenceflow.api.openapi_contract import _shipped_by, completed
from licenceflow.api.openapi_headers import examples


@pytest.mark.parametrize("today", [date(2025, 1, 31), date(2024, 2, 29), date(2025, 6, 2)])
def test_today_is_a_date_both_patterns_take(today: date) -> None:
    spec = completed({"paths": {}}, regime_country="CN", today=today)
    schemas = spec["components"]["schemas"]
    planned = re.compile(schemas["NewApplication"]["properties"]["planned_ship_date"]["pattern"])
    shipped = re.compile(_shipped_by(today))
    assert planned.fullmatch(today.isoformat())
    assert shipped.fullmatch(today.isoformat())
    assert not shipped.fullmatch((today + timedelta(days=1)).isoformat())
    assert not planned.fullmatch((today - timedelta(days=1)).isoformat())
    given = examples(today)
    assert planned.fullmatch(given["V1ApplicationsCreate"]["planned_ship_date"])
    assert shipped.fullmatch(given["V1LicencesLicenceIdShipmentsShip"]["shipped_on"])
