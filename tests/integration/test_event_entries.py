"""A timeline's entries and their outbox rows go in one statement: in the order given, each outbox
row naming its own event's seq (the authority's tasks are deduplicated on it), all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.domain.access import Visibility
from licenceflow.domain.audit import Actor, Event, Role
from licenceflow.store import applications as store
from licenceflow.store import events
from licenceflow.store.pool import Connection
from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
OFFICER = Actor(sub="officer-7", role=Role.OFFICER)


async def timeline(db: Connection, stream_id: UUID) -> list[tuple[int, str, int]]:
    """(seq, action, xact_id) of the stream's events, in order."""
    rows = await db.fetch(
        "SELECT seq, action, xact_id::text::bigint AS x FROM events WHERE stream_id = $1 "
        "ORDER BY seq",
        stream_id,
    )
    return [(r["seq"], r["action"], r["x"]) for r in rows]


async def outbox_rows(db: Connection, key: str, id: UUID) -> dict[str, dict[str, object]]:
    """topic → payload of the outbox rows about `id` (under payload key `key`)."""
    rows = await db.fetch(
        "SELECT topic, payload FROM outbox WHERE payload ->> $1 = $2", key, str(id)
    )
    return {r["topic"]: msgspec.json.decode(r["payload"]) for r in rows}


async def test_a_filing_submitted_at_once_writes_both_events_and_their_outbox_rows_together(
    client: Client, auth: Tokens, db: Connection
) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
    )
    assert created.status_code == 201, created.text
    id = UUID(created.json()["id"])

    (filed, created_action, x1), (submitted, submitted_action, x2) = await timeline(db, id)
    assert (created_action, submitted_action) == ("create", "submit")
    assert x1 == x2  # one transaction
    assert await outbox_rows(db, "application_id", id) == {
        "application.create": {
            "application_id": str(id),
            "status": "draft",
            "version": 1,
            "event_seq": filed,
        },
        "application.submit": {
            "application_id": str(id),
            "status": "submitted",
            "version": 2,
            "event_seq": submitted,
        },
    }


async def test_entries_of_several_streams_keep_the_order_given_each_outbox_row_its_own_seq(
    db: Connection,
) -> None:
    streams = [uuid4() for _ in range(3)]
    actions = ["approve", "issue", "ship"]
    entries = [
        events.Entry(
            stream="licence",
            stream_id=stream,
            org="acme",
            event=Event(action=action, from_status="a", to_status="b", actor=OFFICER, at=AT),
            outbox={"licence_id": str(stream), "n": n},
        )
        for n, (stream, action) in enumerate(zip(streams, actions, strict=True))
    ]
    await db.execute(f"WITH {events.appending(1)} SELECT 1", *events.arguments(entries))

    seqs = [(await timeline(db, stream))[0][0] for stream in streams]
    assert seqs == sorted(seqs)
    for n, (stream, action) in enumerate(zip(streams, actions, strict=True)):
        assert await outbox_rows(db, "licence_id", stream) == {
            f"licence.{action}": {"licence_id": str(stream), "n": n, "event_seq": seqs[n]}
        }


async def test_a_filing_whose_events_fail_leaves_no_application(
    client: Client, auth: Tokens, db: Connection
) -> None:
    created = await client.post(
        "/v1/applications", json=application_body(), headers=auth("exporter")
    )
    filed = await store.get(db, UUID(created.json()["id"]), Visibility(org="acme", officer=False))
    assert filed is not None
    id = uuid4()
    app = msgspec.structs.replace(filed, id=id, reference=store.unnumbered(id, AT.year))
    broken = events.Entry(
        stream="application",
        stream_id=id,
        org="acme",
        event=Event(action="create", from_status=None, to_status=None, actor=OFFICER, at=AT),  # type: ignore[arg-type]
        outbox={"application_id": str(id)},
    )
    before = {t: await db.fetchval(f"SELECT count(*) FROM {t}") for t in ("events", "outbox")}

    with pytest.raises(asyncpg.NotNullViolationError):  # an event needs a status to go to
        await store.insert(db, app, [broken])

    assert await db.fetchval("SELECT count(*) FROM applications WHERE id = $1", id) == 0
    assert {t: await db.fetchval(f"SELECT count(*) FROM {t}") for t in before} == before


async def test_an_update_writes_its_entries_with_it_and_a_stale_one_writes_neither(
    client: Client, auth: Tokens, db: Connection
) -> None:
    """The compare-and-set and the entries it carries are one statement: the entries land
    exactly when the write does."""
    created = await client.post(
        "/v1/applications", json=application_body(), headers=auth("exporter")
    )
    id = UUID(created.json()["id"])
    filed = await store.get(db, id, Visibility(org="acme", officer=False))
    assert filed is not None
    edited = msgspec.structs.replace(filed, version=filed.version + 1)

    def entry(action: str) -> events.Entry:
        return events.Entry(
            stream="application",
            stream_id=id,
            org="acme",
            event=Event(
                action=action, from_status="draft", to_status="draft", actor=OFFICER, at=AT
            ),
            outbox={"application_id": str(id), "version": edited.version},
        )

    stale = await store.update(db, edited, [entry("stale")], expected_version=filed.version + 5)
    written = await store.update(db, edited, [entry("edit")], expected_version=filed.version)

    assert (stale, written) == (False, True)
    assert [action for _, action, _ in await timeline(db, id)] == ["create", "edit"]
    assert set(await outbox_rows(db, "application_id", id)) == {
        "application.create",
        "application.edit",
    }
    stored = await store.get(db, id, Visibility(org="acme", officer=False))
    assert stored is not None
    assert stored.version == filed.version + 1
