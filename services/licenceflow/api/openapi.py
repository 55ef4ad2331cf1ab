"""The OpenAPI pages: `/schema/openapi.json` and `/schema/swagger`, completed by
`openapi_contract` (handlers read raw JSON so that checks run in the contract's order, 401 →
404 → 403 → 422, and Litestar cannot see the body types), and Swagger UI's own files."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from litestar import Request, Response, get
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody
from litestar.params import FromPath

from licenceflow.api.openapi_contract import REF, completed
from licenceflow.api.services import services
from licenceflow.domain.errors import NotFound
from licenceflow.workflow.context import Context


class _Completed:
    @staticmethod
    def render_json(request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        context: Context = services(request.app.state).context
        spec = completed(
            openapi_schema,
            regime_country=context.regime_country,
            today=context.calendar.date_of(context.clock.now()),
        )
        return OpenAPIRenderPlugin.render_json(request, spec)


class JsonSpec(_Completed, JsonRenderPlugin):
    """`/schema/openapi.json`, completed (`openapi_contract`)."""


class SwaggerUI(_Completed, SwaggerRenderPlugin):
    """`/schema/swagger`, completed (`openapi_contract`), its scripts and styles served by this
    service (`ui_asset`): no CDN, so the page works in an air-gapped install."""

    def __init__(self) -> None:
        super().__init__(
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon="",  # Litestar's default icon is on a CDN too
        )


ASSETS_PATH = "/schema/assets"
_UI = resources.files("licenceflow").joinpath("openapi_ui")
UI_ASSETS: dict[str, tuple[bytes, str]] = {
    name: (_UI.joinpath(name).read_bytes(), media_type)
    for name, media_type in (
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui-standalone-preset.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
    )
}


@get(f"{ASSETS_PATH}/{{name:str}}", include_in_schema=False)
async def ui_asset(name: FromPath[str]) -> Response[bytes]:
    """One of Swagger UI's files, by name (no other name reaches the file system)."""
    if name not in UI_ASSETS:
        raise NotFound(f"no asset {name}")
    content, media_type = UI_ASSETS[name]
    return Response(
        content,
        media_type=f"{media_type}; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


def body(schema: str) -> type[Operation]:
    """An Operation class whose request body is the named component (application/json)."""

    @dataclass
    class WithBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={
                    "application/json": OpenAPIMediaType(
                        schema=Reference(ref=REF.format(name=schema))
                    )
                },
                required=True,
            )

    WithBody.__name__ = f"{schema}Operation"
    return WithBody
