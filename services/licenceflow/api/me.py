"""`GET /v1/me`: whom the caller's token names, and until when, for a page that shows it (the
dashboard: its organisation's view, and a word before the token runs out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, get
from litestar.datastructures import State

from licenceflow.api.services import services


class MeResource(msgspec.Struct, frozen=True, kw_only=True):
    sub: str
    org: str
    roles: list[str]
    member_of: str | None  # the organisation whose files it reads as a member (not an officer)
    expires_at: datetime  # the token's `exp`: a request after it is a 401


@get(
    "/v1/me",
    tags=["session"],
    summary="Who the bearer token names, and until when",
    description=(
        "The token's subject, organisation and roles, the organisation whose files "
        "it reads as a member (null for an officer alone), and when it expires."
    ),
)
async def me(request: Request[Any, Any, State], state: State) -> MeResource:
    session = services(state).authenticator.session(request.headers.get("authorization"))
    principal = session.principal
    return MeResource(
        sub=principal.sub,
        org=principal.org,
        roles=sorted(principal.roles),
        member_of=principal.member_of,
        expires_at=session.expires_at,
    )
