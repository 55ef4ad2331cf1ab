"""licenceflow under load: compliance teams, officers and dashboards against one deployment.

Self-contained (locust and the standard library only), so it runs from the repository and in the
official `locustio/locust` image alike:

    locust -f tests/load/locustfile.py --host http://127.0.0.1:8000
    docker run -p 8089:8089 -v "$PWD/tests/load:/mnt/load" \\
        -e LICENCEFLOW_LOAD_TOKENS=/mnt/load/tokens.json \\
        locustio/locust -f /mnt/load/locustfile.py --host http://licenceflow:8000

Tokens come from configuration, minted with the service's secret
(`licenceflow token --sub S --org O --role exporter`):

- `LICENCEFLOW_LOAD_TOKENS`: path of a JSON file
  `{"exporter": ["tok-org1", "tok-org2", ...], "officer": "tok", "viewer": "tok"}`; or
- `LICENCEFLOW_LOAD_EXPORTER_TOKENS` (comma-separated, one organisation each),
  `LICENCEFLOW_LOAD_OFFICER_TOKEN` and `LICENCEFLOW_LOAD_VIEWER_TOKEN`.

Against `LICENCEFLOW_AUTHORITY=human` the `Officer` users are the authority (tests/load/test_load.py
runs it so); against the simulated desks they race the desks as well, and every answer such a
race can give (409 invalid-transition, 412) is an expected one.

Every request names the statuses it expects (`expect`); anything else is a failure with the
status and the start of the body, but for the service's refusals for load (503 `overloaded` or
`busy`: nothing done, ask again later), counted under names of their own.
Request names start with the user class (`[compliance]`, `[officer]`, `[dashboard]`), so the
statistics show what each kind of user did.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import time
import uuid
from collections.abc import Collection
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote

from locust import FastHttpUser, between, task
from locust.contrib.fasthttp import ResponseContextManager

# --- configuration ---------------------------------------------------------------------------


class Tokens:
    """Bearer tokens by role: one exporter token per organisation, one officer, one viewer."""

    def __init__(self, exporter: list[str], officer: str, viewer: str) -> None:
        self.exporter = exporter
        self.officer = officer
        self.viewer = viewer


USAGE = (
    "The load test needs bearer tokens: set LICENCEFLOW_LOAD_TOKENS to a JSON file "
    '{"exporter": ["tok-org1", ...], "officer": "tok", "viewer": "tok"}, or set '
    "LICENCEFLOW_LOAD_EXPORTER_TOKENS (comma-separated), LICENCEFLOW_LOAD_OFFICER_TOKEN and "
    "LICENCEFLOW_LOAD_VIEWER_TOKEN. Mint them with "
    "`licenceflow token --sub S --org O --role exporter|officer|viewer`."
)


def load_tokens(env: dict[str, str]) -> Tokens:
    """The tokens from `env`; SystemExit with what to set when they are missing or malformed."""
    path = env.get("LICENCEFLOW_LOAD_TOKENS")
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                raw = json.load(file)
        except (OSError, ValueError) as error:
            raise SystemExit(
                f"licenceflow load test: cannot read {path}: {error}\n{USAGE}"
            ) from None
        if not isinstance(raw, dict):
            raise SystemExit(f"licenceflow load test: {path} holds no JSON object.\n{USAGE}")
        exporter, officer, viewer = raw.get("exporter"), raw.get("officer"), raw.get("viewer")
        if isinstance(exporter, str):
            exporter = [exporter]
        source = path
    else:
        listed = env.get("LICENCEFLOW_LOAD_EXPORTER_TOKENS", "").split(",")
        exporter = [t.strip() for t in listed if t.strip()]
        officer = env.get("LICENCEFLOW_LOAD_OFFICER_TOKEN")
        viewer = env.get("LICENCEFLOW_LOAD_VIEWER_TOKEN")
        source = "the environment"
    missing = [
        role
        for role, value in (("exporter", exporter), ("officer", officer), ("viewer", viewer))
        if not value
    ]
    if missing:
        raise SystemExit(
            f"licenceflow load test: no {', '.join(missing)} token in {source}.\n{USAGE}"
        )
    if not (
        isinstance(exporter, list)
        and all(isinstance(t, str) and t for t in exporter)
        and isinstance(officer, str)
        and isinstance(viewer, str)
    ):
        raise SystemExit(f"licenceflow load test: malformed tokens in {source}.\n{USAGE}")
    return Tokens(exporter, officer, viewer)


TOKENS = load_tokens(dict(os.environ))  # at start: a run without tokens fails before any user


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified (the service checks them; this only reads the `org`)."""
    try:
        payload = token.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


# --- expectations ----------------------------------------------------------------------------


class Answer(Protocol):
    """What `expect` uses of a response made with `catch_response=True` (a locust
    `ResponseContextManager`, whose `success` and `failure` carry no annotations)."""

    request_meta: dict[str, Any]

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str | None: ...

    def json(self) -> Any: ...

    def success(self) -> None: ...

    def failure(self, exc: object) -> None: ...


JOURNAL = os.environ.get("LICENCEFLOW_LOAD_JOURNAL")  # optional: every answer, one JSON line


def _journal(response: Answer) -> None:
    """What the fault run (tests/load/faults.py) checks afterwards: each answer's status, and of
    each acknowledged write, what it wrote (an application or licence at a version)."""
    if JOURNAL is None:
        return
    entry: dict[str, Any] = {
        "method": response.request_meta.get("request_type"),
        "status": response.status_code,
    }
    if entry["method"] in ("POST", "PATCH") and 200 <= response.status_code < 300:
        body = _body(response)
        kind = "licence" if "number" in body else "application" if "reference" in body else None
        if kind and "id" in body and "version" in body:
            entry |= {"kind": kind, "id": body["id"], "version": body["version"]}
    with open(JOURNAL, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


# The service's refusals for load: the cap on requests in flight, a row locked too long (a 429
# is not among them: the users' rate limits are set so that none is refused).
REFUSED_FOR_LOAD = {503: {"overloaded", "busy"}}


def expect(response: Answer, *codes: int, conflicts: Collection[str] = ()) -> bool:
    """Mark `response` (made with `catch_response=True`) a success when its status is one of
    `codes` (and a 409's problem type one of `conflicts`, when given), else a failure naming the
    status and the start of the body. True when expected.

    An expected answer other than the first of `codes` (a lost race, a 304) is counted under the
    request's name with its status appended, so the statistics show how often each happened."""
    _journal(response)
    status = response.status_code
    if status in codes:
        if status == 409 and conflicts:
            kind = _problem(response)
            if kind not in conflicts:
                response.failure(f"409 {kind or '(no type)'}, expected one of {sorted(conflicts)}")
                return False
        if status != codes[0]:
            response.request_meta["name"] += f" ({status})"
        response.success()
        return True
    if status in REFUSED_FOR_LOAD and _problem(response) in REFUSED_FOR_LOAD[status]:
        # Nothing was done, and the client may ask again after Retry-After (API.md): the
        # contract's answer to load, counted under a name of its own so a run shows how often
        # the service pushed back (tests/load/test_load.py bounds it).
        response.request_meta["name"] += f" (refused {status})"
        response.success()
        return False
    if status == 0:  # no HTTP answer at all
        response.failure(f"no response: {getattr(response, 'error', None)!r}")
    else:
        excerpt = " ".join((response.text or "").split())[:240]
        response.failure(f"{status}, expected {' or '.join(map(str, codes))}: {excerpt}")
    return False


def _problem(response: Answer) -> str:
    """A problem+json answer's type, its last segment (`overloaded`)."""
    return str(_body(response).get("type", "")).rsplit("/", 1)[-1]


def _body(response: Answer) -> dict[str, Any]:
    try:
        body = response.json()
    except (TypeError, ValueError):  # no body (a 304, a dropped connection), or not JSON
        return {}
    return body if isinstance(body, dict) else {}


def _header(response: ResponseContextManager, name: str) -> str | None:
    value = response.headers.get(name) if response.headers is not None else None
    return value if isinstance(value, str) else None


def _etag(response: ResponseContextManager) -> str | None:
    return _header(response, "ETag")


# --- what a filing looks like ----------------------------------------------------------------

# Element → (form, HS code, USD per kg): the forms they trade in, China's 10-digit lines.
GOODS: dict[str, list[tuple[str, str, int]]] = {
    "Dy": [
        ("oxide", "2846901940", 230),
        ("metal", "2805301910", 300),
        ("magnet", "8505111000", 90),
    ],
    "Tb": [
        ("oxide", "2846901940", 900),
        ("metal", "2805301910", 1100),
        ("magnet", "8505111000", 95),
    ],
    "Sm": [("oxide", "2846901993", 5), ("magnet", "8505111000", 60), ("target", "8486909110", 400)],
    "Gd": [("oxide", "2846901940", 25), ("metal", "2805301910", 60), ("compound", "2846.90", 30)],
    "Y": [("oxide", "2846901940", 8), ("metal", "2805301910", 40), ("compound", "2846.90", 12)],
    "Lu": [("oxide", "2846901940", 800), ("target", "8486909110", 2500)],
    "Sc": [("oxide", "2846901940", 1000), ("alloy", "2805301910", 150)],
}
ELEMENT_WEIGHTS = {"Dy": 4.0, "Tb": 3.0, "Sm": 2.0, "Gd": 1.0, "Y": 1.0, "Lu": 0.5, "Sc": 0.5}
CONSTITUENTS = {"Dy": ["Nd", "Fe", "B"], "Tb": ["Nd", "Fe", "B"], "Sm": ["Co"], "Sc": ["Al"]}
EXPORTERS = [
    "Baotou Magnet Works",
    "Ganzhou Rare Earth Materials",
    "Ningbo Permanent Magnetics",
    "Xiamen Tungsten & Rare Earth",
    "Jiangxi Heavy RE Refining",
]
CONSIGNEES = {
    "DE": ["Magnetwerk GmbH", "Vacuumtechnik Hanau GmbH"],
    "US": ["Permag Components Inc", "Auto Parts Inc"],
    "JP": ["Shin-Kyo Materials KK"],
    "KR": ["Hanil Motor Parts Co"],
    "FR": ["Aimants de Lyon SA"],
    "IT": ["Magneti Torino SpA"],
    "IN": ["Pune Drives Pvt Ltd"],
}
DESTINATION_WEIGHTS = {"DE": 3.0, "US": 3.0, "JP": 2.0, "KR": 2.0, "FR": 1.0, "IT": 1.0, "IN": 1.0}
END_USES = {
    "automotive": (4.0, "traction motors for passenger EVs"),
    "electronics": (3.0, "voice-coil motors for hard-disk drives"),
    "energy": (2.0, "permanent-magnet generators for offshore wind turbines"),
    "medical": (1.0, "MRI contrast agent precursors"),
    "research": (0.5, "laboratory samples for materials research"),
    "defence": (0.2, "guidance actuators"),
    "other": (0.5, "phosphors for industrial lighting"),
}
PORTS = ["Tianjin", "Shanghai", "Ningbo", "Qingdao", "Shenzhen", "Xiamen"]
KG = Decimal("0.001")


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def application_body(rng: random.Random, today: date, *, submit: bool) -> dict[str, Any]:
    """One `POST /v1/applications` body: a shipment's goods, parties and paperwork."""
    destination = _pick(rng, DESTINATION_WEIGHTS)
    category = _pick(rng, {name: weight for name, (weight, _) in END_USES.items()})
    lines = []
    for _ in range(rng.choices([1, 2, 3], weights=[6, 3, 1])[0]):
        element = _pick(rng, ELEMENT_WEIGHTS)
        form, hs_code, price = rng.choice(GOODS[element])
        kg = Decimal(str(rng.uniform(20, 2000))).quantize(KG)
        line: dict[str, Any] = {
            "element": element,
            "form": form,
            "hs_code": hs_code,
            "quantity_kg": str(kg),
            "value": str((kg * price).quantize(Decimal("0.01"))),
            "currency": "USD",
        }
        if form in ("magnet", "alloy") and element in CONSTITUENTS:
            line["contains"] = CONSTITUENTS[element]
        lines.append(line)
    consignee = rng.choice(CONSIGNEES[destination])
    end_user = rng.choice(CONSIGNEES[destination])
    return {
        "exporter": {"name": rng.choice(EXPORTERS), "country": "CN"},
        "consignee": {"name": consignee, "country": destination},
        "end_user": {"name": end_user, "country": destination},
        "end_use": END_USES[category][1],
        "end_use_category": category,
        "destination_country": destination,
        "transport_mode": rng.choices(["sea", "air", "rail", "road"], weights=[6, 3, 1, 0.5])[0],
        "customs_port": rng.choice(PORTS),
        # half a year or more ahead: a draft submitted later, on a clock running 86,400 times
        # real time, still plans to ship after the day it is submitted (else a 422)
        "planned_ship_date": (today + timedelta(days=rng.randint(180, 720))).isoformat(),
        "contract_ref": f"PO-{rng.randint(10000, 99999)}",
        "lines": lines,
        "submit": submit,
    }


# --- the users -------------------------------------------------------------------------------

APPLICATION = "/v1/applications/{id}"
ACTIONS = "/v1/applications/{id}/actions"
RACE = ("invalid-transition",)  # another officer (or the exporter) acted first


class ComplianceTeam(FastHttpUser):
    """An exporter's compliance team: files one application per shipment, follows it, answers
    requests for information, and books shipments against its licences."""

    weight = 6
    wait_time = between(0.3, 1.5)
    _orgs = itertools.count()

    def on_start(self) -> None:
        self.rng = random.Random()
        self.auth = bearer(TOKENS.exporter[next(self._orgs) % len(TOKENS.exporter)])
        self.filed: list[str] = []  # the applications this team follows, newest last
        self.clock = (time.monotonic(), date.today(), 1.0)  # asked at, business date, speed
        with self.client.get(
            "/v1/clock", headers=self.auth, name="[compliance] GET /v1/clock", catch_response=True
        ) as response:
            if expect(response, 200):
                answer = _body(response)
                today = date.fromisoformat(answer["today"])
                self.clock = (time.monotonic(), today, float(answer["speed"]))

    @property
    def today(self) -> date:
        """The business date now, from the clock asked at the start and its speed (roughly: a
        business day lasts a second on the fastest clock)."""
        asked_at, today, speed = self.clock
        return today + timedelta(seconds=(time.monotonic() - asked_at) * speed)

    def _follow(self, application_id: str) -> None:
        self.filed = [*self.filed[-29:], application_id]

    @task(4)
    def file(self) -> None:
        """File an application: at once (`submit: true`), or as a draft submitted after review;
        now and then the tool retries the same request (same Idempotency-Key and body)."""
        at_once = self.rng.random() < 0.7
        body = application_body(self.rng, self.today, submit=at_once)
        headers = {**self.auth, "Idempotency-Key": str(uuid.uuid4())}
        with self.client.post(
            "/v1/applications",
            json=body,
            headers=headers,
            name="[compliance] POST /v1/applications",
            catch_response=True,
        ) as response:
            if not expect(response, 201):
                return
            created = _body(response)
            etag = _etag(response)
        self._follow(created["id"])
        if self.rng.random() < 0.05:
            with self.client.post(
                "/v1/applications",
                json=body,
                headers=headers,
                name="[compliance] POST /v1/applications (retry)",
                catch_response=True,
            ) as response:
                if response.status_code == 201 and (
                    _header(response, "Idempotency-Replayed") != "true"
                    or _body(response).get("id") != created["id"]
                ):
                    response.failure("a retry with the same Idempotency-Key filed anew")
                else:
                    expect(response, 201)
        if not at_once:
            with self.client.post(
                ACTIONS.format(id=created["id"]),
                json={"action": "submit"},
                headers={**self.auth, **({"If-Match": etag} if etag else {})},
                name="[compliance] POST /v1/applications/{id}/actions submit",
                catch_response=True,
            ) as response:
                expect(response, 200)

    @task(8)
    def poll_status(self) -> None:
        """Where is my application? Answer a request for information when there is one."""
        if not self.filed:
            return
        application_id = self.rng.choice(self.filed)
        with self.client.get(
            APPLICATION.format(id=application_id),
            headers=self.auth,
            name="[compliance] GET /v1/applications/{id}",
            catch_response=True,
        ) as response:
            if not expect(response, 200):
                return
            status = _body(response).get("status")
        if status == "info_requested":
            with self.client.post(
                ACTIONS.format(id=application_id),
                json={
                    "action": "respond",
                    "response": "End-user certificate and contract annex attached, as requested.",
                },
                headers=self.auth,
                name="[compliance] POST /v1/applications/{id}/actions respond",
                catch_response=True,
            ) as response:
                expect(response, 200, 409, conflicts=RACE)  # an officer may reject meanwhile

    @task(2)
    def timeline(self) -> None:
        if not self.filed:
            return
        with self.client.get(
            f"{APPLICATION.format(id=self.rng.choice(self.filed))}/events",
            headers=self.auth,
            name="[compliance] GET /v1/applications/{id}/events",
            catch_response=True,
        ) as response:
            expect(response, 200)

    @task(2)
    def list_applications(self) -> None:
        query = self.rng.choice(["", "&status=submitted&status=under_review", "&element=Dy"])
        with self.client.get(
            f"/v1/applications?limit={self.rng.choice([10, 20, 50])}{query}",
            headers=self.auth,
            name="[compliance] GET /v1/applications",
            catch_response=True,
        ) as response:
            expect(response, 200)

    @task(3)
    def ship(self) -> None:
        """Book a shipment against one of the organisation's active licences, if it has one.
        Teams of one organisation share its licences: a colleague may have used it up first."""
        with self.client.get(
            "/v1/licences?status=active&limit=20",
            headers=self.auth,
            name="[compliance] GET /v1/licences",
            catch_response=True,
        ) as response:
            if not expect(response, 200):
                return
            licences = _body(response).get("items") or []
        if not licences:
            return
        licence = self.rng.choice(licences)
        lines = []
        for line in licence["lines"]:
            remaining = Decimal(line["remaining_kg"])
            share = Decimal(1) if licence["kind"] == "standard" else Decimal("0.4")
            quantity = (remaining * share * Decimal(str(self.rng.uniform(0.5, 1)))).quantize(KG)
            if quantity > 0:
                lines.append({"line": line["line"], "quantity_kg": str(quantity)})
        if not lines:
            return
        # the licence's first day: within its validity, and never after the server's today
        # (which, on an accelerated clock, this user knows only roughly)
        shipped_on = date.fromisoformat(licence["valid_from"])
        with self.client.post(
            f"/v1/licences/{licence['id']}/shipments",
            json={
                "shipment_ref": f"BL-{uuid.uuid4().hex[:12].upper()}",
                "shipped_on": shipped_on.isoformat(),
                "lines": lines,
            },
            headers=self.auth,
            name="[compliance] POST /v1/licences/{id}/shipments",
            catch_response=True,
        ) as response:
            expect(response, 201, 409, conflicts=("quantity-exceeded", "licence-not-usable"))


DECISIONS: dict[str, tuple[float, dict[str, Any]]] = {
    "approve": (0.60, {"valid_months": 12}),
    "approve_temporary": (0.15, {}),
    "request_info": (0.10, {"reason": "Provide the end-user certificate for the consignee."}),
    "reject": (0.10, {"reason": "End use not substantiated.", "reason_code": "refused"}),
    "delay": (0.05, {"reason": "Referred for security review."}),
}


class Officer(FastHttpUser):
    """A licensing officer: takes submitted files from the queue, accepts them and decides, and
    works the files under review. Officers race each other; the loser's 409 or 412 is expected."""

    weight = 3
    wait_time = between(0.3, 1.0)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.auth = bearer(TOKENS.officer)

    def _act(self, application_id: str, action: str, etag: str | None, **fields: Any) -> str | None:
        """POST the action (with If-Match when `etag`); the new ETag when it succeeded."""
        headers = {**self.auth, **({"If-Match": etag} if etag else {})}
        with self.client.post(
            ACTIONS.format(id=application_id),
            json={"action": action, **fields},
            headers=headers,
            name=f"[officer] POST /v1/applications/{{id}}/actions {action}",
            catch_response=True,
        ) as response:
            expect(response, 200, 409, 412, conflicts=RACE)
            return _etag(response) if response.status_code == 200 else None

    def _decide(self, application_id: str, etag: str | None) -> None:
        choices = {name: weight for name, (weight, _) in DECISIONS.items()}
        action = _pick(self.rng, choices)
        self._act(
            application_id,
            action,
            etag if self.rng.random() < 0.8 else None,
            **DECISIONS[action][1],
        )

    @task(5)
    def intake(self) -> None:
        """Take a submitted file, read it, accept it on the version read, then decide."""
        with self.client.get(
            "/v1/applications?status=submitted&limit=20",
            headers=self.auth,
            name="[officer] GET /v1/applications?status=submitted",
            catch_response=True,
        ) as response:
            if not expect(response, 200):
                return
            queue = _body(response).get("items") or []
        if not queue:
            return
        application_id = self.rng.choice(queue)["id"]
        with self.client.get(
            APPLICATION.format(id=application_id),
            headers=self.auth,
            name="[officer] GET /v1/applications/{id}",
            catch_response=True,
        ) as response:
            if not expect(response, 200):
                return
            etag = _etag(response)
        accepted = self._act(application_id, "accept", etag if self.rng.random() < 0.7 else None)
        if accepted is not None:
            self._decide(application_id, accepted)

    @task(3)
    def review(self) -> None:
        """Decide a file under review or referred, on the version the list showed."""
        with self.client.get(
            "/v1/applications?status=under_review&status=delayed&sort=due_at&limit=20",
            headers=self.auth,
            name="[officer] GET /v1/applications?status=under_review",
            catch_response=True,
        ) as response:
            if not expect(response, 200):
                return
            queue = _body(response).get("items") or []
        if queue:
            item = self.rng.choice(queue)
            self._decide(item["id"], f'"{item["version"]}"')


class Dashboard(FastHttpUser):
    """A team's backlog screens: the built-in dashboard page on a wall screen and on a desk,
    behind one shared HTTP cache (the global view is `Cache-Control: public`), polling every few
    seconds with If-None-Match, the desk a moment after the wall. Under load the figures change
    between two polls seconds apart (200: every applied event moves the ETag), and seldom within
    the moment between the two screens (304). Now and then the lead's own organisation's view
    (`?org=`, the viewer token's organisation) is polled the same way."""

    weight = 1
    wait_time = between(2.0, 4.0)
    screens = 2

    def on_start(self) -> None:
        self.rng = random.Random()
        self.auth = bearer(TOKENS.viewer)
        self.etags: dict[str, str] = {}  # the shared cache: the last ETag seen, by URL
        self.org = claims(TOKENS.viewer).get("org")

    def _poll(self, url: str, name: str) -> None:
        for screen in range(self.screens):
            if screen:
                time.sleep(self.rng.uniform(0, 0.1))  # gevent's sleep under locust
            known = self.etags.get(url)
            with self.client.get(
                url,
                headers={**self.auth, **({"If-None-Match": known} if known else {})},
                name=name,
                catch_response=True,
            ) as response:
                if expect(response, 200, 304) and response.status_code == 200:
                    etag = _etag(response)
                    if etag:
                        self.etags[url] = etag

    @task(3)
    def backlog(self) -> None:
        self._poll("/v1/metrics/backlog", "[dashboard] GET /v1/metrics/backlog")

    @task(1)
    def own_backlog(self) -> None:
        if isinstance(self.org, str):
            self._poll(
                f"/v1/metrics/backlog?org={quote(self.org)}",
                "[dashboard] GET /v1/metrics/backlog?org=own",
            )
