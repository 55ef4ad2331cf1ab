"""An OpenAPI a client can be generated from: `openapi-python-client` generates a client from the
served `/schema/openapi.json` without a warning, and the README's walk-through runs on it — typed
requests in, typed resources and problems out, against `licenceflow serve`."""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Tokens, application_body

PACKAGE = "licenceflow_client"


@pytest.fixture
def generate(tmp_path: Path) -> Iterator[Any]:
    """Generates the client from a schema and imports it; forgotten after the test."""

    def generated(schema: bytes) -> ModuleType:
        (tmp_path / "openapi.json").write_bytes(schema)
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "openapi_python_client",
                "generate",
                "--path",
                str(tmp_path / "openapi.json"),
                "--output-path",
                str(tmp_path / PACKAGE),
                "--meta",
                "none",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            # its post-generation step runs `ruff`, the one beside this Python
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        )
        said = run.stdout + run.stderr
        assert run.returncode == 0, said
        assert "Warning" not in said, said
        assert "Unable to" not in said, said
        sys.path.insert(0, str(tmp_path))
        return importlib.import_module(PACKAGE)

    yield generated
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def token(auth: Tokens, role: str) -> str:
    return auth(role)["Authorization"].removeprefix("Bearer ")


async def test_the_walk_through_runs_on_a_client_generated_from_the_schema(
    served: httpx.AsyncClient, auth: Tokens, generate: Any
) -> None:
    schema = await served.get("/schema/openapi.json")
    client = generate(schema.content)
    api = importlib.import_module(f"{PACKAGE}.api.applications")
    licences_api = importlib.import_module(f"{PACKAGE}.api.licences")
    models = importlib.import_module(f"{PACKAGE}.models")
    base = str(served.base_url)

    def as_(role: str) -> Any:
        return client.AuthenticatedClient(base_url=base, token=token(auth, role))

    clients = contextlib.AsyncExitStack()  # each holds an httpx client: closed at the end
    exporter = await clients.enter_async_context(as_("exporter"))
    officer = await clients.enter_async_context(as_("officer"))
    async with clients:
        await walk_through(exporter, officer, api, licences_api, models)


async def walk_through(
    exporter: Any, officer: Any, api: Any, licences_api: Any, models: Any
) -> None:
    """The README's walk-through, step by step, on the generated client."""
    create = importlib.import_module(f"{api.__name__}.v1_applications_create")
    act = importlib.import_module(f"{api.__name__}.v1_applications_application_id_actions_act")
    read = importlib.import_module(f"{api.__name__}.v1_applications_application_id_read")
    timeline = importlib.import_module(
        f"{api.__name__}.v1_applications_application_id_events_events"
    )
    ship = importlib.import_module(f"{licences_api.__name__}.v1_licences_licence_id_shipments_ship")
    licence_events = importlib.import_module(
        f"{licences_api.__name__}.v1_licences_licence_id_events_events"
    )
    listed = importlib.import_module(f"{licences_api.__name__}.v1_licences_index")

    # The exporter files and submits (an Idempotency-Key makes a retry safe).
    body = models.NewApplication.from_dict(application_body(submit=True))
    filed = await create.asyncio_detailed(client=exporter, body=body, idempotency_key="PO-88123-1")
    assert filed.status_code == 201, filed.content
    assert isinstance(filed.parsed, models.ApplicationResource)
    id = str(filed.parsed.id)
    again = await create.asyncio_detailed(client=exporter, body=body, idempotency_key="PO-88123-1")
    assert again.headers["Idempotency-Replayed"] == "true"
    assert str(again.parsed.id) == id

    async def take(who: Any, action: dict[str, Any]) -> Any:
        kind = {
            "accept": models.Accept,
            "request_info": models.RequestInfo,
            "respond": models.Respond,
            "approve": models.Approve,
        }[action["action"]]
        done = await act.asyncio_detailed(id, client=who, body=kind.from_dict(action))
        assert done.status_code == 200, done.content
        return done.parsed

    accepted = await take(officer, {"action": "accept"})
    assert accepted.due_at is not None
    await take(officer, {"action": "request_info", "reason": "End-user certificate, please"})
    await take(exporter, {"action": "respond", "response": "Certificate attached"})
    approved = await take(officer, {"action": "approve", "reason": "In order"})
    assert approved.status == "approved"

    events = await timeline.asyncio(id, client=exporter)
    assert [e.action for e in events.items] == [
        "create",
        "submit",
        "accept",
        "request_info",
        "respond",
        "approve",
    ]
    licence_id = str((await read.asyncio(id, client=exporter)).licence_id)

    # A shipment against the licence it granted; a standard licence is then exhausted.
    shipment = models.ShipmentRequest.from_dict(
        {
            "shipment_ref": "BL-001",
            "shipped_on": "2025-06-02",
            "lines": [{"line": 1, "quantity_kg": "1250.5"}],
        }
    )
    shipped = await ship.asyncio_detailed(licence_id, client=exporter, body=shipment)
    assert shipped.status_code == 201, shipped.content
    assert shipped.parsed.status == "exhausted"
    assert shipped.parsed.lines[0].shippable_kg == "0.000"
    licence_timeline = await licence_events.asyncio(licence_id, client=exporter)
    assert [e.action for e in licence_timeline.items] == ["issue", "ship"]
    expiring = await listed.asyncio(client=exporter, expiring_within_days=30)
    assert expiring.items == []  # exhausted, and its year has hardly begun

    # A refusal comes back as a typed problem.
    withdraw = models.Withdraw.from_dict({"action": "withdraw"})
    refused = await act.asyncio_detailed(id, client=exporter, body=withdraw)
    assert refused.status_code == 409
    assert isinstance(refused.parsed, models.Problem)
    assert refused.parsed.type_.endswith("/invalid-transition")


async def test_the_service_s_own_actions_are_not_offered_to_clients(
    served: httpx.AsyncClient,
) -> None:
    schemas = (await served.get("/schema/openapi.json")).json()["components"]["schemas"]
    offered = {
        name: set(schemas[name]["discriminator"]["mapping"])
        for name in ("ApplicationAction", "LicenceAction")
    }
    assert offered["ApplicationAction"] == {
        "submit",
        "withdraw",
        "respond",
        "accept",
        "request_info",
        "delay",
        "approve",
        "approve_temporary",
        "reject",
    }
    assert offered["LicenceAction"] == {"suspend", "reinstate", "revoke", "surrender"}
    for own in ("DeadlinePassed", "Lapse", "Expire"):
        assert own not in schemas


async def test_every_operation_says_what_it_does_and_the_headers_it_reads_and_writes(
    served: httpx.AsyncClient,
) -> None:
    spec = (await served.get("/schema/openapi.json")).json()
    operations = {
        op["operationId"]: op
        for methods in spec["paths"].values()
        for op in methods.values()
        if isinstance(op, dict) and "operationId" in op
    }
    for name, op in operations.items():
        assert op.get("summary"), name
        assert op.get("description"), name
        for status in ("429", "503"):
            if status in op["responses"]:
                assert "Retry-After" in op["responses"][status]["headers"], (name, status)

    def answers(name: str, status: str) -> set[str]:
        return set(operations[name]["responses"][status].get("headers", {}))

    def takes(name: str) -> set[str]:
        return {p["name"] for p in operations[name].get("parameters", []) if p["in"] == "header"}

    assert answers("V1ApplicationsCreate", "201") == {"ETag", "Location", "Idempotency-Replayed"}
    assert "Idempotency-Key" in takes("V1ApplicationsCreate")
    for read in ("V1ApplicationsApplicationIdRead", "V1LicencesLicenceIdRead"):
        assert answers(read, "200") == {"ETag"}
        assert "304" not in operations[read]["responses"]  # what the clock derives may change
    assert "If-None-Match" in takes("V1MetricsBacklogBacklogMetrics")
    assert answers("V1MetricsBacklogBacklogMetrics", "200") == {"ETag"}
    for write in ("V1ApplicationsApplicationIdActionsAct", "V1LicencesLicenceIdShipmentsShip"):
        assert "If-Match" in takes(write)
    ship = operations["V1LicencesLicenceIdShipmentsShip"]["responses"]
    assert {"200", "201"} <= set(ship)  # a replay or a dry run answers 200
    example = operations["V1ApplicationsCreate"]["requestBody"]["content"]["application/json"]
    assert example["example"]["contract_ref"] == "PO-88123"  # API.md's
