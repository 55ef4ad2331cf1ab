"""Bearer tokens: JWTs naming a user (`sub`), an organisation (`org`) and `roles`.

Keys are a set chosen by the token's `kid`: the current HMAC secret (`LICENCEFLOW_JWT_SECRET`,
named `LICENCEFLOW_JWT_KEY_ID`), earlier secrets still valid while their tokens expire (a key
rotates without logging anyone out), and the public keys of a JWKS file (RS256, ES256 or EdDSA
tokens from an identity provider). Each key is checked only with its own algorithm, so a token
signed with HS256 under a public key's id is refused. A token without `kid` names the current
secret. `exp` and `iat` are required, a small leeway absorbs clock skew, and a token may live at
most `LICENCEFLOW_JWT_MAX_LIFETIME_HOURS` from `iat` to `exp`."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import jwt
import msgspec

from licenceflow.config import ConfigError, Settings
from licenceflow.domain.access import Principal
from licenceflow.domain.audit import Role
from licenceflow.domain.errors import NotAuthenticated

TOKEN_ROLES = frozenset({Role.EXPORTER, Role.VIEWER, Role.OFFICER})
VERIFIED_TOKENS = 10_000  # tokens remembered per process once verified (the oldest go first)
PUBLIC_KEY_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"})


class Claims(msgspec.Struct, frozen=True):
    sub: str
    org: str
    roles: frozenset[Role]


class Session(NamedTuple):
    principal: Principal
    expires_at: datetime  # the token's `exp`


class Key(NamedTuple):
    """A verification key and the one algorithm it is used with."""

    key: Any
    algorithm: str


def key_set(settings: Settings) -> dict[str, Key]:
    """Every key a token may name by `kid`: the current secret, earlier ones, a JWKS file's."""
    keys = {settings.jwt_key_id: Key(settings.jwt_secret, settings.jwt_algorithm)}
    for kid, secret in previous_secrets(settings).items():
        keys.setdefault(kid, Key(secret, settings.jwt_algorithm))
    if settings.jwt_jwks_file:
        for kid, key in _public_keys(Path(settings.jwt_jwks_file)).items():
            if kid in keys:
                raise ConfigError(f"key id {kid!r} is both a secret and in the JWKS file")
            keys[kid] = key
    return keys


def previous_secrets(settings: Settings) -> dict[str, str]:
    """`LICENCEFLOW_JWT_PREVIOUS_SECRETS` (`kid=secret,kid=secret`) as a mapping."""
    found: dict[str, str] = {}
    for pair in filter(None, (settings.jwt_previous_secrets or "").split(",")):
        kid, sep, secret = pair.strip().partition("=")
        if not sep or not kid or not secret:
            raise ConfigError("LICENCEFLOW_JWT_PREVIOUS_SECRETS is `kid=secret,kid=secret`")
        found[kid] = secret
    return found


def _public_keys(path: Path) -> dict[str, Key]:
    try:
        keys = jwt.PyJWKSet.from_json(path.read_text(encoding="utf-8")).keys
    except (OSError, jwt.PyJWTError) as error:
        raise ConfigError(f"LICENCEFLOW_JWT_JWKS_FILE {path}: {error}") from None
    found: dict[str, Key] = {}
    for jwk in keys:
        if not jwk.key_id or jwk.algorithm_name not in PUBLIC_KEY_ALGORITHMS:
            raise ConfigError(
                f"LICENCEFLOW_JWT_JWKS_FILE {path}: every key needs a `kid` and an `alg` among"
                f" {', '.join(sorted(PUBLIC_KEY_ALGORITHMS))}"
            )
        found[jwk.key_id] = Key(jwk.key, jwk.algorithm_name)
    return found


def issue_token(settings: Settings, *, sub: str, org: str, roles: list[str], ttl: timedelta) -> str:
    """A token signed with the current secret, naming its `kid`."""
    unknown = set(roles) - {r.value for r in TOKEN_ROLES}
    if unknown or not roles:
        raise ValueError(f"roles must be among {sorted(TOKEN_ROLES)}, got {roles}")
    if ttl > timedelta(hours=settings.jwt_max_lifetime_hours):
        raise ValueError(
            f"a token may live at most {settings.jwt_max_lifetime_hours:g} hours"
            " (LICENCEFLOW_JWT_MAX_LIFETIME_HOURS)"
        )
    now = datetime.now(UTC)  # token expiry is wall-clock security, not business time
    claims: dict[str, Any] = {"sub": sub, "org": org, "roles": roles, "iat": now, "exp": now + ttl}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(
        claims,
        settings.jwt_secret,
        algorithm=settings.jwt_algorithm,
        headers={"kid": settings.jwt_key_id},
    )


class ExporterTokens(Mapping[str, str]):
    """Exporter tokens by organisation for a long-running client (the simulator): each issued
    for the longest lifetime allowed, and again once half of it has passed."""

    def __init__(self, settings: Settings, orgs: tuple[str, ...]) -> None:
        self._settings, self._orgs = settings, orgs
        self._lifetime = timedelta(hours=settings.jwt_max_lifetime_hours)
        self._issued: dict[str, tuple[str, float]] = {}

    def __getitem__(self, org: str) -> str:
        if org not in self._orgs:
            raise KeyError(org)
        token, renew_at = self._issued.get(org, ("", 0.0))
        if time.monotonic() >= renew_at:
            token = issue_token(
                self._settings,
                sub=f"{org}-compliance",
                org=org,
                roles=["exporter"],
                ttl=self._lifetime,
            )
            self._issued[org] = (token, time.monotonic() + self._lifetime.total_seconds() / 2)
        return token

    def __iter__(self) -> Iterator[str]:
        return iter(self._orgs)

    def __len__(self) -> int:
        return len(self._orgs)


class Authenticator:
    """Reads `Authorization: Bearer …` into a `Principal`, or raises `NotAuthenticated`."""

    def __init__(self, settings: Settings) -> None:
        self._keys = key_set(settings)
        self._current = settings.jwt_key_id
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._max_lifetime = settings.jwt_max_lifetime_hours * 3600
        # A token's signature and claims never change: once verified, a token is looked up,
        # not decoded again, until it expires (checked on every use).
        self._verified: dict[str, tuple[Principal, float]] = {}

    def principal(self, authorization: str | None) -> Principal:
        return self.session(authorization).principal

    def session(self, authorization: str | None) -> Session:
        """Who the token names, and until when it is good."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated("send `Authorization: Bearer <token>`")
        token = token.strip()
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return Session(known[0], datetime.fromtimestamp(known[1], UTC))
        principal, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[token] = (principal, expires)
        return Session(principal, datetime.fromtimestamp(expires, UTC))

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            kid = jwt.get_unverified_header(token).get("kid", self._current)
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise NotAuthenticated(f"invalid token: no key {kid!r}")
            payload = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub"]},
            )
            claims = msgspec.convert(payload, Claims)
        except jwt.PyJWTError as error:
            raise NotAuthenticated(f"invalid token: {error}") from None
        except msgspec.ValidationError as error:
            raise NotAuthenticated(f"invalid token claims: {error}") from None
        if payload["exp"] - payload["iat"] > self._max_lifetime:
            raise NotAuthenticated(
                f"invalid token: it lives longer than {self._max_lifetime / 3600:g} hours"
            )
        if not claims.roles <= TOKEN_ROLES or not claims.roles:
            raise NotAuthenticated("invalid token claims: unknown or no roles")
        return Principal(sub=claims.sub, org=claims.org, roles=claims.roles), float(payload["exp"])
