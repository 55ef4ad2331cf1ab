"""Use-cases for applications: load → domain → persist (state + event + outbox), in the
caller's transaction; a creation is atomic on its own (one statement, or its own transaction
with an Idempotency-Key). The API and the workers change applications only through here.

Checks run in the contract's order: not visible (404) → role (403) → content (422) →
state or version (409/412)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID, uuid4

import msgspec

from licenceflow.domain import applications as domain
from licenceflow.domain import deadlines
from licenceflow.domain import filing as filings
from licenceflow.domain.access import Principal
from licenceflow.domain.applications import Action, ActionCommand, Application, Edit, Status
from licenceflow.domain.audit import SYSTEM_ACTOR, Actor, Role
from licenceflow.domain.errors import (
    FieldProblem,
    IdempotencyKeyReused,
    InvalidFiling,
    NotFound,
    RequestInProgress,
    StaleVersion,
)
from licenceflow.domain.filing import Filing, NewApplication
from licenceflow.domain.values import convert
from licenceflow.store import applications as store
from licenceflow.store import events, idempotency
from licenceflow.store.pool import Connection
from licenceflow.workflow import licences
from licenceflow.workflow.commands import CommandOrJson, action_of, content
from licenceflow.workflow.context import Context
from licenceflow.workflow.patches import merge_patch
from licenceflow.workflow.preconditions import require_version

STREAM = "application"
MAX_IDEMPOTENCY_KEY = 255
SWEEP_BATCH = 200
APPROVALS = frozenset({Status.APPROVED, Status.TEMPORARILY_APPROVED})
FilingPatch = dict[str, Any]  # a JSON merge patch (RFC 7396) of a filing
_snapshot = msgspec.json.Decoder(Application)


class Acted(NamedTuple):
    application: Application
    warnings: tuple[FieldProblem, ...]  # allowed, but perhaps not meant (domain.Transition)


class Created(NamedTuple):
    application: Application
    replayed: bool


async def create(
    conn: Connection,
    ctx: Context,
    principal: Principal,
    command: CommandOrJson[NewApplication],
    *,
    idempotency_key: str | None = None,
    filings: store.Filings | None = None,
) -> Created:
    """File (and with `submit`, submit) an application: one statement, atomic on its own; with
    `filings` (the server's), in their next batch, one transaction for all of it. With an
    Idempotency-Key it is one transaction on `conn` with the key's claim and the answer
    remembered for it. Its reference is given at commit: after the commit, `numbered` reads it."""
    actor = principal.require(Role.EXPORTER, "file applications")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidFiling([FieldProblem(field="Idempotency-Key", message="1–255 characters")])
    new = content(command)
    filing = await _valid_filing(conn, ctx, principal, new.filing())
    now = ctx.clock.now()
    if idempotency_key is None:
        app = await _file(
            conn, ctx, principal.org, actor, filing, now=now, submit=new.submit, filings=filings
        )
        return Created(app, replayed=False)

    request_hash = hashlib.sha256(msgspec.json.encode(new, order="sorted")).digest()
    owner = idempotency.Owner(principal.org, principal.sub)
    async with conn.transaction():
        if not await idempotency.try_claim(conn, owner, idempotency_key):
            raise RequestInProgress("a request with this Idempotency-Key is still running")
        earlier = await idempotency.find(conn, owner, idempotency_key)
        if earlier is not None and not earlier.expired:
            if earlier.request_hash != request_hash:
                raise IdempotencyKeyReused("this Idempotency-Key came with another body")
            return Created(_snapshot.decode(earlier.response), replayed=True)
        if earlier is not None:
            await idempotency.forget(conn, owner, idempotency_key)
        app = await _file(conn, ctx, principal.org, actor, filing, now=now, submit=new.submit)
        await idempotency.remember(
            conn,
            owner,
            idempotency_key,
            request_hash=request_hash,
            application_id=app.id,
            response=msgspec.json.encode(app),
            created_at=now,
        )
    return Created(app, replayed=False)


async def _file(
    conn: Connection,
    ctx: Context,
    org: str,
    actor: Actor,
    filing: Filing,
    *,
    now: datetime,
    submit: bool,
    filings: store.Filings | None = None,
) -> Application:
    """`org`'s new application, filed at `now` and inserted with its first events (filed, and
    submitted): on `conn`, or in the next batch of `filings`."""
    id = uuid4()
    steps = [
        domain.file(
            id=id,
            org=org,
            reference=store.unnumbered(id, ctx.calendar.date_of(now).year),
            filing=filing,
            actor=actor,
            now=now,
        )
    ]
    if submit:
        steps.append(domain.apply(steps[0].application, domain.Submit(), actor, now, ctx.calendar))
    app = steps[-1].application
    entries = [_entry(step) for step in steps]
    if filings is not None:
        return await filings.submit((app, entries))
    await store.insert(conn, app, entries)
    return app


async def numbered(conn: Connection, created: Created) -> Created:
    """Once the creating transaction has committed: the application with the reference the
    commit gave it (a replay's snapshot too, which was stored before that commit)."""
    return Created(await store.numbered(conn, created.application), replayed=created.replayed)


async def get(reads: store.Reads, principal: Principal, id: UUID) -> Application:
    app = await reads.submit((id, principal.visibility))
    if app is None:
        raise NotFound(f"no application {id}")
    return app


async def by_reference(conn: Connection, principal: Principal, reference: str) -> Application:
    app = await store.get_by_reference(conn, reference, principal.visibility)
    if app is None:
        raise NotFound(f"no application {reference}")
    return app


async def act(
    conn: Connection,
    ctx: Context,
    principal: Principal,
    id: UUID,
    command: CommandOrJson[ActionCommand],
    *,
    if_match: frozenset[int] | None = None,
) -> Acted:
    """Take the action the command names; `if_match` (versions) makes it conditional."""
    app = await _locked(conn, principal, id)
    principal.require_writer()
    action = action_of(command, Action)
    actor = principal.acting_as(domain.ACTION_ROLES.get(action, frozenset()), action)
    principal.reach(actor, app.org, f"application {id}")
    taken = content(command)
    require_version(app.version, if_match)
    now = ctx.clock.now()
    transition = domain.apply(app, taken, actor, now, ctx.calendar)
    if transition.application.status in APPROVALS:
        valid_months = taken.valid_months if isinstance(taken, domain.Approve) else None
        licence_id = await licences.issue_for(
            conn, ctx, transition.application, actor, valid_months=valid_months
        )
        approved = msgspec.structs.replace(transition.application, licence_id=licence_id)
        transition = transition._replace(application=approved)
    warnings = domain.warnings_for(app, taken, ctx.calendar.date_of(now))
    return Acted(await _save(conn, app, transition), warnings)


async def edit(
    conn: Connection,
    ctx: Context,
    principal: Principal,
    id: UUID,
    patch: CommandOrJson[FilingPatch],
    *,
    if_match: frozenset[int] | None = None,
) -> Application:
    """Apply a JSON merge patch to a draft's filing (`lines` are replaced whole)."""
    app = await _locked(conn, principal, id)
    actor = principal.acting_as(domain.ACTION_ROLES[Action.EDIT], "edit drafts")
    principal.reach(actor, app.org, f"application {id}")
    fields = content(patch)
    if "submit" in fields:
        raise InvalidFiling(
            [FieldProblem(field="submit", message="submit with the `submit` action, not a PATCH")]
        )
    merged = merge_patch(msgspec.to_builtins(app.filing), fields)
    filing = await _valid_filing(conn, ctx, principal, convert(merged, Filing))
    require_version(app.version, if_match)
    transition = domain.apply(app, Edit(filing=filing), actor, ctx.clock.now(), ctx.calendar)
    if filing == app.filing:  # nothing to change: no version for others' ETags to miss
        return app
    return await _save(conn, app, transition)


async def delete(
    conn: Connection,
    ctx: Context,
    principal: Principal,
    id: UUID,
    *,
    if_match: frozenset[int] | None = None,
) -> None:
    """Delete a draft: it never counted as filed, so it is gone; its timeline, ended by the
    `delete` event, stays in the audit."""
    app = await _locked(conn, principal, id)
    actor = principal.acting_as(domain.ACTION_ROLES[Action.DELETE], "delete drafts")
    principal.reach(actor, app.org, f"application {id}")
    require_version(app.version, if_match)
    event = domain.delete(app, actor, ctx.clock.now())
    entry = _entry(domain.Transition(app, event))
    if not await store.delete(conn, app, [entry], expected_version=app.version):
        raise StaleVersion("the application changed meanwhile")


async def page(
    conn: Connection,
    ctx: Context,
    principal: Principal,
    query: store.ListQuery,
    after: tuple[Any, UUID] | None,
) -> list[Application]:
    return await store.page(conn, principal.visibility, query, now=ctx.clock.now(), after=after)


async def _locked(conn: Connection, principal: Principal, id: UUID) -> Application:
    app = await store.get(conn, id, principal.visibility, for_update=True)
    if app is None:
        raise NotFound(f"no application {id}")
    return app


async def _save(
    conn: Connection, before: Application, transition: domain.Transition
) -> Application:
    if not await store.update(
        conn, transition.application, [_entry(transition)], expected_version=before.version
    ):
        raise StaleVersion("the application changed meanwhile")
    return transition.application


def _entry(transition: domain.Transition) -> events.Entry:
    app, event = transition
    return events.Entry(
        stream=STREAM,
        stream_id=app.id,
        org=app.org,
        event=event,
        outbox={"application_id": str(app.id), "status": app.status.value, "version": app.version},
    )


async def _valid_filing(
    conn: Connection, ctx: Context, principal: Principal, filing: Filing
) -> Filing:
    today = ctx.calendar.date_of(ctx.clock.now())
    if found := filings.problems(filing, regime_country=ctx.regime_country, today=today):
        raise InvalidFiling(found)
    if filing.renews_licence_id is not None:
        await licences.check_renewable(conn, principal, filing.renews_licence_id)
    return filings.normalized(filing)


async def pass_deadlines(conn: Connection, ctx: Context, *, limit: int = SWEEP_BATCH) -> int:
    """Move applications under review past their `due_at` to `delayed` (role system)."""
    now = ctx.clock.now()
    due = await store.lock_overdue(conn, now, limit=limit)
    for app in due:
        transition = domain.apply(app, domain.DeadlinePassed(), SYSTEM_ACTOR, now, ctx.calendar)
        await _save(conn, app, transition)
    return len(due)


async def lapse_requests(conn: Connection, ctx: Context, *, limit: int = SWEEP_BATCH) -> int:
    """Reject applications whose request for information went unanswered for 20 working days."""
    now = ctx.clock.now()
    lapsed = 0
    for app in await store.lock_waiting(conn, ctx.calendar.date_of(now), limit=limit):
        assert app.paused_since is not None
        if not deadlines.has_passed(deadlines.response_due_at(app.paused_since, ctx.calendar), now):
            break  # ordered by request date: the rest are not due either
        await _save(conn, app, domain.apply(app, domain.Lapse(), SYSTEM_ACTOR, now, ctx.calendar))
        lapsed += 1
    return lapsed
