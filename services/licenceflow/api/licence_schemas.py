"""What the API sends about licences."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from licenceflow.domain.filing import Party
from licenceflow.domain.licences import ShippedLine, Status
from licenceflow.workflow.licences import LicenceView


class LicenceLineResource(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    element: str
    form: str
    hs_code: str
    contains: tuple[str, ...]
    quantity_kg: Decimal
    used_kg: Decimal
    remaining_kg: Decimal  # licensed − used, always
    # what may still ship under this licence: remaining_kg while it is active; 0 once it is
    # exhausted (a standard licence after its one shipment, however partial), expired, revoked
    # or surrendered, and while it is suspended
    shippable_kg: Decimal


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
    application_reference: str | None
    contract_ref: str | None
    exporter: Party | None
    consignee: Party | None
    end_user: Party | None
    destination_country: str | None
    end_use: str | None
    end_use_category: str | None
    transport_mode: str | None
    customs_port: str | None
    lines: list[LicenceLineResource]
    shipments: list[ShipmentResource]
    renewal_application_ids: list[UUID]


class LicencePage(msgspec.Struct, frozen=True):
    items: list[LicenceResource]
    next_cursor: str | None


def licence_resource(view: LicenceView, tz: ZoneInfo) -> LicenceResource:
    licence = view.licence
    active = licence.status is Status.ACTIVE
    told = licence.particulars
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
        application_reference=told.application_reference if told else None,
        contract_ref=told.contract_ref if told else None,
        exporter=told.exporter if told else None,
        consignee=told.consignee if told else None,
        end_user=told.end_user if told else None,
        destination_country=told.destination_country if told else None,
        end_use=told.end_use if told else None,
        end_use_category=told.end_use_category.value if told else None,
        transport_mode=told.transport_mode.value if told else None,
        customs_port=told.customs_port if told else None,
        lines=[
            LicenceLineResource(
                line=line.line,
                element=line.element,
                form=line.form.value,
                hs_code=line.hs_code,
                contains=line.contains,
                quantity_kg=line.quantity_kg,
                used_kg=line.used_kg,
                remaining_kg=line.remaining_kg,
                shippable_kg=line.remaining_kg if active else Decimal("0.000"),
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
