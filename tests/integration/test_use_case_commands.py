"""The use-cases take typed commands from callers in the process (the authority's workers) and
the client's JSON from the HTTP layer, and check both in the contract's order: what is not
visible is a 404 and a role that may not act a 403 before the content is read at all."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from litestar import Litestar

from licenceflow.domain.access import Principal
from licenceflow.domain.applications import (
    Accept,
    ActionCommand,
    Approve,
    RequestInfo,
    Status,
    Submit,
)
from licenceflow.domain.audit import Role
from licenceflow.domain.errors import Forbidden, InvalidFiling, MalformedRequest, NotFound
from licenceflow.domain.licences import ShipmentRequest, ShippedLine
from licenceflow.store.pool import Connection
from licenceflow.workflow import applications as workflow
from licenceflow.workflow import licences
from licenceflow.workflow.commands import Json
from tests.examples import new_application

EXPORTER = Principal(sub="alice", org="acme", roles=frozenset({Role.EXPORTER}))
RIVAL = Principal(sub="bob", org="rival", roles=frozenset({Role.EXPORTER}))
OFFICER = Principal(sub="olga", org="authority", roles=frozenset({Role.OFFICER}))


async def test_a_typed_caller_files_reviews_approves_and_ships(
    app: Litestar, db: Connection
) -> None:
    ctx = app.state.services.context
    async with db.transaction():
        created = await workflow.create(db, ctx, EXPORTER, new_application())
    id = created.application.id
    async with db.transaction():
        await workflow.act(db, ctx, EXPORTER, id, Submit())
        await workflow.act(db, ctx, OFFICER, id, Accept())
        approved = (await workflow.act(db, ctx, OFFICER, id, Approve(valid_months=3))).application
    assert approved.status is Status.APPROVED
    assert approved.licence_id is not None
    granted = (await licences.get(db, EXPORTER, approved.licence_id)).licence
    # the three months the typed approval asked for, not the default 12
    assert (granted.valid_from, granted.valid_until) == (date(2025, 6, 2), date(2025, 9, 2))
    shipment = ShipmentRequest(
        shipment_ref="BL-1",
        shipped_on=date(2025, 6, 2),
        lines=(ShippedLine(line=1, quantity_kg=Decimal("1")),),
    )
    async with db.transaction():
        shipped = await licences.ship(db, ctx, EXPORTER, approved.licence_id, shipment)
    assert [s.shipment_ref for s in shipped.view.shipments] == ["BL-1"]
    assert shipped.view.licence.status == "exhausted"  # a standard licence covers one shipment


async def test_json_is_read_only_after_the_file_is_found_and_the_role_may_act(
    app: Litestar, db: Connection
) -> None:
    ctx = app.state.services.context
    async with db.transaction():
        created = await workflow.create(db, ctx, EXPORTER, new_application(submit=True))
    id = created.application.id

    def body(raw: bytes) -> Json[ActionCommand]:
        return Json[ActionCommand](raw, ActionCommand)

    with pytest.raises(NotFound):  # another organisation's file: not even malformed JSON shows
        await workflow.act(db, ctx, RIVAL, id, body(b"{not json"))
    too_long = b'{"action": "approve", "valid_months": 99}'
    with pytest.raises(Forbidden):  # an officer's action by an exporter: the content is not read
        await workflow.act(db, ctx, EXPORTER, id, body(too_long))
    with pytest.raises(Forbidden):  # the same for a typed command
        await workflow.act(db, ctx, EXPORTER, id, RequestInfo(reason="which magnets?"))
    with pytest.raises(MalformedRequest):
        await workflow.act(db, ctx, OFFICER, id, body(b"{not json"))
    with pytest.raises(InvalidFiling) as invalid:
        await workflow.act(db, ctx, OFFICER, id, body(too_long))
    assert [p.field for p in invalid.value.problems] == ["valid_months"]
    with pytest.raises(InvalidFiling) as unknown:
        await workflow.act(db, ctx, OFFICER, id, body(b'{"action": "bless"}'))
    assert [p.field for p in unknown.value.problems] == ["action"]
