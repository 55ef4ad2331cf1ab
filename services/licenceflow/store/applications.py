"""SQL for applications. Every read names who may see it: an organisation's members see its
applications, officers every application that is not a draft.

Over 300 lines because it is all of one table's SQL (reads, the keyset list, the batched
filings, the sweeps' locked selections), kept together so that a column changes in one place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal, TypeAlias
from uuid import UUID

import asyncpg
import msgspec

from licenceflow.domain.access import Visibility
from licenceflow.domain.applications import (
    AWAITING_AUTHORITY,
    CLOCK_RUNNING,
    Application,
    Decision,
    InfoRequest,
    Status,
)
from licenceflow.domain.filing import Filing
from licenceflow.store import events
from licenceflow.store.batched import Batched, lost
from licenceflow.store.keyset import PageQuery, like_prefix, sorting
from licenceflow.store.pool import Connection

_COLUMNS = """id, org, reference, status, version, filing, created_by, created_at, submitted_at,
    accepted_at, decided_at, closed_at, due_at, referred, resume_status, paused_since,
    paused_working_days, decision, licence_id, info_request"""


def _visible(org: str, officer: str) -> str:
    """Members see their organisation's applications, officers every one ever filed (a draft,
    even one withdrawn, never reached them); the arguments are the placeholders carrying the
    member's org and the officer flag."""
    return f"(org = {org} OR ({officer} AND submitted_at IS NOT NULL))"


# Written on every insert and update: the read columns and those derived from the filing.
_WRITTEN = f"""{_COLUMNS}, elements, destination_country, renews_licence_id, contract_ref,
    exporter_key, consignee_key, end_user_key, respond_by"""
_WRITTEN_COUNT = len(_WRITTEN.split(","))

_filing_decoder = msgspec.json.Decoder(Filing)
_decision_decoder = msgspec.json.Decoder(Decision)
_info_request_decoder = msgspec.json.Decoder(InfoRequest)


def from_row(row: asyncpg.Record) -> Application:
    return Application(
        id=row["id"],
        org=row["org"],
        reference=row["reference"],
        status=Status(row["status"]),
        version=row["version"],
        filing=_filing_decoder.decode(row["filing"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
        submitted_at=row["submitted_at"],
        accepted_at=row["accepted_at"],
        decided_at=row["decided_at"],
        closed_at=row["closed_at"],
        due_at=row["due_at"],
        referred=row["referred"],
        resume_status=Status(row["resume_status"]) if row["resume_status"] else None,
        paused_since=row["paused_since"],
        paused_working_days=row["paused_working_days"],
        decision=_decision_decoder.decode(row["decision"]) if row["decision"] else None,
        licence_id=row["licence_id"],
        info_request=(
            _info_request_decoder.decode(row["info_request"]) if row["info_request"] else None
        ),
    )


def unnumbered(id: UUID, year: int) -> str:
    """The reference an application is inserted under; its transaction's commit replaces it with
    `year`'s next number (`EL-YYYY-NNNNNN`, migration 0006)."""
    return f"EL-{year}-pending-{id}"


_INSERT = f"""WITH application AS (
        INSERT INTO applications ({_WRITTEN})
        VALUES ({", ".join(f"${i}" for i in range(1, _WRITTEN_COUNT + 1))})
    ), {events.appending(_WRITTEN_COUNT + 1)}
    SELECT 1"""


async def insert(conn: Connection, app: Application, entries: Sequence[events.Entry]) -> None:
    """A new application and the first entries of its timeline: one statement, so atomic on
    its own (the reference is given when it commits)."""
    await conn.execute(_INSERT, *_values(app), *events.arguments(entries))


Filed: TypeAlias = tuple[Application, Sequence[events.Entry]]  # a new application, its entries


async def insert_many(conn: Connection, filed: Sequence[Filed]) -> list[Application | Exception]:
    """New applications with their first entries, all in one transaction: one commit numbers
    every one (`numbered` reads it back). Should PostgreSQL refuse the transaction (nothing of
    it stays), each goes again on its own, so that one bad application fails only its own
    request: there, its exception is its answer. After a timeout each answer is how the batch
    ended. A lost connection leaves the outcome unknown: it is raised, for every request."""
    try:
        await conn.executemany(  # pipelined, one implicit transaction (asyncpg ≥ 0.22)
            _INSERT, [(*_values(app), *events.arguments(entries)) for app, entries in filed]
        )
    except TimeoutError as error:
        if conn.is_closed():
            raise
        return await _as_it_ended(conn, filed, error)
    except Exception as error:
        if not _refused(conn, error) or len(filed) == 1:
            raise
        return await _one_by_one(conn, filed)
    return [app for app, _ in filed]


async def _as_it_ended(
    conn: Connection, filed: Sequence[Filed], gave_up: TimeoutError
) -> list[Application | Exception]:
    """asyncpg stopped waiting and asked PostgreSQL to cancel the batch, which may still have
    committed first (its commit got the counter row before the cancel arrived). The next
    statement on the connection runs once the batch has ended either way: it tells which."""
    ids = [app.id for app, _ in filed]
    rows = await conn.fetch("SELECT id FROM applications WHERE id = ANY($1)", ids)
    stored = {row["id"] for row in rows}
    return [app if app.id in stored else gave_up for app, _ in filed]


async def _one_by_one(conn: Connection, filed: Sequence[Filed]) -> list[Application | Exception]:
    """Each filing in a transaction of its own. Once one fails other than by PostgreSQL's
    refusal, it and those after it (not sent) answer with that failure; those committed before
    it keep their answer."""
    outcomes: list[Application | Exception] = []
    for app, entries in filed:
        try:
            await insert(conn, app, entries)
        except Exception as error:
            if not _refused(conn, error):
                if lost(conn, error):
                    conn.terminate()  # in a state it may not know yet: the next batch reconnects
                return outcomes + [error] * (len(filed) - len(outcomes))
            outcomes.append(error)
        else:
            outcomes.append(app)
    return outcomes


def _refused(conn: Connection, error: Exception) -> bool:
    """PostgreSQL refused the statement: its transaction rolled back, the connection is fine."""
    return isinstance(error, asyncpg.PostgresError) and not lost(conn, error)


async def numbered(conn: Connection, app: Application) -> Application:
    """`app` with the reference its creating transaction's commit gave it."""
    reference: str = await conn.fetchval("SELECT reference FROM applications WHERE id = $1", app.id)
    return msgspec.structs.replace(app, reference=reference)


async def get(
    conn: Connection, id: UUID, who: Visibility, *, for_update: bool = False
) -> Application | None:
    return await _one(conn, "id", id, who, for_update=for_update)


async def get_by_reference(conn: Connection, reference: str, who: Visibility) -> Application | None:
    return await _one(conn, "reference", reference, who)


async def _one(
    conn: Connection,
    column: Literal["id", "reference"],
    value: UUID | str,
    who: Visibility,
    *,
    for_update: bool = False,
) -> Application | None:
    """The application whose `column` (unique) is `value`, if `who` sees it; locked with
    `for_update`."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM applications WHERE {column} = $1 AND {_visible('$2', '$3')}{lock}",
        value,
        who.org,
        who.officer,
    )
    return from_row(row) if row else None


async def get_many(
    conn: Connection, wanted: Sequence[tuple[UUID, Visibility]]
) -> list[Application | None]:
    """Each (id, who) in one query: the application, or None where there is none `who` sees."""
    rows = await conn.fetch(
        f"""SELECT wanted_n, {_COLUMNS}
            FROM unnest($1::uuid[], $2::text[], $3::bool[]) WITH ORDINALITY
                AS wanted (wanted_id, wanted_org, wanted_officer, wanted_n)
            JOIN applications ON id = wanted_id AND {_visible("wanted_org", "wanted_officer")}""",
        [id for id, _ in wanted],
        [who.org for _, who in wanted],
        [who.officer for _, who in wanted],
    )
    found: list[Application | None] = [None] * len(wanted)
    for row in rows:
        found[row["wanted_n"] - 1] = from_row(row)
    return found


Reads: TypeAlias = Batched[tuple[UUID, Visibility], Application | None]
Filings: TypeAlias = Batched[Filed, Application]


async def reads(dsn: str) -> Reads:
    """Reads by id that arrive together, answered by one `get_many` on a connection of their
    own (see `store.batched`); a read lost with its connection goes again."""
    return await Batched.open(dsn, get_many, repeatable=True)


async def filings(dsn: str) -> Filings:
    """New applications filed together, inserted by one `insert_many` on two connections of
    their own (see `store.batched`): a filing goes out at once while either has nothing in
    flight. A batch is never sent twice."""
    return await Batched.open(dsn, insert_many, repeatable=False, lanes=2)


_UPDATE = f"""WITH updated AS (
        UPDATE applications SET ({_WRITTEN}) =
            ROW({", ".join(f"${i}" for i in range(1, _WRITTEN_COUNT + 1))})
        WHERE id = $1 AND version = ${_WRITTEN_COUNT + 1}
        RETURNING 1
    ), {events.appending(_WRITTEN_COUNT + 2, only_if="updated")}
    SELECT count(*) FROM updated"""


async def update(
    conn: Connection,
    app: Application,
    entries: Sequence[events.Entry],
    *,
    expected_version: int,
) -> bool:
    """Compare-and-set: writes `app`, and appends `entries` to the timelines, only if the stored
    version is still `expected_version`. One statement."""
    written: int = await conn.fetchval(
        _UPDATE, *_values(app), expected_version, *events.arguments(entries)
    )
    return written == 1


_DELETE = f"""WITH deleted AS (
        DELETE FROM applications WHERE id = $1 AND version = $2 RETURNING 1
    ), {events.appending(3, only_if="deleted")}
    SELECT count(*) FROM deleted"""


async def delete(
    conn: Connection, app: Application, entries: Sequence[events.Entry], *, expected_version: int
) -> bool:
    """Compare-and-set: deletes `app`'s row, and appends `entries` (its timeline stays), only if
    the stored version is still `expected_version`. One statement; its Idempotency-Keys go with
    the row."""
    deleted: int = await conn.fetchval(
        _DELETE, app.id, expected_version, *events.arguments(entries)
    )
    return deleted == 1


def _values(app: Application) -> Sequence[Any]:
    return (
        app.id,
        app.org,
        app.reference,
        app.status.value,
        app.version,
        app.filing,
        app.created_by,
        app.created_at,
        app.submitted_at,
        app.accepted_at,
        app.decided_at,
        app.closed_at,
        app.due_at,
        app.referred,
        app.resume_status.value if app.resume_status else None,
        app.paused_since,
        app.paused_working_days,
        app.decision,
        app.licence_id,
        app.info_request,
        sorted(app.filing.rare_earths()),
        app.filing.destination_country,
        app.filing.renews_licence_id,
        app.filing.contract_ref,
        party_key(app.filing.exporter.name),
        party_key(app.filing.consignee.name),
        party_key(app.filing.end_user.name),
        app.info_request.respond_by if app.info_request else None,
    )


def party_key(name: str) -> str:
    """A party's name as the case-insensitive prefix filter compares it."""
    return name.lower()


class ListQuery(msgspec.Struct, frozen=True, kw_only=True):
    statuses: tuple[Status, ...] = ()
    element: str | None = None
    destination: str | None = None
    overdue: bool | None = None
    contract_ref: str | None = None
    reference: str | None = None
    party: str | None = None  # a prefix of any party's name, any case
    submitted_from: datetime | None = None  # inclusive
    submitted_before: datetime | None = None  # exclusive
    respond_by_before: datetime | None = None  # waiting on the exporter, due before this
    sort: str = "-created_at"
    limit: int = 50


# the columns a list sorts by, and whether they may be null (submitted_at until a draft is
# submitted, due_at until a file is accepted and while it is referred): nulls come last
# column → nullable; `respond_by` is the info request's (soonest first: what is owed)
SORTABLE = {"created_at": False, "submitted_at": True, "due_at": True, "respond_by": True}
SORTS = sorting(SORTABLE)


async def page(
    conn: Connection,
    who: Visibility,
    query: ListQuery,
    *,
    now: datetime,
    after: tuple[datetime | None, UUID] | None,
) -> list[Application]:
    """Up to `query.limit + 1` applications in the query's order after the keyset `after`."""
    column, direction = SORTS[query.sort]
    q = PageQuery("applications", _COLUMNS)
    q.where(_visible(q.arg(who.org), q.arg(who.officer)))
    if query.statuses:
        q.where(f"status = ANY({q.arg([s.value for s in query.statuses])}::text[])")
    if query.element:
        q.where(f"elements @> ARRAY[{q.arg(query.element)}::text]")
    if query.destination:
        q.where(f"destination_country = {q.arg(query.destination)}")
    if query.contract_ref is not None:
        q.where(f"contract_ref = {q.arg(query.contract_ref)}")
    if query.reference is not None:
        q.where(f"reference = {q.arg(query.reference)}")
    if query.party is not None:
        prefix = q.arg(like_prefix(party_key(query.party)))
        q.where(
            f"(exporter_key LIKE {prefix} OR consignee_key LIKE {prefix}"
            f" OR end_user_key LIKE {prefix})"
        )
    if query.submitted_from is not None:
        q.where(f"submitted_at >= {q.arg(query.submitted_from)}")
    if query.submitted_before is not None:
        q.where(f"submitted_at < {q.arg(query.submitted_before)}")
    if query.respond_by_before is not None:
        q.where(f"respond_by < {q.arg(query.respond_by_before)}")
    if query.overdue is not None:
        # as domain.applications.progress: the clock runs, and the deadline's last second is over
        overdue = (
            f"(status IN {_listed(CLOCK_RUNNING)}"
            f" AND due_at IS NOT NULL AND due_at + interval '1 second' <= {q.arg(now)})"
        )
        q.where(overdue if query.overdue else f"NOT {overdue}")
    sql = q.sql(column, direction, after=after, limit=query.limit + 1, nullable=SORTABLE[column])
    rows = await conn.fetch(sql, *q.args)
    return [from_row(r) for r in rows]


def _listed(statuses: frozenset[Status]) -> str:
    """A status set as an SQL list of constants (the domain's names: no input reaches it), so
    that the planner sees the values."""
    return "(" + ", ".join(f"'{status}'" for status in sorted(statuses)) + ")"


async def lock_overdue(conn: Connection, now: datetime, *, limit: int) -> list[Application]:
    """Applications under review whose deadline's last second is over, locked (SKIP LOCKED)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM applications
            WHERE status = '{Status.UNDER_REVIEW}' AND due_at + interval '1 second' <= $1
            ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )
    return [from_row(r) for r in rows]


async def lock_waiting(conn: Connection, today: date, *, limit: int) -> list[Application]:
    """Applications waiting for an answer for at least 20 calendar days (every lapse is among
    them: 20 working days are at least that long), oldest request first, locked (SKIP LOCKED)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM applications
            WHERE status = '{Status.INFO_REQUESTED}' AND paused_since <= $1::date - 20
            ORDER BY paused_since, id LIMIT $2 FOR UPDATE SKIP LOCKED""",
        today,
        limit,
    )
    return [from_row(r) for r in rows]


async def pending_ids(
    conn: Connection, *, after: tuple[datetime, UUID] | None, limit: int
) -> list[tuple[UUID, Status, datetime]]:
    """Applications an authority desk still has to act on, oldest submission first, after the
    keyset `after` (submitted_at, id): (id, status, submitted_at)."""
    rows = await conn.fetch(
        """SELECT id, status, submitted_at FROM applications
           WHERE status = ANY($1::text[])
             AND ($2::timestamptz IS NULL OR (submitted_at, id) > ($2, $3::uuid))
           ORDER BY submitted_at, id LIMIT $4""",
        [status.value for status in AWAITING_AUTHORITY],
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [(r["id"], Status(r["status"]), r["submitted_at"]) for r in rows]
