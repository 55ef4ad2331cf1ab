"""What Litestar's generated OpenAPI cannot know, added to it: the request bodies the workflow
decodes itself, the problem+json answers every operation may give, the links from an answer to
the operations that take its ids, and the rules the types leave to the domain's checks.

A client generated from the schema, or a fuzzer following its links (tests/integration/
test_fuzz.py), then sends what the service accepts and expects what it answers. Every rule is
built from the domain's own constants, so the document cannot drift from the checks.

Over 300 lines because it is one document's completion: the bodies, the answers, the links and the
rules each take a table or a function here, and are applied in one pass (`completed`)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar

import msgspec

from licenceflow.api import openapi_headers
from licenceflow.api.errors import PROBLEM_JSON, Problem
from licenceflow.domain import applications, licences
from licenceflow.domain.applications import ActionCommand
from licenceflow.domain.audit import Role
from licenceflow.domain.filing import (
    COUNTRIES,
    CURRENCY_PLACES,
    FORMS_WITH_CONSTITUENTS,
    MAX_LINES,
    SHIP_DATE_RANGE,
    Filing,
    Form,
    NewApplication,
    amount_pattern,
)
from licenceflow.domain.licences import LicenceCommand, ShipmentRequest

REF = "#/components/schemas/{name}"
A = TypeVar("A", bound=StrEnum)
DAY_OF_ANY_MONTH = "(0[1-9]|1[0-9]|2[0-8])"


def _components() -> dict[str, Any]:
    (_, action, _, _, licence_action, _), components = msgspec.json.schema_components(
        [NewApplication, ActionCommand, Filing, ShipmentRequest, LicenceCommand, Problem],
        ref_template=REF,
    )
    patch = {
        **components["Filing"],
        "title": "FilingPatch",
        "description": "JSON merge patch (RFC 7396) of a draft's filing; `lines` replace whole.",
    }
    patch.pop("required", None)
    components["FilingPatch"] = patch
    components["ApplicationAction"] = {
        "title": "ApplicationAction",
        **_offered(action, applications.ACTION_ROLES, components),
    }
    components["LicenceAction"] = {
        "title": "LicenceAction",
        **_offered(licence_action, licences.ACTION_ROLES, components),
    }
    components["Line"] = _line(components["Line"])
    # each licence line at most once in a shipment (JSON Schema has no "unique by key")
    components["ShipmentRequest"]["properties"]["lines"]["allOf"] = [
        {
            "contains": {"properties": {"line": {"const": number}}, "required": ["line"]},
            "minContains": 0,
            "maxContains": 1,
        }
        for number in range(1, MAX_LINES + 1)
    ]
    return components


def _offered(
    union: dict[str, Any], roles: Mapping[A, frozenset[Role]], components: dict[str, Any]
) -> dict[str, Any]:
    """The actions of a tagged `union` a client may send: not the service's own (role system:
    `deadline_passed`, `lapse`, `expire`), whose schemas leave the document too."""
    own = {action for action, taking in roles.items() if taking == {Role.SYSTEM}}
    mapping = union["discriminator"]["mapping"]
    for action in own:
        components.pop(mapping[action].rsplit("/", 1)[1], None)
    kept = {action: ref for action, ref in mapping.items() if action not in own}
    return {
        **union,
        "anyOf": [{"$ref": ref} for ref in kept.values()],
        "discriminator": {**union["discriminator"], "mapping": kept},
    }


def _line(line: dict[str, Any]) -> dict[str, Any]:
    """A line's rules across its fields, as alternatives (which a generator can follow, where
    `if`/`then` would have it guess and discard): constituents only on a magnet or an alloy;
    a value with no more places than its currency's minor unit."""
    by_places: dict[int, list[str]] = {}
    for code, places in CURRENCY_PLACES.items():
        by_places.setdefault(places, []).append(code)
    fields = line["properties"]
    kinds = [
        (sorted(FORMS_WITH_CONSTITUENTS), fields["contains"]),
        (
            sorted(set(Form) - FORMS_WITH_CONSTITUENTS),
            {"type": "array", "maxItems": 0, "items": {}},
        ),
    ]
    variants = [
        {
            **line,
            # a name of its own, so that a client generator makes one model per variant
            "title": f"Line{'OfMagnetOrAlloy' if 'magnet' in forms else ''}In{places}Places",
            "properties": {
                **fields,
                "form": {"type": "string", "enum": forms},
                "contains": contains,
                "currency": {**fields["currency"], "enum": sorted(codes)},
                "value": {**fields["value"], "pattern": amount_pattern(places)},
            },
        }
        for forms, contains in kinds
        for places, codes in sorted(by_places.items())
    ]
    return {"title": "Line", "anyOf": variants}


SCHEMAS = _components()

# Answers any operation under /v1 may give, and those of operations that take an id, a body
# or a version: the contract's (API.md) and the service's own refusals (README, "Beyond API.md").
PROBLEMS = {
    400: "Malformed: not JSON, nested too deep, or a cursor this service did not give out",
    401: "No valid bearer token",
    403: "The caller's roles or organisation may not do this",
    429: "Over the caller's rate limit (Retry-After, RateLimit headers)",
    503: "A dependency is down or the server is at capacity (Retry-After)",
}
ON_ID = {404: "No such resource visible to the caller"}
NAMED_BY_QUERY = {"V1MetricsBacklogBacklogMetrics"}  # `?org=`: another's is not found
ON_BODY = {
    408: "The body did not arrive in time",
    413: "The body is over 1 MiB",
    422: "Invalid fields: each is named in `errors`",
}
ON_QUERY = {422: "Invalid query parameters: each is named in `errors`"}
ON_WRITE = {
    409: "Not allowed in the current status (or a licence's remaining quantity is short)",
    412: "If-Match names a version that is no longer current",
}
ON_READ = {304: "Unchanged since the ETag given in If-None-Match"}

WRITES = {"V1ApplicationsApplicationIdActionsAct", "V1ApplicationsApplicationIdEdit"}
WRITES |= {"V1ApplicationsApplicationIdDeleteDraft"}
WRITES |= {"V1LicencesLicenceIdActionsAct", "V1LicencesLicenceIdShipmentsShip"}
# a resource's ETag is its stored version, and what the clock derives (`overdue`) changes
# without it: only the backlog, whose ETag changes with every counted event, answers 304
CONDITIONAL_READS = {"V1MetricsBacklogBacklogMetrics"}

APP_ID = {"application_id": "$response.body#/id"}
LICENCE_ID = {"licence_id": "$response.body#/licence_id"}
LICENCE_SELF = {"licence_id": "$response.body#/id"}
CURRENT = {"header.If-Match": "$response.header.ETag"}  # the version just answered


@dataclass(frozen=True)
class Link:
    """From an answer (operation, status) to an operation that takes its ids: OpenAPI links,
    which a generated client or a fuzzer follows. A link with a body is a workflow's next step
    (file, then submit, accept, approve, ship against the licence)."""

    source: tuple[str, str]
    target: str
    parameters: dict[str, str]
    body: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.target + (
            f".{self.body['action']}" if self.body and "action" in self.body else ""
        )

    def spec(self) -> dict[str, Any]:
        link: dict[str, Any] = {"operationId": self.target, "parameters": self.parameters}
        if self.body is not None:
            # the body as given, not merged into one generated from the schema
            link |= {"requestBody": self.body, "x-schemathesis": {"merge_body": False}}
        return link


def _application_links(source: tuple[str, str]) -> list[Link]:
    return [
        Link(source, "V1ApplicationsApplicationIdRead", APP_ID),
        Link(source, "V1ApplicationsApplicationIdEventsEvents", APP_ID),
        Link(source, "V1ApplicationsApplicationIdEdit", APP_ID | CURRENT),
        Link(source, "V1ApplicationsApplicationIdDeleteDraft", APP_ID | CURRENT),
        Link(source, "V1ApplicationsApplicationIdActionsAct", APP_ID | CURRENT),
        *(
            Link(source, "V1ApplicationsApplicationIdActionsAct", APP_ID | CURRENT, {"action": a})
            for a in ("submit", "accept", "approve", "approve_temporary")
        ),
    ]


def _licence_links(source: tuple[str, str], licence_id: dict[str, str]) -> list[Link]:
    return [
        Link(source, "V1LicencesLicenceIdRead", licence_id),
        Link(source, "V1LicencesLicenceIdEventsEvents", licence_id),
        Link(source, "V1LicencesLicenceIdActionsAct", licence_id),
    ]


LINKS = [
    *_application_links(("V1ApplicationsCreate", "201")),
    *_application_links(("V1ApplicationsApplicationIdEdit", "200")),
    *_application_links(("V1ApplicationsApplicationIdActionsAct", "200")),
    *_licence_links(("V1ApplicationsApplicationIdRead", "200"), LICENCE_ID),
    *_licence_links(("V1ApplicationsApplicationIdActionsAct", "200"), LICENCE_ID),
    *_licence_links(("V1LicencesLicenceIdActionsAct", "200"), LICENCE_SELF),
    *_licence_links(("V1LicencesLicenceIdShipmentsShip", "201"), LICENCE_SELF),
    Link(
        ("V1LicencesLicenceIdRead", "200"),
        "V1LicencesLicenceIdShipmentsShip",
        LICENCE_SELF,
        # a kilogram of the licence's first line, on its first valid day
        {
            "shipment_ref": "SHIP-{$response.body#/number}-{$response.body#/version}",
            "shipped_on": "$response.body#/valid_from",
            "lines": [{"line": 1, "quantity_kg": "1"}],
        },
    ),
]


def enum_items(values: type[StrEnum]) -> dict[str, Any]:
    """A repeatable query parameter's values, for `QueryParameter(schema_extra=...)`."""
    return {"items": {"enum": [value.value for value in values]}}


def completed(spec: dict[str, Any], *, regime_country: str, today: date) -> dict[str, Any]:
    """A copy of Litestar's generated `spec` with everything this module adds; the regime's
    country and the business day's date bound who exports, to where, and when."""
    spec = copy.deepcopy(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(copy.deepcopy(SCHEMAS))  # the domain's own types, their rules included
    for name in ("NewApplication", "Filing", "FilingPatch"):
        _regime_rules(schemas[name], regime_country, today)
    shipped_on = schemas["ShipmentRequest"]["properties"]["shipped_on"]
    shipped_on |= {"pattern": _shipped_by(today), "description": "today, or a day before it"}
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            _responses(path, operation)
            conditional = operation.get("operationId") in CONDITIONAL_READS
            openapi_headers.describe(operation, conditional=conditional, today=today)
    cleaned: dict[str, Any] = _tidied(spec)
    return cleaned


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    alternatives = schema.get("oneOf")
    if not isinstance(alternatives, list) or {"type": "null"} not in alternatives:
        return schema
    rest = [a for a in alternatives if a != {"type": "null"}]
    outer = {key: value for key, value in schema.items() if key != "oneOf"}
    return {**outer, **rest[0]} if len(rest) == 1 else {**outer, "oneOf": rest}


def _tidied(node: Any) -> Any:
    """Litestar writes the items of `tuple[X, ...]` as `oneOf: [X, {}]`: every X also matches
    `{}`, so by `oneOf` no X is valid. Such a `oneOf` is X. (And integers' bounds integers.)"""
    if isinstance(node, list):
        return [_tidied(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _tidied(value) for key, value in node.items()}
    if node.get("type") == "integer":  # Litestar writes `le=200` as 200.0: a generator sends
        for bound in ("minimum", "maximum"):  # "200.0", which is no integer
            if isinstance(node.get(bound), float):
                node[bound] = int(node[bound])
    alternatives = node.get("oneOf")
    if isinstance(alternatives, list) and len(alternatives) == 2 and {} in alternatives:
        rest = {key: value for key, value in node.items() if key != "oneOf"}
        return {**rest, **next(a for a in alternatives if a != {})}
    return node


def _regime_rules(filing: dict[str, Any], regime_country: str, today: date) -> None:
    """The exporter is in the regime's country, the goods go elsewhere, and the planned ship
    date is within five years of today: the years named are those wholly inside that span."""
    properties = filing["properties"]
    party = SCHEMAS["Party"]
    properties["exporter"] = {
        **party,
        "title": "Exporter",
        "properties": {**party["properties"], "country": {"const": regime_country}},
    }
    properties["destination_country"] = {
        **properties["destination_country"],
        "enum": [code for code in COUNTRIES if code != regime_country],
    }
    last = (today + SHIP_DATE_RANGE).year - 1
    properties["planned_ship_date"] = {
        **properties["planned_ship_date"],
        "pattern": _dates_pattern(
            years=range(today.year + 1, last + 1),
            months=range(today.month + 1, 13),
            days=range(today.day, 29),
            today=today,
        ),
        "description": f"today or a later date, at the latest in {last} (a draft may keep a"
        " date that has passed, but is submitted only with one to come)",
    }


def _shipped_by(today: date) -> str:
    """A pattern of the dates a shipment may bear: this day or one of the five years before it."""
    return _dates_pattern(
        years=range(today.year - 5, today.year),
        months=range(1, today.month),
        days=range(1, min(today.day, 28) + 1),
        today=today,
    )


def _dates_pattern(years: range, months: range, days: range, today: date) -> str:
    """A pattern of `YYYY-MM-DD` dates: any day of the `years`, of this year's `months`, and
    this month's `days` (the 29th to the 31st left out: not every month has them)."""
    dates = []
    if years:
        dates.append(rf"({'|'.join(map(str, years))})-(0[1-9]|1[0-2])-{DAY_OF_ANY_MONTH}")
    if months:
        dates.append(rf"{today.year}-({'|'.join(f'{m:02d}' for m in months)})-{DAY_OF_ANY_MONTH}")
    if days:
        dates.append(rf"{today.year}-{today.month:02d}-({'|'.join(f'{d:02d}' for d in days)})")
    if today.day > 28:  # today itself, whatever the month
        dates.append(today.isoformat())
    return f"^({'|'.join(dates)})$"


def _responses(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    operation_id = operation.get("operationId", "")
    for link in LINKS:
        source, answer = link.source
        if source == operation_id and answer in responses:
            responses[answer].setdefault("links", {})[link.name] = link.spec()
    for parameter in operation.get("parameters", []):
        if parameter.get("in") in ("query", "header"):  # absent is None: neither holds a null
            parameter["schema"] = _not_null(parameter["schema"])
    if not path.startswith("/v1/"):
        return
    problems = dict(PROBLEMS)
    if "{" in path or operation_id in NAMED_BY_QUERY:
        problems |= ON_ID
    if any(p.get("in") == "query" for p in operation.get("parameters", [])):
        problems |= ON_QUERY
    if "requestBody" in operation:
        problems |= ON_BODY
    if operation_id in WRITES:
        problems |= ON_WRITE
    for code, description in problems.items():
        responses[str(code)] = {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(name="Problem")}}},
        }
    if operation_id in CONDITIONAL_READS:
        responses.update({str(s): {"description": d} for s, d in ON_READ.items()})
