"""`GET /v1/metrics/backlog`: the procurement dashboards' view, from Redis (no SQL), held in
memory until Redis reports a write (`metrics/backlog_cache.py`).

The ETag is a digest of the body itself: it changes exactly when anything shown changes (an
applied event, a queue's depth, the business date moving an age or a deadline)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.openapi import ResponseSpec
from litestar.params import QueryParameter

from licenceflow.api.dependencies import provide_principal
from licenceflow.api.services import services
from licenceflow.domain.errors import NotFound
from licenceflow.metrics.backlog import Backlog

MAX_AGE = 5


@get(
    "/v1/metrics/backlog",
    tags=["metrics"],
    summary="Backlog metrics (global, or one org)",
    description=(
        "Backlog metrics, served from Redis only (503 if it is down): global, "
        "or one organisation's with `?org=` (officers any, others their own, "
        "else 404). The `ETag` changes with every counted event; "
        "`If-None-Match` answers 304."
    ),
    responses={200: ResponseSpec(Backlog, description="The backlog figures")},
)
async def backlog_metrics(
    request: Request[Any, Any, Any],
    org: Annotated[
        str | None, QueryParameter(description="an organisation (officers: any; others: own)")
    ] = None,
) -> Response[bytes]:
    # a polled path: authenticated in its body, not by injection (see api/dependencies)
    state = request.app.state
    principal = provide_principal(request, state)
    if org is not None and not principal.is_officer and org != principal.org:
        raise NotFound(f"no metrics for organisation {org}")
    found = services(state)
    if found.backlog is None:
        raise ConnectionError("no Redis configured for the metrics")
    scope = "g" if org is None else f"o:{org}"
    context = found.context
    body, etag = await found.backlog.get(scope, context.clock.now(), context.calendar)
    # never for a shared cache: every figure is for authenticated eyes only
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={MAX_AGE}",
        "Vary": "Authorization",
    }
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(b"", status_code=304, headers=headers)
    return Response(body, headers=headers, media_type="application/json")
