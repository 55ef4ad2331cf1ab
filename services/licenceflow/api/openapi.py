"""OpenAPI documentation of the request bodies that the workflow decodes itself.

Handlers read raw JSON so that checks run in the contract's order (401 → 404 → 403 → 422);
Litestar therefore cannot see the body types. Their schemas are generated here from the same
msgspec types the workflow decodes into, so the documentation cannot drift from the code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody

from licenceflow.domain.applications import ActionCommand
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
    """`/schema/swagger`, request bodies included."""


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
