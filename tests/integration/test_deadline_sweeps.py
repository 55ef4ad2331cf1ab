"""The deadline sweeps on the business clock: overdue reviews become `delayed`, unanswered
requests for information lapse into `rejected` — each once, by the system."""

from __future__ import annotations

from datetime import datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.clock import BusinessClock, ClockAnchor, WorkingCalendar, real_utc_now
from licenceflow.store.pool import Connection
from licenceflow.workflow import applications
from licenceflow.workflow.context import Context
from tests.integration.conftest import SHANGHAI, Tokens, application_body


def at(moment: datetime) -> Context:
    clock = BusinessClock(ClockAnchor(real=real_utc_now(), business=moment, speed=0))
    return Context(clock=clock, calendar=WorkingCalendar())


async def accepted(client: AsyncTestClient[Litestar], auth: Tokens) -> str:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    app_id = str(created.json()["id"])
    await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "accept"}, headers=auth("officer")
    )
    return app_id


async def test_an_overdue_review_is_delayed_once(
    client: AsyncTestClient[Litestar], auth: Tokens, db: Connection
) -> None:
    app_id = await accepted(client, auth)  # accepted 2 June 2025: due 4 August, 23:59:59
    last_second = datetime(2025, 8, 4, 23, 59, 59, 500000, tzinfo=SHANGHAI)
    async with db.transaction():
        assert await applications.pass_deadlines(db, at(last_second)) == 0
    for expected in (1, 0):
        async with db.transaction():
            later = last_second + timedelta(seconds=1)
            assert await applications.pass_deadlines(db, at(later)) == expected
    shown = (await client.get(f"/v1/applications/{app_id}", headers=auth("exporter"))).json()
    assert shown["status"] == "delayed"
    assert shown["due_at"] == "2025-08-04T23:59:59+08:00"
    events = await db.fetch(
        "SELECT actor_role FROM events WHERE stream_id = $1 AND action = 'deadline_passed'",
        app_id,
    )
    assert [e["actor_role"] for e in events] == ["system"]


async def test_an_unanswered_request_lapses_after_twenty_working_days(
    client: AsyncTestClient[Litestar], auth: Tokens, db: Connection
) -> None:
    app_id = await accepted(client, auth)
    await client.post(
        f"/v1/applications/{app_id}/actions",
        json={"action": "request_info", "reason": "End-user certificate"},
        headers=auth("officer"),
    )
    # Asked on Monday 2 June 2025: 20 working days later is Monday 30 June.
    async with db.transaction():
        due_day = datetime(2025, 6, 30, 23, 0, tzinfo=SHANGHAI)
        assert await applications.lapse_requests(db, at(due_day)) == 0
    for expected in (1, 0):
        async with db.transaction():
            next_day = datetime(2025, 7, 1, 0, 0, tzinfo=SHANGHAI)
            assert await applications.lapse_requests(db, at(next_day)) == expected
    shown = (await client.get(f"/v1/applications/{app_id}", headers=auth("exporter"))).json()
    assert shown["status"] == "rejected"
    assert shown["decision"]["reason_code"] == "lapsed"
