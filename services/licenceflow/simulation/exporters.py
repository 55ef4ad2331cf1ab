"""Simulated compliance teams: file synthetic applications through the HTTP API at the
scenario's arrival rate (Poisson, on the business clock), answer requests for information after
the scenario's delay (or let some lapse), and summarise what became of their filings."""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import msgspec

from licenceflow.clock import WorkingCalendar
from licenceflow.simulation import generator, model
from licenceflow.simulation.scenarios import Scenario

log = logging.getLogger(__name__)

ORGS = ("sim-baotou", "sim-ganzhou", "sim-ningbo")
POLL_SECONDS = 0.5
DECIDED = ("approved", "temporarily_approved", "rejected")
STARTUP_SECONDS = 60.0  # how long a simulation waits for the service to answer at all
NOT_YET = frozenset({429, 502, 503, 504})  # answers of a service (or its proxy) still starting
ATTEMPTS = 5  # a request refused for load (429, 503) is sent again after its Retry-After


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    scenario: str
    filed: int
    decided: dict[str, int]
    withdrawn: int
    pending: int
    mean_wait_working_days: float | None
    p90_wait_working_days: float | None


@dataclass
class Exporters:
    """The simulated compliance teams of one run."""

    base_url: str
    scenario: Scenario
    tokens: Mapping[str, str]  # org → exporter token
    calendar: WorkingCalendar
    seed: int
    filed: dict[str, str] = field(default_factory=dict)  # application id → org
    answered: set[str] = field(default_factory=set)
    failures: int = 0
    answering: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(
        self, http: httpx.AsyncClient, clock: dict[str, Any], business_days: float
    ) -> Summary:
        """File for `business_days` from `clock` (the service's, `clock_once_up`), answering
        requests for information meanwhile; then the summary."""
        speed = float(clock["speed"])
        if speed <= 0:
            raise SystemExit("the service's business clock is fixed (speed 0): nothing would move")
        start = datetime.fromisoformat(clock["now"])
        end = model.business_end(self.scenario, start, business_days, self.calendar)
        real_seconds = (end - start).total_seconds() / speed
        log.info(
            "simulating %s: %.1f days of business time in %.0f s real",
            self.scenario.name,
            business_days,
            real_seconds,
        )
        answering = asyncio.create_task(self._answer_requests(http, speed))
        try:
            await self._file_arrivals(http, start, end, speed)
        finally:
            answering.cancel()
        return await self.summary(http)

    async def _file_arrivals(
        self, http: httpx.AsyncClient, start: datetime, end: datetime, speed: float
    ) -> None:
        """Poisson arrivals at `per_day` per day of the scenario's clock."""
        rng = random.Random(self.seed)
        loop = asyncio.get_running_loop()
        t0, at, offset = loop.time(), start, 0.0
        pending: set[asyncio.Task[None]] = set()
        while True:
            offset += rng.expovariate(self.scenario.arrivals.per_day)
            at = model.business_end(self.scenario, start, offset, self.calendar)
            if at >= end:
                break
            await asyncio.sleep(max(0.0, t0 + (at - start).total_seconds() / speed - loop.time()))
            body = generator.application(self.scenario.mix, rng, self.calendar.date_of(at))
            task = asyncio.create_task(self._file(http, rng.choice(ORGS), body))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.sleep(max(0.0, t0 + (end - start).total_seconds() / speed - loop.time()))
        if pending:
            await asyncio.gather(*pending)

    async def _file(self, http: httpx.AsyncClient, org: str, body: dict[str, Any]) -> None:
        try:
            response = await post_retrying(
                http,
                "/v1/applications",
                body,
                # a filing retried after a refusal replays, it never files twice
                {**self._auth(org), "Idempotency-Key": str(uuid.uuid4())},
            )
        except httpx.HTTPError as error:
            self.failures += 1
            log.warning("filing failed: %r", error)
            return
        if response.status_code != 201:
            self.failures += 1
            log.warning("filing refused: %s %s", response.status_code, response.text[:300])
            return
        self.filed[response.json()["id"]] = org

    async def _answer_requests(self, http: httpx.AsyncClient, speed: float) -> None:
        rng = random.Random(self.seed + 1)
        while True:
            for org in ORGS:
                try:
                    waiting = await http.get(
                        "/v1/applications?status=info_requested&limit=200",
                        headers=self._auth(org),
                    )
                    items = waiting.json()["items"] if waiting.status_code == 200 else []
                except httpx.HTTPError:
                    items = []
                for item in items:
                    if item["id"] in self.answered:
                        continue
                    self.answered.add(item["id"])
                    if rng.random() < self.scenario.exporters.answer_share:
                        days = self.scenario.exporters.answer.sample(rng)
                        task = asyncio.create_task(self._answer(http, org, item["id"], days, speed))
                        self.answering.add(task)
                        task.add_done_callback(self.answering.discard)
            await asyncio.sleep(POLL_SECONDS)

    async def _answer(
        self, http: httpx.AsyncClient, org: str, app_id: str, days: float, speed: float
    ) -> None:
        now = datetime.fromisoformat(
            (await http.get("/v1/clock", headers=self._auth(org))).json()["now"]
        )
        later = model.business_end(self.scenario, now, days, self.calendar)
        await asyncio.sleep((later - now).total_seconds() / speed)
        await post_retrying(
            http,
            f"/v1/applications/{app_id}/actions",
            {"action": "respond", "response": "Certificates and contract copy attached"},
            self._auth(org),
        )

    async def summary(self, http: httpx.AsyncClient) -> Summary:
        statuses: Counter[str] = Counter()
        waits: list[float] = []
        for app_id, org in self.filed.items():
            response = await http.get(f"/v1/applications/{app_id}", headers=self._auth(org))
            app = response.json()
            statuses[app["status"]] += 1
            if app["status"] in DECIDED and app["submitted_at"] and app["decided_at"]:
                waits.append(self._working_days(app["submitted_at"], app["decided_at"]))
        waits.sort()
        return Summary(
            scenario=self.scenario.name,
            filed=len(self.filed),
            decided={s: statuses[s] for s in DECIDED},
            withdrawn=statuses["withdrawn"],
            pending=sum(
                statuses[s] for s in ("submitted", "under_review", "info_requested", "delayed")
            ),
            mean_wait_working_days=round(statistics.fmean(waits), 2) if waits else None,
            p90_wait_working_days=round(waits[int(0.9 * (len(waits) - 1))], 2) if waits else None,
        )

    def _working_days(self, start: str, end: str) -> float:
        first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
        if self.scenario.clock == "continuous":
            return (last - first) / timedelta(days=1)
        return float(
            self.calendar.working_days_between(
                self.calendar.date_of(first), self.calendar.date_of(last)
            )
        )

    def _auth(self, org: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[org]}"}


async def clock_once_up(
    http: httpx.AsyncClient, headers: dict[str, str], *, within: float = STARTUP_SECONDS
) -> dict[str, Any]:
    """The service's business clock, once the service answers: a simulation started beside it
    (`licenceflow dev` starts both at once) may ask before it listens. `TimeoutError` after
    `within` seconds without a 200; `httpx.HTTPStatusError` at once for a refusal that waiting
    will not mend (a 401: another secret)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    said = False
    while True:
        try:
            response = await http.get("/v1/clock", headers=headers)
        except httpx.TransportError as error:
            why = repr(error)
        else:
            if response.status_code == 200:
                clock: dict[str, Any] = response.json()
                return clock
            if response.status_code not in NOT_YET:  # a refusal that waiting will not mend
                response.raise_for_status()
            why = f"{response.status_code} {response.text[:200]}"
        if loop.time() > deadline:
            raise TimeoutError(f"{http.base_url} did not answer in {within:g} s: {why}")
        if not said:
            log.warning("the service at %s does not answer yet (%s); waiting", http.base_url, why)
            said = True
        await asyncio.sleep(POLL_SECONDS)


async def post_retrying(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """POST as the contract asks of a client: a refusal for load (429, 503: nothing was done)
    is sent again after its Retry-After, a few times."""
    for _ in range(ATTEMPTS - 1):
        response = await http.post(url, json=body, headers=headers)
        if response.status_code not in (429, 503):
            return response
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
    return await http.post(url, json=body, headers=headers)
