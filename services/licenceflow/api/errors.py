"""Every error becomes RFC 9457 problem+json here, and nowhere else.

Domain errors map by class; Litestar's own refusals (unknown route, wrong method, body over
the size limit, unparseable query parameters) keep their status; anything unexpected is a 500
that hides its cause from the client and logs it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import (
    ExceptionHandlersMap,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Send,
)
from redis.exceptions import RedisError

from licenceflow.domain import errors

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "/problems/"

STATUS: dict[type[errors.DomainError], int] = {
    errors.NotAuthenticated: 401,
    errors.MalformedRequest: 400,
    errors.UnknownQueryParameter: 400,
    errors.InvalidFields: 422,
    errors.IdempotencyKeyReused: 422,
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.Conflict: 409,
    errors.StaleVersion: 412,
}


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    errors: list[errors.FieldProblem] | None = None
    current_status: str | None = None
    action: str | None = None


def _kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response[Problem]:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="licenceflow"'
    if status in (429, 503):
        headers["Retry-After"] = "5"
    return Response(
        Problem(type=TYPE_BASE + slug, title=title, status=status, detail=detail, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


async def send_problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    retry_after: int | None = None,
    close: bool = False,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """A problem+json answer written straight to ASGI, for refusals made before routing
    (`close`: the connection is not kept, its unread body is not worth waiting for)."""
    body = msgspec.json.encode(
        Problem(type=TYPE_BASE + slug, title=title, status=status, detail=detail)
    )
    written = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", b"%d" % len(body)),
        *headers,
    ]
    if retry_after is not None:
        written.append((b"retry-after", b"%d" % retry_after))
    if close:
        written.append((b"connection", b"close"))
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": written,
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


def domain_error(_: Request[Any, Any, Any], exc: errors.DomainError) -> Response[Problem]:
    status = next(code for cls, code in STATUS.items() if isinstance(exc, cls))
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.InvalidFields):
        extra["errors"] = exc.problems
    if isinstance(exc, errors.InvalidTransition):
        extra |= {"current_status": exc.current_status, "action": exc.action}
    slug = "invalid-query" if isinstance(exc, errors.InvalidQuery) else _kebab(type(exc).__name__)
    return problem(status, exc.title, exc.detail, slug=slug, **extra)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    if isinstance(exc, ValidationException):
        found = [
            e for e in (exc.extra if isinstance(exc.extra, list) else []) if isinstance(e, dict)
        ]
        fields = [
            errors.FieldProblem(
                field=str(e.get("key", "query")), message=str(e.get("message", "invalid"))
            )
            for e in found
        ]
        in_query = bool(found) and all(e.get("source") == "query" for e in found)
        return problem(
            422,
            "Invalid query" if in_query else "Invalid request",
            "a parameter is invalid",
            slug="invalid-query" if in_query else "invalid-filing",
            errors=fields or None,
        )
    title = exc.__class__.__name__.replace("Exception", "") or "Error"
    # the router's own headers are kept: a 405 names the methods there are (`Allow`, RFC 9110)
    return problem(exc.status_code, title, str(exc.detail), slug=_kebab(title), headers=exc.headers)


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal error",
        "the service failed; the request was not applied",
        slug="internal-error",
    )


def _unavailable(slug: str, detail: str, logged: str) -> Callable[..., Response[Problem]]:
    """A handler that answers 503 with Retry-After: nothing was applied, a retry may succeed."""

    def handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
        log.warning("%s on %s %s: %r", logged, request.method, request.url.path, exc)
        return problem(503, "Service unavailable", detail, slug=slug)

    return handler


dependency_down = _unavailable(
    "dependency-unavailable", "a dependency is unavailable; retry later", "dependency unavailable"
)
busy = _unavailable(
    "busy",
    "another request holds what this one needs; nothing was changed: retry later",
    "lock wait given up",
)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    asyncpg.LockNotAvailableError: busy,
    errors.DomainError: domain_error,
    asyncpg.PostgresConnectionError: dependency_down,
    asyncpg.CannotConnectNowError: dependency_down,
    asyncpg.TooManyConnectionsError: dependency_down,
    asyncpg.InterfaceError: dependency_down,
    ConnectionError: dependency_down,
    RedisError: dependency_down,
    TimeoutError: dependency_down,
    HTTPException: http_error,
    Exception: unexpected_error,
}
