"""What the API sends about licences."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from licenceflow.domain.licences import ShippedLine
from licenceflow.workflow.licences import LicenceView


class LicenceLineResource(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    element: str
    form: str
    hs_code: str
    quantity_kg: Decimal
    used_kg: Decimal
    remaining_kg: Decimal


class ShipmentResource(msgspec.Struct, frozen=True, kw_only=True):
    shipment_ref: str
    shipped_on: date
    lines: tuple[ShippedLine, ...]
    recorded_at: datetime
    recorded_by: str


class LicenceResource(msgspec.Struct, frozen=True, kw_only=True):
    """A licence: what may be shipped, until when, and what has been shipped."""

    id: UUID
    number: str
    application_id: UUID
    org: str
    kind: str
    status: str
    version: int
    issued_at: datetime
    valid_from: date
    valid_until: date
    lines: list[LicenceLineResource]
    shipments: list[ShipmentResource]
    renewal_application_ids: list[UUID]


class LicencePage(msgspec.Struct, frozen=True):
    items: list[LicenceResource]
    next_cursor: str | None


def licence_resource(view: LicenceView, tz: ZoneInfo) -> LicenceResource:
    licence = view.licence
    return LicenceResource(
        id=licence.id,
        number=licence.number,
        application_id=licence.application_id,
        org=licence.org,
        kind=licence.kind.value,
        status=licence.status.value,
        version=licence.version,
        issued_at=licence.issued_at.astimezone(tz),
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        lines=[
            LicenceLineResource(
                line=line.line,
                element=line.element,
                form=line.form.value,
                hs_code=line.hs_code,
                quantity_kg=line.quantity_kg,
                used_kg=line.used_kg,
                remaining_kg=line.remaining_kg,
            )
            for line in licence.lines
        ],
        shipments=[
            ShipmentResource(
                shipment_ref=s.shipment_ref,
                shipped_on=s.shipped_on,
                lines=s.lines,
                recorded_at=s.recorded_at.astimezone(tz),
                recorded_by=s.recorded_by,
            )
            for s in view.shipments
        ],
        renewal_application_ids=view.renewals,
    )
