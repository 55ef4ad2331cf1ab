"""Bearer tokens: JWTs naming a user (`sub`), an organisation (`org`) and `roles`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import msgspec

from licenceflow.config import Settings
from licenceflow.domain.access import Principal
from licenceflow.domain.audit import Role
from licenceflow.domain.errors import NotAuthenticated

TOKEN_ROLES = frozenset({Role.EXPORTER, Role.VIEWER, Role.OFFICER})
VERIFIED_TOKENS = 10_000  # tokens remembered per process once verified (the oldest go first)


class Claims(msgspec.Struct, frozen=True):
    sub: str
    org: str
    roles: frozenset[Role]


def issue_token(settings: Settings, *, sub: str, org: str, roles: list[str], ttl: timedelta) -> str:
    unknown = set(roles) - {r.value for r in TOKEN_ROLES}
    if unknown or not roles:
        raise ValueError(f"roles must be among {sorted(TOKEN_ROLES)}, got {roles}")
    now = datetime.now(UTC)  # token expiry is wall-clock security, not business time
    claims: dict[str, Any] = {"sub": sub, "org": org, "roles": roles, "iat": now, "exp": now + ttl}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)


class Authenticator:
    """Reads `Authorization: Bearer …` into a `Principal`, or raises `NotAuthenticated`."""

    def __init__(self, settings: Settings) -> None:
        self._key = settings.jwt_secret
        self._algorithms = [settings.jwt_algorithm]
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        # A token's signature and claims never change: once verified, a token is looked up,
        # not decoded again, until it expires (checked on every use).
        self._verified: dict[str, tuple[Principal, float]] = {}

    def principal(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated("send `Authorization: Bearer <token>`")
        token = token.strip()
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        principal, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "sub"]},
            )
            claims = msgspec.convert(payload, Claims)
        except jwt.PyJWTError as error:
            raise NotAuthenticated(f"invalid token: {error}") from None
        except msgspec.ValidationError as error:
            raise NotAuthenticated(f"invalid token claims: {error}") from None
        if not claims.roles <= TOKEN_ROLES or not claims.roles:
            raise NotAuthenticated("invalid token claims: unknown or no roles")
        return Principal(sub=claims.sub, org=claims.org, roles=claims.roles), float(payload["exp"])
