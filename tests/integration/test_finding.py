"""Finding a file by one's own references, filters that never lie and sorts a user needs — checked
against a table of rows built for the purpose: each filter returns exactly the rows of the table
that match it, each sort every visible row exactly once across pages, in order, nulls last."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.clock import BusinessClock
from licenceflow.store.pool import Connection
from tests.examples import line
from tests.integration.conftest import SHANGHAI, Tokens, application_body

Client = AsyncTestClient[Litestar]


@dataclass(frozen=True)
class Row:
    """One application of the table: who files it, what it says, how far it gets."""

    org: str
    contract_ref: str
    exporter: str
    consignee: str
    end_user: str
    element: str = "Dy"
    destination: str = "US"
    submit: bool = True
    accept: bool = False
    ask: bool = False  # accepted, then asked for information: owes an answer by `respond_by`
    approve: bool = False


TABLE = [
    Row("acme", "PO-1", "Baotou Magnet Works", "Magnetwerk GmbH", "Auto Parts Inc"),
    Row(
        "acme", "PO-2", "Baotou Magnet Works", "Magnet_Works Ltd", "Wind Co", accept=True, ask=True
    ),
    Row("acme", "PO-2", "Ganzhou Oxides", "MagnetoTech", "Auto Parts Inc", element="Tb"),
    Row("acme", "PO-3", "Ganzhou Oxides", "Kyoto Motors", "Kyoto Motors", destination="JP"),
    Row("acme", "PO-4", "Baotou Magnet Works", "Nordwind AG", "Nordwind AG", submit=False),
    Row("acme", "PO-5", "Jiangxi Rare", "Magnetwerk GmbH", "Wind Co", accept=True, approve=True),
    Row("acme", "PO-6", "Jiangxi Rare", "Sun Panels", "Sun Panels", element="Tb", accept=True),
    Row(
        "rival", "PO-2", "Rival Metals", "Magnetwerk GmbH", "Auto Parts Inc", accept=True, ask=True
    ),
    Row("rival", "PO-7", "Rival Metals", "Aero Alloys", "Aero Alloys", submit=False),
]


@dataclass
class Filed:
    row: Row
    resource: dict[str, Any]


@pytest.fixture
async def table(client: Client, auth: Tokens, clock: BusinessClock) -> list[Filed]:
    """The table filed a business day apart (so creation and submission dates differ), the
    accepted ones accepted as they are filed (so due dates differ), each read back at the end."""
    filed: list[Filed] = []
    for row in TABLE:
        body = application_body(
            contract_ref=row.contract_ref,
            exporter={"name": row.exporter, "country": "CN"},
            consignee={"name": row.consignee, "country": "DE"},
            end_user={"name": row.end_user, "country": row.destination},
            destination_country=row.destination,
            lines=[line(element=row.element)],
            submit=row.submit,
        )
        created = await client.post(
            "/v1/applications", json=body, headers=auth("exporter", org=row.org)
        )
        assert created.status_code == 201, created.text
        id = created.json()["id"]
        asked = {"action": "request_info", "reason": "Which magnets?"}
        actions = [{"action": "accept"}] * row.accept + [asked] * row.ask
        for action in actions + [{"action": "approve"}] * row.approve:
            acted = await client.post(
                f"/v1/applications/{id}/actions", json=action, headers=auth("officer")
            )
            assert acted.status_code == 200, acted.text
        filed.append(Filed(row, created.json()))
        clock.advance(timedelta(days=1))
    for f in filed:
        read = await client.get(
            f"/v1/applications/{f.resource['id']}", headers=auth("exporter", org=f.row.org)
        )
        f.resource = read.json()
    return filed


async def walk(client: Client, headers: dict[str, str], path: str, **params: Any) -> list[Any]:
    """Every item of a list, two to a page, following the cursors."""
    seen: list[Any] = []
    query = urlencode({**params, "limit": 2}, doseq=True)
    url = f"{path}?{query}"
    while url:
        page = await client.get(url, headers=headers)
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        url = f"{path}?{query}&cursor={cursor}" if cursor else ""
    return seen


def visible_to(org: str | None) -> Callable[[Filed], bool]:
    """What a member of `org` sees (its own, drafts too), or an officer (None: every submitted)."""
    if org is None:
        return lambda f: f.row.submit
    return lambda f: f.row.org == org


def ids(items: list[Any]) -> list[str]:
    return [i["id"] for i in items]


def day(resource: dict[str, Any], field: str) -> date | None:
    value = resource[field]
    return datetime.fromisoformat(value).astimezone(SHANGHAI).date() if value else None


def party(prefix: str) -> Callable[[Filed], bool]:
    """Whether any party's name starts with `prefix`, in any case."""
    names = lambda f: (f.row.exporter, f.row.consignee, f.row.end_user)  # noqa: E731
    return lambda f: any(n.lower().startswith(prefix) for n in names(f))


FILTERS: list[tuple[dict[str, Any], Callable[[Filed], bool]]] = [
    ({"contract_ref": "PO-2"}, lambda f: f.row.contract_ref == "PO-2"),
    ({"contract_ref": "PO"}, lambda f: False),  # exact, not a prefix
    ({"party": "magnet"}, party("magnet")),
    ({"party": "Magnet_"}, party("magnet_")),  # `_` is itself, not a wildcard: no MagnetoTech
    ({"party": "WIND"}, party("wind")),
    ({"party": "baotou magnet"}, party("baotou magnet")),
    ({"party": "kyoto"}, party("kyoto")),
    ({"party": "%"}, party("%")),
    ({"element": "Tb"}, lambda f: f.row.element == "Tb"),
    ({"destination": "JP"}, lambda f: f.row.destination == "JP"),
    ({"status": "under_review"}, lambda f: f.row.accept and not (f.row.ask or f.row.approve)),
    ({"status": "info_requested"}, lambda f: f.row.ask),
    (
        {"status": ["draft", "approved"], "party": "jiangxi"},
        lambda f: f.row.approve and f.row.exporter.startswith("Jiangxi"),
    ),
    (
        {"contract_ref": "PO-2", "element": "Tb"},
        lambda f: f.row.contract_ref == "PO-2" and f.row.element == "Tb",
    ),
]


@pytest.mark.parametrize("who", ["acme", "rival", None], ids=["acme", "rival", "officer"])
@pytest.mark.parametrize(
    ("params", "matches"), FILTERS, ids=[urlencode(p, doseq=True) for p, _ in FILTERS]
)
async def test_a_filter_returns_exactly_the_rows_it_names(
    client: Client,
    auth: Tokens,
    table: list[Filed],
    who: str | None,
    params: dict[str, Any],
    matches: Callable[[Filed], bool],
) -> None:
    headers = auth("officer") if who is None else auth("exporter", org=who)
    expected = {f.resource["id"] for f in table if visible_to(who)(f) and matches(f)}
    found = ids(await walk(client, headers, "/v1/applications", **params))
    assert len(found) == len(set(found))
    assert set(found) == expected


async def test_submitted_between_two_business_dates(
    client: Client, auth: Tokens, table: list[Filed]
) -> None:
    submitted = sorted({d for f in table if (d := day(f.resource, "submitted_at"))})
    first, last = submitted[1], submitted[3]
    expected = {
        f.resource["id"]
        for f in table
        if visible_to(None)(f) and first <= (day(f.resource, "submitted_at") or first) <= last
    }
    found = await walk(
        client,
        auth("officer"),
        "/v1/applications",
        submitted_from=first.isoformat(),
        submitted_to=last.isoformat(),
    )
    assert {i["id"] for i in found} == expected
    assert len(expected) == 3  # the bounds are business dates, both inclusive


async def test_the_reference_finds_one_file(
    client: Client, auth: Tokens, table: list[Filed]
) -> None:
    mine, theirs = table[2].resource, table[7].resource
    found = await walk(client, auth("exporter"), "/v1/applications", reference=mine["reference"])
    assert ids(found) == [mine["id"]]
    assert (
        await walk(client, auth("exporter"), "/v1/applications", reference=theirs["reference"])
        == []
    )
    read = await client.get(
        f"/v1/applications/by-reference/{mine['reference']}", headers=auth("exporter")
    )
    assert read.status_code == 200
    assert read.json()["id"] == mine["id"]
    assert read.headers["ETag"] == f'"{mine["version"]}"'
    for hidden in (theirs["reference"], "EL-2099-000001"):  # another org's, and none at all
        missing = await client.get(
            f"/v1/applications/by-reference/{hidden}", headers=auth("exporter")
        )
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
    officer = await client.get(
        f"/v1/applications/by-reference/{theirs['reference']}", headers=auth("officer")
    )
    assert officer.json()["id"] == theirs["id"]


@pytest.mark.parametrize(
    "sort",
    [
        *("created_at", "-created_at", "submitted_at", "-submitted_at", "due_at", "-due_at"),
        *("respond_by", "-respond_by"),
    ],
)
@pytest.mark.parametrize("who", ["acme", None], ids=["acme", "officer"])
async def test_a_sort_meets_every_row_once_in_order_nulls_last(
    client: Client, auth: Tokens, table: list[Filed], sort: str, who: str | None
) -> None:
    headers = auth("officer") if who is None else auth("exporter", org=who)
    field, descending = sort.lstrip("-"), sort.startswith("-")
    rows = [f.resource for f in table if visible_to(who)(f)]

    def value(r: dict[str, Any]) -> Any:  # respond_by is the info request's
        return (r["info_request"] or {}).get(field) if field == "respond_by" else r[field]

    dated = sorted(
        (r for r in rows if value(r) is not None),
        key=lambda r: (datetime.fromisoformat(value(r)), UUID(r["id"])),
        reverse=descending,
    )
    undated = sorted(
        (r for r in rows if value(r) is None), key=lambda r: UUID(r["id"]), reverse=descending
    )
    found = await walk(client, headers, "/v1/applications", sort=sort)
    assert ids(found) == ids(dated + undated)


async def test_the_officers_queue_is_oldest_submitted_first(
    client: Client, auth: Tokens, table: list[Filed]
) -> None:
    found = await walk(
        client, auth("officer"), "/v1/applications", status="submitted", sort="submitted_at"
    )
    submitted = [f.resource for f in table if f.resource["status"] == "submitted"]
    assert ids(found) == ids(sorted(submitted, key=lambda r: r["submitted_at"]))
    assert len(found) == 3


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/applications", "contract=PO-2"),
        ("/v1/applications", "q=magnet"),
        ("/v1/applications", "reference=EL-2025-000001&status=submitted&colour=red"),
        ("/v1/licences", "numbr=LS-2025-000001"),
        ("/v1/reference/elements", "group=light"),
    ],
)
async def test_a_parameter_a_list_does_not_take_is_a_400_naming_it(
    client: Client, auth: Tokens, path: str, query: str
) -> None:
    response = await client.get(f"{path}?{query}", headers=auth("exporter"))
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"].endswith("/invalid-query")
    known = {"reference", "status"}
    named = {e["field"] for e in problem["errors"]}
    assert named == {p.split("=")[0] for p in query.split("&")} - known
    takes = "none" if path == "/v1/reference/elements" else "limit"
    assert takes in problem["errors"][0]["message"]  # it says what the list does take


async def test_every_bad_value_is_named_at_once_with_what_it_should_be(
    client: Client, auth: Tokens
) -> None:
    response = await client.get(
        "/v1/applications?destination=us&element=dy&status=Draft&sort=due&submitted_from=1/7/2025"
        "&reference=PO-1",
        headers=auth("exporter"),
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/invalid-query")
    messages = {e["field"]: e["message"] for e in problem["errors"]}
    assert "did you mean 'US'?" in messages["destination"]
    assert "did you mean 'Dy'?" in messages["element"]
    assert "did you mean 'draft'?" in messages["status"]
    assert "under_review" in messages["status"]  # the allowed values, listed
    assert "-due_at" in messages["sort"]
    assert "YYYY-MM-DD" in messages["submitted_from"]
    assert "EL-" in messages["reference"]
    far = await client.get(  # dates whose day after, or start, no database holds: not a 500
        "/v1/applications?submitted_to=9999-12-31&respond_by_before=0001-01-01",
        headers=auth("exporter"),
    )
    assert far.status_code == 422, far.text
    assert {e["field"] for e in far.json()["errors"]} == {"submitted_to", "respond_by_before"}
    licences = await client.get("/v1/licences?element=gd&kind=Temporary", headers=auth("exporter"))
    assert licences.status_code == 422
    named = {e["field"]: e["message"] for e in licences.json()["errors"]}
    assert named.keys() == {"element", "kind"}
    assert "did you mean 'Gd'?" in named["element"]
    assert "did you mean 'temporary'?" in named["kind"]


async def test_licences_are_found_by_number_element_and_application(
    client: Client, auth: Tokens, clock: BusinessClock
) -> None:
    licences = []
    for element in ("Gd", "Dy", "Gd"):
        filed = await client.post(
            "/v1/applications",
            json=application_body(lines=[line(element=element)], submit=True),
            headers=auth("exporter"),
        )
        id = filed.json()["id"]
        for action in ("accept", "approve"):
            await client.post(
                f"/v1/applications/{id}/actions", json={"action": action}, headers=auth("officer")
            )
        read = await client.get(f"/v1/applications/{id}", headers=auth("exporter"))
        licence = await client.get(
            f"/v1/licences/{read.json()['licence_id']}", headers=auth("exporter")
        )
        licences.append(licence.json())
        clock.advance(timedelta(days=1))
    headers = auth("exporter")
    second = licences[1]
    assert ids(await walk(client, headers, "/v1/licences", number=second["number"])) == [
        second["id"]
    ]
    by_element = await walk(client, headers, "/v1/licences", element="Gd")
    assert set(ids(by_element)) == {licences[0]["id"], licences[2]["id"]}
    by_application = await walk(
        client, headers, "/v1/licences", application_id=second["application_id"]
    )
    assert ids(by_application) == [second["id"]]
    oldest_first = await walk(client, headers, "/v1/licences", sort="issued_at")
    assert ids(oldest_first) == ids(licences)
    assert (
        ids(await walk(client, headers, "/v1/licences", sort="-issued_at")) == ids(licences)[::-1]
    )


@pytest.mark.parametrize(
    ("where", "index"),
    [
        ("contract_ref = 'PO-2'", "applications_contract_ref"),
        ("exporter_key LIKE 'baotou%'", "applications_exporter_key"),
        ("reference = 'EL-2025-000001'", "applications_reference_key"),
    ],
)
async def test_the_filters_are_served_by_an_index(db: Connection, where: str, index: str) -> None:
    async with db.transaction():
        await db.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            r[0] for r in await db.fetch(f"EXPLAIN SELECT id FROM applications WHERE {where}")
        )
    assert index in plan, plan


async def test_the_licence_element_filter_is_served_by_an_index(db: Connection) -> None:
    async with db.transaction():
        await db.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in await db.fetch(
                "EXPLAIN SELECT id FROM licences WHERE lines @> jsonb_build_array("
                "jsonb_build_object('element', 'Gd'::text))"
            )
        )
    assert "licences_lines" in plan, plan


async def test_what_is_owed_shows_on_the_file_and_lists_by_its_due_date(
    client: Client, auth: Tokens, clock: BusinessClock
) -> None:
    """An application waiting on its exporter carries the officer's question and when it must
    answer; `respond_by_before` lists those due before a date; an answer clears it."""
    asked: list[dict[str, Any]] = []
    for question in ("Which magnets?", "Who is the end user's parent company?"):
        filed = await client.post(
            "/v1/applications", json=application_body(submit=True), headers=auth("exporter")
        )
        id = filed.json()["id"]
        await client.post(
            f"/v1/applications/{id}/actions", json={"action": "accept"}, headers=auth("officer")
        )
        requested = await client.post(
            f"/v1/applications/{id}/actions",
            json={"action": "request_info", "reason": question},
            headers=auth("officer"),
        )
        assert requested.status_code == 200, requested.text
        asked.append(requested.json())
        clock.advance(timedelta(days=7))
    first, second = asked
    owed = first["info_request"]
    assert owed["question"] == "Which magnets?"
    assert owed["requested_at"] == first["accepted_at"]  # asked the moment it was accepted
    timeline = await client.get(f"/v1/applications/{first['id']}/events", headers=auth("exporter"))
    assert owed["respond_by"] == timeline.json()["items"][-1]["details"]["respond_by"]
    first_due = datetime.fromisoformat(owed["respond_by"]).date()
    second_due = datetime.fromisoformat(second["info_request"]["respond_by"]).date()
    assert first_due < second_due
    due = await walk(
        client, auth("exporter"), "/v1/applications", respond_by_before=second_due.isoformat()
    )
    assert ids(due) == [first["id"]]  # due on the day after: not before it
    later = (second_due + timedelta(days=1)).isoformat()
    both = await walk(client, auth("exporter"), "/v1/applications", respond_by_before=later)
    assert set(ids(both)) == {first["id"], second["id"]}
    answered = await client.post(
        f"/v1/applications/{first['id']}/actions",
        json={"action": "respond", "response": "N52 sintered blocks"},
        headers=auth("exporter"),
    )
    assert answered.json()["info_request"] is None
    still = await walk(client, auth("exporter"), "/v1/applications", respond_by_before=later)
    assert ids(still) == [second["id"]]
