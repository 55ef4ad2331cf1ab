"""OpenAPI documentation of the request bodies that the workflow decodes itself.

Handlers read raw JSON so that checks run in the contract's order (401 → 404 → 403 → 422);
Litestar therefore cannot see the body types. Their schemas are generated here from the same
msgspec types the workflow decodes into, so the documentation cannot drift from the code."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody
from litestar.params import FromPath

from licenceflow.domain.applications import ActionCommand
from licenceflow.domain.errors import NotFound
from licenceflow.domain.filing import Filing
from licenceflow.domain.licences import LicenceCommand, ShipmentRequest

REF = "#/components/schemas/{name}"


class NewApplication(Filing, frozen=True, kw_only=True):
    """An application as filed; `submit: true` files it at once (status `submitted`)."""

    submit: bool = False


def _components() -> dict[str, Any]:
    (_, action, _, _, licence_action), components = msgspec.json.schema_components(
        [NewApplication, ActionCommand, Filing, ShipmentRequest, LicenceCommand], ref_template=REF
    )
    patch = {
        **components["Filing"],
        "title": "FilingPatch",
        "description": "JSON merge patch (RFC 7396) of a draft's filing; `lines` replace whole.",
    }
    patch.pop("required", None)
    components["FilingPatch"] = patch
    components["ApplicationAction"] = {"title": "ApplicationAction", **action}
    components["LicenceAction"] = {"title": "LicenceAction", **licence_action}
    return components


SCHEMAS = _components()


def with_request_bodies(spec: dict[str, Any]) -> dict[str, Any]:
    """The generated spec, with the request-body schemas added beside Litestar's own."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in SCHEMAS.items():
        schemas.setdefault(name, schema)
    return spec


class _RequestBodies:
    @staticmethod
    def render_json(request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return OpenAPIRenderPlugin.render_json(request, with_request_bodies(openapi_schema))


class JsonSpec(_RequestBodies, JsonRenderPlugin):
    """`/schema/openapi.json`, request bodies included."""


class SwaggerUI(_RequestBodies, SwaggerRenderPlugin):
    """`/schema/swagger`, request bodies included, its scripts and styles served by this service
    (`ui_asset`): no CDN, so the page works in an air-gapped install."""

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
