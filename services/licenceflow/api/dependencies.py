"""What handlers receive by injection: the caller, then a connection (or one in a transaction).

Only these two, one after the other: the connection depends on the caller, so a request that
fails authentication never takes one from the pool, and Litestar resolves each alone (two or
more dependencies at one level cost a task group per request, a large share of a cheap
request's time). What is the same for every request (the context, the cursors) handlers read
from the application's `state`. The two paths clients poll, an application by id and the
backlog, call `provide_principal` in their body instead, as the dependency would: Litestar's
resolving it was a measurable share of their CPU (the profiles: tests/perf/README.md)."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from typing import Any
from uuid import UUID

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from licenceflow.api.auth import Authenticator
from licenceflow.api.services import services
from licenceflow.domain.access import Principal
from licenceflow.domain.errors import NotFound
from licenceflow.store.pool import Connection, Pool

VERSION_TAG = re.compile(r"[0-9]{1,18}")  # the versions this service writes in its ETags


def provide_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    authenticator: Authenticator = services(state).authenticator
    return authenticator.principal(request.headers.get("authorization"))


async def provide_conn(
    state: State, principal: NamedDependency[Principal]
) -> AsyncGenerator[Connection, None]:
    pool: Pool = services(state).pool
    async with pool.acquire(timeout=services(state).acquire_timeout) as conn:
        yield conn


async def provide_tx(
    state: State, principal: NamedDependency[Principal]
) -> AsyncGenerator[Connection, None]:
    """A connection in a transaction that commits when the handler returns (before the response
    is sent) and rolls back when it raises; once committed, the outbox relay is woken."""
    pool: Pool = services(state).pool
    async with pool.acquire(timeout=services(state).acquire_timeout) as conn:
        async with conn.transaction():
            yield conn
        wake_relay(state)


def wake_relay(state: State) -> None:
    """After a commit that wrote outbox rows: the relay publishes them soon. `tx` does this for
    the handlers it serves; a creation, which commits on its own, calls it itself."""
    if (relay := services(state).relay) is not None:
        relay.kick()


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
        if VERSION_TAG.fullmatch(tag):  # any other tag is none of ours: it matches nothing
            versions.add(int(tag))
    return frozenset(versions)


def etag(version: int) -> str:
    return f'"{version}"'
