"""What handlers receive: the caller, a connection (or one in a transaction), the JSON body."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any
from uuid import UUID

from litestar import Request
from litestar.datastructures import State

from licenceflow.api.auth import Authenticator
from licenceflow.api.cursors import Cursors
from licenceflow.domain.access import Principal
from licenceflow.domain.errors import NotFound
from licenceflow.store.pool import Connection, Pool
from licenceflow.workflow.context import Context


def provide_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    authenticator: Authenticator = state.authenticator
    return authenticator.principal(request.headers.get("authorization"))


def provide_cursors(state: State) -> Cursors:
    cursors: Cursors = state.cursors
    return cursors


def provide_context(state: State) -> Context:
    context: Context = state.context
    return context


async def provide_conn(state: State) -> AsyncGenerator[Connection, None]:
    pool: Pool = state.pool
    async with pool.acquire() as conn:
        yield conn


async def provide_tx(state: State) -> AsyncGenerator[Connection, None]:
    """A connection in a transaction that commits when the handler returns (before the response
    is sent) and rolls back when it raises."""
    pool: Pool = state.pool
    async with pool.acquire() as conn:
        async with conn.transaction():
            yield conn
        if state.relay is not None:
            state.relay.kick()


def resource_id(raw: str, kind: str) -> UUID:
    """A path id; one that is not a UUID names nothing, so it is a 404 like any unknown id."""
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound(f"no {kind} {raw}") from None


def if_match(header: str | None) -> frozenset[int] | None:
    """The versions an `If-Match` header accepts; None when absent or `*` (any version)."""
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in header.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        if tag.isdigit():
            versions.add(int(tag))
    return frozenset(versions)


def etag(version: int) -> str:
    return f'"{version}"'
