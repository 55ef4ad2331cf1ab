"""All configuration: one frozen `Settings`, built once from the environment and passed down.

Every variable is `LICENCEFLOW_<FIELD>` (upper case); `Settings.describe()` lists them for the
README's table. No URL configured means the embedded servers of `licenceflow dev`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

DEV_SECRET = "licenceflow-dev-secret-do-not-deploy"
PREFIX = "LICENCEFLOW_"
MIN_SECRET_BYTES = 32
COMMAND_ONLY = frozenset({"dev_mode"})  # set by a command of ours, never by the environment


class ConfigError(Exception):
    """A setting is missing, malformed or unsafe; the message says which."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    database_url: str | None = None
    """PostgreSQL DSN (postgresql://user:pass@host:5432/db). Unset: `dev` starts an embedded one."""
    redis_url: str | None = None
    """Redis URL (redis://host:6379/0). Unset: `dev` starts an embedded one."""
    jwt_secret: str = DEV_SECRET
    """Secret that signs and checks bearer tokens; the built-in one works only in dev mode."""
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    """JWT signing algorithm."""
    jwt_issuer: str | None = None
    """When set, tokens must carry this `iss`, and `licenceflow token` writes it."""
    jwt_audience: str | None = None
    """When set, tokens must carry this `aud`, and `licenceflow token` writes it."""
    jwt_key_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "primary"
    """The `kid` naming LICENCEFLOW_JWT_SECRET: `licenceflow token` writes it, and a token
    without `kid` names this secret too."""
    jwt_previous_secrets: str | None = None
    """Earlier secrets still accepted until their tokens expire, `kid=secret,kid=secret`: to
    rotate, move the secret here under its key id, then set a new secret and key id."""
    jwt_jwks_file: str | None = None
    """A JWKS file of public keys (RS256, ES256 or EdDSA, each with `kid` and `alg`) whose
    tokens are accepted too: an identity provider's."""
    jwt_leeway_seconds: Annotated[float, msgspec.Meta(ge=0, le=300)] = 30.0
    """Clock skew forgiven on a token's `exp`, `nbf` and `iat`."""
    jwt_max_lifetime_hours: Annotated[float, msgspec.Meta(gt=0)] = 24.0
    """The longest a token may live, `iat` to `exp`: longer ones are refused, and
    `licenceflow token` issues none."""
    metrics_token: str | None = None
    """A token Prometheus sends (`Authorization: Bearer …`) to scrape `GET /metrics`; unset, a
    scrape needs a bearer JWT as any other request. `/metrics` is never anonymous."""
    dev_mode: bool = False
    """Development mode: allows the built-in JWT secret. Set only by `licenceflow dev`: refused
    in the environment (a server started with it would accept the published secret)."""
    regime_country: Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")] = "CN"
    """The exporting country whose licensing regime this is (exporters must be located there)."""
    holiday_country: str = "CN"
    """Country whose public holidays and make-up working days shape the working-day calendar."""
    timezone: str = "Asia/Shanghai"
    """Business time zone: business dates and working days are counted there."""
    clock_speed: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    """Business clock speed: 1 real time, 86400 one business day per second, 0 a fixed clock."""
    clock_start: datetime | None = None
    """Business time at the clock's first start (RFC 3339); default: the real time then."""
    db_pool_min: Annotated[int, msgspec.Meta(ge=0)] = 2
    """Minimum PostgreSQL connections per server process."""
    db_pool_max: Annotated[int, msgspec.Meta(ge=1)] = 5
    """Maximum PostgreSQL connections per server process (its batched reads and filings take
    three more)."""
    db_acquire_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    """How long a request waits for a pooled PostgreSQL connection before a 503 (Retry-After)."""
    db_lock_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    """How long a request waits for a row another request has locked before a 503
    (Retry-After)."""
    max_in_flight: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Requests one server process works on at once; beyond, a fast 503 (Retry-After). Default:
    twice LICENCEFLOW_DB_POOL_MAX: as many as can work at once, and as many again waiting (a
    burst). Each one waiting adds to every answer's latency (tests/perf/README.md, overload)."""
    body_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """How long a request's body may take to arrive before a 408 (no connection is held
    meanwhile: the body is read before anything else)."""
    rate_limit_per_second: Annotated[float, msgspec.Meta(ge=0, le=100_000)] = 50.0
    """Requests per second each principal (organisation and user) may make, shared by every
    server process through Redis; beyond, 429 with Retry-After. 0 turns limiting off."""
    rate_limit_burst: Annotated[int, msgspec.Meta(ge=1)] = 100
    """Requests a principal may make at once before the rate applies."""
    host: str = "127.0.0.1"
    """Address `serve` listens on."""
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    """Port `serve` and `dev` listen on."""
    web_workers: Annotated[int, msgspec.Meta(ge=1)] = 2
    """Server worker processes for `serve`."""
    authority: Literal["simulated", "human"] = "simulated"
    """Who decides: Celery desks (simulated) or officers over HTTP only (human)."""
    scenario: str = "baseline"
    """The simulated authority's scenario (`licenceflow simulate --list` shows them)."""
    broker_visibility_timeout: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    """Seconds before the broker hands an unacknowledged task (its worker died) to another."""
    worker_concurrency: Annotated[int, msgspec.Meta(ge=1)] = 2
    """Processes per `licenceflow worker` (each runs one task at a time)."""
    worker_pool_max: Annotated[int, msgspec.Meta(ge=1)] = 4
    """Maximum PostgreSQL connections per worker process."""
    sweep_interval_seconds: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    """How often the scheduler queues each sweep (licence expiry, ...), in real seconds."""
    retention_hours: Annotated[float, msgspec.Meta(gt=0)] = 168.0
    """Outbox rows published and authority runs finished longer ago than this (real hours) are
    purged by the scheduler, with expired Idempotency-Key records; events are never purged."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level of every process."""
    benchmark_endpoint: bool = False
    """Serve `GET /benchmark/static?size=N`: N bytes of JSON, no I/O (a benchmark reference)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        for name in COMMAND_ONLY:
            if env.get(PREFIX + name.upper()):
                raise ConfigError(
                    f"{PREFIX + name.upper()} is never read from the environment: "
                    "run `licenceflow dev` for development mode"
                )
        raw: dict[str, Any] = {
            name: env[PREFIX + name.upper()]
            for name in cls.__struct_fields__
            if PREFIX + name.upper() in env
            and env[PREFIX + name.upper()] != ""
            and name not in COMMAND_ONLY
        }
        raw.update(overrides)
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as error:
            raise ConfigError(f"invalid configuration: {error}") from None

    @property
    def in_flight_cap(self) -> int:
        """The cap on requests in flight per server process (`max_in_flight`, or the pool's
        size: beyond it a request only queues, and its wait is added to every answer)."""
        return self.max_in_flight or self.db_pool_max

    def check_deployable(self) -> None:
        """Refuse to run a server outside dev mode with the published development secret."""
        if not self.dev_mode and self.jwt_secret == DEV_SECRET:
            raise ConfigError(
                "LICENCEFLOW_JWT_SECRET is unset (or the built-in development secret): "
                "set a secret of your own, or run `licenceflow dev`"
            )
        if not self.dev_mode and len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"LICENCEFLOW_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (RFC 7518 3.2)"
            )
        for pair in filter(None, (self.jwt_previous_secrets or "").split(",")):
            previous = pair.partition("=")[2]
            if previous == DEV_SECRET or len(previous.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(
                    "every secret of LICENCEFLOW_JWT_PREVIOUS_SECRETS must be one of your own"
                    f" of at least {MIN_SECRET_BYTES} bytes"
                )
        if self.metrics_token is not None and len(self.metrics_token.encode()) < 16:
            raise ConfigError("LICENCEFLOW_METRICS_TOKEN must be at least 16 bytes")
        if self.db_pool_min > self.db_pool_max:
            raise ConfigError("LICENCEFLOW_DB_POOL_MIN must not exceed LICENCEFLOW_DB_POOL_MAX")
        if not self.database_url:
            raise ConfigError("LICENCEFLOW_DATABASE_URL is required (or run `licenceflow dev`)")

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(variable, default, meaning) for every setting."""
        import inspect

        docs = _field_docs(inspect.getsource(cls))
        defaults = cls()
        return [
            (PREFIX + name.upper(), repr(getattr(defaults, name)), docs.get(name, ""))
            for name in cls.__struct_fields__
        ]


def _field_docs(source: str) -> dict[str, str]:
    import ast

    body = ast.parse(source.strip()).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    for node, following in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            docs[node.target.id] = str(following.value.value)
    return docs
