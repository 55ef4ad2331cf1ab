"""OPTIONS answered with every method of the path (RFC 9110 `Allow`).

Litestar 2 answers OPTIONS for a path with the methods of the handlers registered there before
the last one (litestar#4169, fixed in Litestar 3): `OPTIONS /v1/applications/{id}` said
`OPTIONS, PATCH`, no GET. The routing table itself holds the right set; this corrects the
header from it."""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send


class AllowedMethods(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        self._allow: dict[str, bytes] | None = None  # path template → Allow, once routed

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope.get("method") != "OPTIONS":
            await next_app(scope, receive, send)
            return
        allow = self._table(scope["app"]).get(scope.get("path_template", ""))

        async def corrected(message: Message) -> None:
            if message["type"] == "http.response.start" and allow is not None:
                headers = [(k, v) for k, v in message["headers"] if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", allow)]}
            await send(message)

        await next_app(scope, receive, corrected)

    def _table(self, app: Any) -> dict[str, bytes]:
        if self._allow is None:
            self._allow = {
                route.path_format: ", ".join(sorted(route.methods)).encode()
                for route in app.routes
                if isinstance(route, HTTPRoute)
            }
        return self._allow
