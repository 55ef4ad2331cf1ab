"""Authentication, roles and tenancy: the checks come in the contract's order
401 → 404 → 403 → 422 → 409/412."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.api.auth import issue_token
from licenceflow.config import Settings
from licenceflow.store.pool import Connection
from tests.integration.conftest import Tokens, application_body

Client = AsyncTestClient[Litestar]


async def submitted(client: Client, auth: Tokens, org: str = "acme") -> str:
    response = await client.post(
        "/v1/applications",
        json=application_body(submit=True),
        headers=auth("exporter", org=org),
    )
    assert response.status_code == 201
    return str(response.json()["id"])


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer a.b.c"],
    ids=["none", "empty", "garbage", "basic", "forged-shape"],
)
async def test_no_valid_token_is_401(client: Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get("/v1/applications", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_expired_or_foreign_tokens_are_401(client: Client, settings: Settings) -> None:
    claims = {"sub": "a", "org": "acme", "roles": ["exporter"]}
    expired = jwt.encode(claims | {"exp": 1_000_000}, settings.jwt_secret, algorithm="HS256")
    foreign = jwt.encode(
        claims | {"exp": 4_000_000_000}, "another-secret-" + "y" * 32, algorithm="HS256"
    )
    unknown_role = jwt.encode(
        claims | {"exp": 4_000_000_000, "roles": ["admin"]}, settings.jwt_secret, algorithm="HS256"
    )
    for token in (expired, foreign, unknown_role):
        response = await client.get(
            "/v1/applications", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, token


async def stored(db: Connection) -> list[tuple[object, ...]]:
    """Every application's state and every event: what a refused write must leave as it was."""
    apps = await db.fetch("SELECT id, status, version, filing FROM applications ORDER BY id")
    events = await db.fetch("SELECT seq, stream_id, action FROM events ORDER BY seq")
    return [tuple(r) for r in apps] + [tuple(r) for r in events]


@pytest.mark.smoke
async def test_another_orgs_exporter_sees_nothing(
    client: Client, auth: Tokens, db: Connection
) -> None:
    app_id = await submitted(client, auth, org="acme")
    before = await stored(db)
    rival = auth("exporter", org="rival")
    assert (await client.get(f"/v1/applications/{app_id}", headers=rival)).status_code == 404
    assert (await client.get(f"/v1/applications/{app_id}/events", headers=rival)).status_code == 404
    listed = await client.get("/v1/applications", headers=rival)
    assert listed.json()["items"] == []
    withdraw = await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "withdraw"}, headers=rival
    )
    assert withdraw.status_code == 404
    patch = await client.patch(f"/v1/applications/{app_id}", json={}, headers=rival)
    assert patch.status_code == 404
    assert await stored(db) == before
    mine = await client.get("/v1/applications", headers=auth("viewer", org="acme"))
    assert [a["id"] for a in mine.json()["items"]] == [app_id]


async def test_officers_see_everything_but_drafts(client: Client, auth: Tokens) -> None:
    filed = await submitted(client, auth, org="acme")
    other = await submitted(client, auth, org="rival")
    draft = await client.post("/v1/applications", json=application_body(), headers=auth("exporter"))
    officer = auth("officer", org="mofcom")
    listed = await client.get("/v1/applications", headers=officer)
    assert {a["id"] for a in listed.json()["items"]} == {filed, other}
    hidden = await client.get(f"/v1/applications/{draft.json()['id']}", headers=officer)
    assert hidden.status_code == 404


async def test_viewers_read_but_may_not_act(client: Client, auth: Tokens, db: Connection) -> None:
    app_id = await submitted(client, auth)
    before = await stored(db)
    viewer = auth("viewer")
    assert (await client.get(f"/v1/applications/{app_id}", headers=viewer)).status_code == 200
    # 403 comes before 422: the viewer's invalid body is not even read.
    response = await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "withdraw", "junk": 1}, headers=viewer
    )
    assert response.status_code == 403
    create = await client.post("/v1/applications", json={"junk": 1}, headers=viewer)
    assert create.status_code == 403
    valid = await client.post("/v1/applications", json=application_body(), headers=viewer)
    assert valid.status_code == 403
    assert await stored(db) == before


async def test_roles_may_only_take_their_own_actions(client: Client, auth: Tokens) -> None:
    app_id = await submitted(client, auth)
    exporter_accepts = await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "accept"}, headers=auth("exporter")
    )
    assert exporter_accepts.status_code == 403
    officer_withdraws = await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "withdraw"}, headers=auth("officer")
    )
    assert officer_withdraws.status_code == 403
    officer_files = await client.post(
        "/v1/applications", json=application_body(), headers=auth("officer")
    )
    assert officer_files.status_code == 403
    nobody_passes_deadlines = await client.post(
        f"/v1/applications/{app_id}/actions",
        json={"action": "deadline_passed"},
        headers=auth("officer"),
    )
    assert nobody_passes_deadlines.status_code == 403


async def test_illegal_action_is_409_with_the_current_status(client: Client, auth: Tokens) -> None:
    app_id = await submitted(client, auth)
    response = await client.post(
        f"/v1/applications/{app_id}/actions", json={"action": "approve"}, headers=auth("officer")
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("/invalid-transition")
    assert problem["current_status"] == "submitted"
    assert problem["action"] == "approve"


async def test_token_command_signs_with_configured_secret(settings: Settings) -> None:
    from licenceflow.api.auth import Authenticator, issue_token

    token = issue_token(
        settings, sub="alice", org="acme", roles=["exporter", "viewer"], ttl=timedelta(minutes=5)
    )
    principal = Authenticator(settings).principal(f"Bearer {token}")
    assert (principal.sub, principal.org) == ("alice", "acme")
    assert {r.value for r in principal.roles} == {"exporter", "viewer"}


@pytest.mark.parametrize(
    ("roles", "org", "member_of"),
    [("viewer", "acme", "acme"), ("exporter", "acme", "acme"), ("officer", "mofcom", None)],
)
async def test_me_names_the_token_and_when_it_ends(
    client: Client, settings: Settings, roles: str, org: str, member_of: str | None
) -> None:
    """What a page shows of who is looking (the dashboard's organisation view, its word
    before the token ends): the token's own claims, never another's."""
    token = issue_token(settings, sub="lead", org=org, roles=[roles], ttl=timedelta(hours=10))
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    body = me.json()
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert body == {
        "sub": "lead",
        "org": org,
        "roles": [roles],
        "member_of": member_of,
        "expires_at": datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z"),
    }
    assert (await client.get("/v1/me")).status_code == 401
