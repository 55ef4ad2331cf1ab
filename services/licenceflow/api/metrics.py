"""`GET /v1/metrics/backlog`: the procurement dashboards' view, served from Redis only."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from licenceflow.domain.access import Principal
from licenceflow.domain.errors import NotFound
from licenceflow.metrics import backlog
from licenceflow.metrics.backlog import Backlog
from licenceflow.workflow.context import Context

MAX_AGE = 5


@get("/v1/metrics/backlog", tags=["metrics"], summary="Backlog metrics (global, or one org)")
async def backlog_metrics(
    request: Request[Any, Any, Any],
    state: State,
    principal: NamedDependency[Principal],
    context: NamedDependency[Context],
    org: Annotated[
        str | None, QueryParameter(description="an organisation (officers: any; others: own)")
    ] = None,
) -> Response[Backlog | None]:
    if org is not None and not principal.is_officer and org != principal.org:
        raise NotFound(f"no metrics for organisation {org}")
    if state.redis is None:
        raise ConnectionError("no Redis configured for the metrics")
    scope = "g" if org is None else f"o:{org}"
    reading = await backlog.read(state.redis, scope, context.clock.now(), context.calendar)
    etag = f'"{reading.version}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"{'public' if org is None else 'private'}, max-age={MAX_AGE}",
    }
    if org is not None:
        headers["Vary"] = "Authorization"
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(None, status_code=304, headers=headers)
    return Response(reading.backlog, headers=headers)
