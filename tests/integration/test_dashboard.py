"""The built-in dashboard in a real browser: Debian's `chromium`, driven by Playwright through its
own executable (nothing downloads a browser), against `licenceflow serve` on a free port.

The page's numbers are the API's, they follow new applications, the token never travels in a
URL, and a screenshot is left in `tests/artifacts/dashboard.png` for people to look at."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from playwright.async_api import Browser, Page, async_playwright, expect

from licenceflow.api.auth import issue_token
from licenceflow.clock import BusinessClock, WorkingCalendar
from licenceflow.config import Settings
from licenceflow.metrics import keys
from licenceflow.metrics.projector import project_once
from licenceflow.store.pool import Connection
from tests.examples import application_body, line
from tests.integration.conftest import Tokens
from tests.integration.served import serving
from tests.polling import eventually
from tests.private_redis import free_port

Client = AsyncTestClient[Litestar]
CHROMIUM = os.environ.get("LICENCEFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).parents[1] / "artifacts" / "dashboard.png"
CALENDAR = WorkingCalendar()
POLL_MS = 500  # the page's ?interval=: several points for the time chart within seconds
# The figures a procurement lead looks for first: the page must show every one of them.
KEY_METRICS = {
    "pending.count",
    "pending.overdue",
    "pending.oldest_age_working_days",
    "queues.intake.depth",
    "queues.review.depth",
    "decision_latency_working_days.p50",
    "decision_latency_working_days.p90",
    "decision_latency_working_days.p99",
    "expected_wait_working_days",
    *(
        f"by_status.{status}"
        for status in (
            "draft",
            "submitted",
            "under_review",
            "info_requested",
            "delayed",
            "approved",
            "temporarily_approved",
            "rejected",
            "withdrawn",
        )
    ),
}


# --- the server, the browser, the metrics -------------------------------------------------------


@pytest.fixture(scope="module")
async def server(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    async with serving(settings, tmp_path_factory.mktemp("serve") / "serve.log") as base:
        yield base


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no chromium executable at {CHROMIUM}: install Debian's `chromium` package "
            "or point LICENCEFLOW_CHROMIUM at one (the test never downloads a browser)"
        )
    # A loaded machine (the whole suite at once) can take longer than Playwright's 5 s default.
    expect.set_options(timeout=20_000)
    async with async_playwright() as playwright:
        found = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield found
        await found.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    yield await context.new_page()
    await context.close()


async def file(client: Client, auth: Tokens, element: str, destination: str) -> str:
    response = await client.post(
        "/v1/applications",
        json=application_body(
            submit=True, lines=[line(element=element)], destination_country=destination
        ),
        headers=auth("exporter"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def settle(db: Connection, redis: Any) -> None:
    """The relay has queued every follow-up task and the projector has counted every event, so
    the queue depths and the counts hold still while the page and the test compare them."""

    async def relayed() -> bool:
        waiting: int = await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return waiting == 0

    await eventually(relayed, "the outbox relay publishes every row")
    await project_once(db, redis, await keys.current(redis), CALENDAR)


async def backlog(server: str, token: str) -> tuple[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        response = await http.get(
            "/v1/metrics/backlog", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    return response.headers["etag"], response.json()


# --- what the page shows ------------------------------------------------------------------------


def at(body: dict[str, Any], path: str) -> Any:
    value: Any = body
    for key in path.split("."):
        assert isinstance(value, dict), f"the API has no {path}"
        assert key in value, f"the API has no {path}"
        value = value[key]
    return value


def as_shown(value: Any) -> str:
    """How the page writes a JSON value: JavaScript's `String(value)`, null as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # JSON's 2.0 is JavaScript's 2
    return str(value)


async def shown_metrics(page: Page) -> list[tuple[str, str]]:
    pairs: list[list[str]] = await page.eval_on_selector_all(
        "[data-metric]", "nodes => nodes.map(n => [n.dataset.metric, n.textContent])"
    )
    return [(path, text) for path, text in pairs]


async def assert_page_shows(page: Page, etag: str, body: dict[str, Any]) -> set[str]:
    """Once the page has read this version, every figure it shows is the API's; returns the
    paths it shows."""
    await expect(page.locator("body")).to_have_attribute("data-version", etag)
    shown = await shown_metrics(page)
    wrong = [
        (path, text, at(body, path)) for path, text in shown if text != as_shown(at(body, path))
    ]
    assert not wrong, f"(path, page, API): {wrong}"
    return {path for path, _ in shown}


async def wait_for_points(page: Page, points: int) -> None:
    await page.wait_for_function(
        "n => Number(document.getElementById('history').dataset.points) >= n", arg=points
    )


def watched(page: Page) -> tuple[list[str], list[str]]:
    """The URLs the page requests, and its problems: errors, and the console's errors and
    warnings (a Content-Security-Policy violation among them)."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    return requests, problems


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.timeout(180)
async def test_the_page_shows_the_apis_figures_and_follows_new_applications(
    server: str, page: Page, client: Client, auth: Tokens, db: Connection, redis: Any
) -> None:
    first = [("Dy", "US"), ("Dy", "DE"), ("Tb", "JP"), ("Sm", "US")]
    ids = [await file(client, auth, element, destination) for element, destination in first]
    for app_id, action in ((ids[0], "accept"), (ids[1], "accept"), (ids[1], "approve")):
        acted = await client.post(
            f"/v1/applications/{app_id}/actions", json={"action": action}, headers=auth("officer")
        )
        assert acted.status_code == 200, acted.text
    await settle(db, redis)
    token = auth("viewer")["Authorization"].removeprefix("Bearer ")
    requests, problems = watched(page)

    await page.goto(f"{server}/dashboard?interval={POLL_MS}#token={token}")
    etag, before = await backlog(server, token)
    shown = await assert_page_shows(page, etag, before)

    assert before["pending"]["count"] == 3
    assert before["by_status"]["under_review"] == 1
    assert before["by_status"]["approved"] == 1
    assert before["decision_latency_working_days"]["p50"] == 0  # decided the day it was filed
    assert KEY_METRICS | {"by_element.Dy.pending", "by_element.Tb.pending"} <= shown
    assert "#" not in await page.evaluate("location.href")  # the fragment left the address bar
    assert await page.evaluate("sessionStorage.length") == 1  # ...and the token stayed in the tab
    polls = [url for url in requests if url.endswith("/v1/metrics/backlog")]
    assert polls, requests
    assert not [url for url in requests if token in url]
    await wait_for_points(page, 4)

    later = [("Gd", "KR"), ("Dy", "US"), ("Tb", "US")]
    for element, destination in later:
        await file(client, auth, element, destination)
    await settle(db, redis)
    etag_after, after = await backlog(server, token)
    assert etag_after != etag
    assert after["pending"]["count"] == before["pending"]["count"] + len(later)
    await expect(page.locator('[data-metric="pending.count"]').first).to_have_text(
        str(after["pending"]["count"])
    )
    await assert_page_shows(page, etag_after, after)
    assert await page.locator('[data-metric="by_element.Gd.pending"]').count() == 1

    # The time chart shows the step: points from before the new applications and after.
    points = int(await page.locator("#history").get_attribute("data-points") or 0)
    await wait_for_points(page, points + 4)
    await assert_page_shows(page, *await backlog(server, token))  # still the API's figures
    assert not [url for url in requests if token in url]
    assert not problems, problems  # among them, any Content-Security-Policy violation
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOT, full_page=True)
    print(f"dashboard screenshot: {SCREENSHOT}")


async def test_without_a_token_the_page_asks_for_one(server: str, page: Page, auth: Tokens) -> None:
    await page.goto(f"{server}/dashboard?interval={POLL_MS}")
    await expect(page.locator("#token-form")).to_be_visible()
    await expect(page.locator("#board")).to_be_hidden()

    token = auth("viewer")["Authorization"].removeprefix("Bearer ")
    await page.locator("#token-input").fill(token)
    await page.locator("#token-form button").click()
    await expect(page.locator('[data-metric="pending.count"]').first).to_have_text(
        re.compile(r"^\d+$")
    )
    await expect(page.locator("#token-form")).to_be_hidden()


async def test_a_refused_token_shows_the_401_message(server: str, page: Page) -> None:
    await page.goto(f"{server}/dashboard?interval={POLL_MS}#token=not-a-token")
    await expect(page.locator("#token-reason")).to_contain_text("401")
    await expect(page.locator("#token-form")).to_be_visible()
    await expect(page.locator("#board")).to_be_hidden()
    assert await page.evaluate("sessionStorage.length") == 0  # a refused token is forgotten


async def test_without_redis_the_page_says_the_metrics_are_unavailable(
    settings: Settings, page: Page, auth: Tokens, tmp_path: Path
) -> None:
    nowhere = msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with serving(nowhere, tmp_path / "serve.log") as base:
        token = auth("viewer")["Authorization"].removeprefix("Bearer ")
        await page.goto(f"{base}/dashboard?interval={POLL_MS}#token={token}")
        await expect(page.locator("#notice")).to_contain_text("503")
        await expect(page.locator("#connection")).to_have_text("metrics unavailable")
        await expect(page.locator("#token-form")).to_be_hidden()


async def test_the_page_and_its_own_assets_only(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        page = await http.get("/dashboard")
        script = await http.get("/dashboard/dashboard.js")
        style = await http.get("/dashboard/dashboard.css")
        unknown = [
            await http.get(f"/dashboard/{name}") for name in ("index.html", "app.py", "x.js")
        ]
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in page.text  # every script is a file of its own
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.headers["content-type"].startswith("text/css")
    for response in (page, script, style):
        assert response.headers["cache-control"] == "no-cache"
    assert [r.status_code for r in unknown] == [404, 404, 404]

    # Sent byte for byte: an HTTP client would resolve the dots before asking.
    for path in (
        "/dashboard/../../etc/passwd",
        "/dashboard/..%2f..%2f..%2fetc%2fpasswd",
        "/dashboard/%2e%2e%2fapi%2fdashboard.py",
        "/dashboard/..",
    ):
        status, body = await raw_get(server, path)
        assert status == 404, (path, status)
        assert b"root:" not in body
        assert b"import" not in body


async def raw_get(server: str, path: str) -> tuple[int, bytes]:
    host, port = server.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return int(answer.split(b" ", 2)[1]), answer


# --- the API's own documentation page --------------------------------------------------------


async def test_the_api_documentation_needs_no_cdn(server: str, page: Page) -> None:
    """`/schema/swagger` loaded its scripts and styles from a CDN: an air-gapped install showed a
    blank page (issue 18). Every request the page makes to another host is refused here."""
    elsewhere: list[str] = []

    async def same_origin_only(route: Any) -> None:
        if route.request.url.startswith(server):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await page.route("**/*", same_origin_only)
    await page.goto(f"{server}/schema/swagger")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("licenceflow")
    await expect(page.locator(".opblock").first).to_be_visible()
    assert elsewhere == []
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        html = (await http.get("/schema/swagger")).text
        linked = re.findall(r"""(?:src|href)=["']([^"']*)["']""", html)
        assert linked  # the page names its assets...
        assert all(url.startswith("/schema/assets/") for url in linked if url), linked
        for url in linked:  # ...and this service serves each of them
            if url:
                assert (await http.get(url)).status_code == 200
        assert (await http.get("/schema/assets/../app.py")).status_code == 404
        assert (await http.get("/schema/assets/openapi.py")).status_code == 404


# --- the organisation's view -------------------------------------------------------------------


async def filed(
    client: Client, auth: Tokens, clock: BusinessClock, org: str, *actions: dict[str, Any]
) -> str:
    """An application of `org`, filed and submitted, then taken through `actions` by an officer;
    then an hour passes (so that each is submitted at a time of its own)."""
    response = await client.post(
        "/v1/applications", json=application_body(submit=True), headers=auth("exporter", org=org)
    )
    assert response.status_code == 201, response.text
    app_id = str(response.json()["id"])
    for action in actions:
        acted = await client.post(
            f"/v1/applications/{app_id}/actions", json=action, headers=auth("officer")
        )
        assert acted.status_code == 200, acted.text
    clock.advance(timedelta(hours=1))
    return app_id


async def listed(server: str, token: str, path: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        response = await http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def row_ids(page: Page, table: str) -> list[str]:
    ids: list[str] = await page.eval_on_selector_all(
        f"#{table} tr[data-id]", "rows => rows.map(r => r.dataset.id)"
    )
    return ids


@pytest.mark.timeout(180)
async def test_the_organisations_view_shows_what_it_owes_waits_for_and_holds(
    server: str,
    page: Page,
    client: Client,
    auth: Tokens,
    db: Connection,
    redis: Any,
    clock: BusinessClock,
) -> None:
    accept = {"action": "accept"}
    question = "Send the end-user certificate <b>signed</b> by Magnetwerk"
    waiting = await filed(client, auth, clock, "acme")
    owing = await filed(
        client, auth, clock, "acme", accept, {"action": "request_info", "reason": question}
    )
    await filed(client, auth, clock, "acme", accept, {"action": "approve", "valid_months": 1})
    await filed(client, auth, clock, "acme", accept, {"action": "approve_temporary"})
    await filed(client, auth, clock, "rival")
    await settle(db, redis)
    token = auth("viewer")["Authorization"].removeprefix("Bearer ")
    requests, problems = watched(page)

    await page.goto(f"{server}/dashboard?view=org&interval={POLL_MS}#token={token}")
    await expect(page.locator("#org-name")).to_have_text("acme")
    await expect(page.locator("#scope")).to_have_text("acme")
    await expect(page.locator('#views [data-view="org"]')).to_have_attribute("aria-pressed", "true")
    etag, mine = await backlog_of(server, token, "?org=acme")
    assert mine["pending"]["count"] == 2  # the rival's file is not acme's
    await assert_page_shows(page, etag, mine)

    # What it owes: the question, as text, and by when.
    await expect(page.locator("#owed tr[data-id]")).to_have_count(1)
    assert await row_ids(page, "owed") == [owing]
    owed = (await listed(server, token, "/v1/applications?status=info_requested"))[0]
    cells = await page.locator("#owed tr[data-id] td").all_text_contents()
    respond_by = owed["info_request"]["respond_by"][:10]
    assert cells[0] == owed["reference"]
    assert cells[2] == question  # shown as the officer wrote it, never read as HTML
    assert cells[3].startswith(f"{respond_by} · in ")
    assert await page.locator("#owed b").count() == 0

    # Its pending files, oldest submitted first.
    assert await row_ids(page, "pending-files") == [waiting, owing]

    # The licences it holds, soonest expiry first: the one-month licence is flagged.
    licences = await listed(server, token, "/v1/licences?sort=valid_until")
    assert [lic["kind"] for lic in licences] == ["standard", "temporary"]
    await expect(page.locator("#licences tr[data-id]")).to_have_count(2)
    assert await row_ids(page, "licences") == [lic["id"] for lic in licences]
    soon, later = (
        page.locator("#licences tr[data-id]").nth(0),
        page.locator("#licences tr[data-id]").nth(1),
    )
    first_line = licences[0]["lines"][0]
    await expect(soon.locator("td").nth(1)).to_have_text(
        f"{first_line['element']} {float(first_line['shippable_kg']):g}"
        f" of {float(first_line['quantity_kg']):g} kg"
    )
    await expect(soon.locator("td").nth(2)).to_have_class("soon")
    await expect(soon.locator("td").nth(2)).to_contain_text(licences[0]["valid_until"])
    await expect(later.locator("td").nth(2)).not_to_have_class("soon")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOT.with_name("dashboard-org.png"), full_page=True)

    # Back to every organisation's backlog: the global figures, no organisation's tables.
    await page.locator('#views [data-view="all"]').click()
    await expect(page.locator("body")).to_have_attribute("data-view", "all")
    await expect(page.locator(".org-only").first).to_be_hidden()
    etag, everyone = await backlog_of(server, token, "")
    assert everyone["pending"]["count"] == 3
    await assert_page_shows(page, etag, everyone)
    assert "view=org" not in await page.evaluate("location.href")
    assert not [url for url in requests if token in url]
    assert not problems, problems


async def backlog_of(server: str, token: str, query: str) -> tuple[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        response = await http.get(
            f"/v1/metrics/backlog{query}", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    return response.headers["etag"], response.json()


async def test_a_token_near_its_end_asks_for_the_next_and_the_page_goes_on(
    server: str, page: Page, settings: Settings
) -> None:
    """A viewer's token for the working day keeps the page open; half an hour before a token
    ends, the page asks for the next one, and takes it without losing what it drew."""
    ending = issue_token(
        settings, sub="lead", org="acme", roles=["viewer"], ttl=timedelta(minutes=20)
    )
    await page.goto(f"{server}/dashboard?interval={POLL_MS}#token={ending}")
    await expect(page.locator("#token-panel")).to_be_visible()
    await expect(page.locator("#notice")).to_contain_text("ends at")
    await expect(page.locator("#board")).to_be_visible()  # the figures stay meanwhile
    await expect(page.locator("#session")).to_contain_text("lead@acme · viewer · token until")
    await wait_for_points(page, 2)
    points = int(await page.locator("#history").get_attribute("data-points") or 0)
    first = await page.locator("#history").get_attribute("data-first")

    day = issue_token(settings, sub="lead", org="acme", roles=["viewer"], ttl=timedelta(hours=10))
    await page.locator("#token-input").fill(day)
    await page.locator("#token-form button").click()
    await expect(page.locator("#token-panel")).to_be_hidden()
    await expect(page.locator("#notice")).to_be_hidden()
    await wait_for_points(page, points + 2)
    assert await page.locator("#history").get_attribute("data-first") == first  # the same chart
    assert await page.evaluate("sessionStorage.getItem('licenceflow.dashboard.token')") == day


@pytest.mark.parametrize("roles", ["officer", "exporter+officer"])
async def test_an_officer_has_no_organisation_view(
    server: str, page: Page, auth: Tokens, roles: str
) -> None:
    """An officer's lists hold every organisation's files: no view is offered as its own."""
    token = auth(roles)["Authorization"].removeprefix("Bearer ")
    await page.goto(f"{server}/dashboard?view=org&interval={POLL_MS}#token={token}")
    await expect(page.locator("#session")).to_contain_text(f"{roles}-1@")
    await expect(page.locator("body")).to_have_attribute("data-view", "all")
    await expect(page.locator("#views")).to_be_hidden()
    await expect(page.locator(".org-only").first).to_be_hidden()
