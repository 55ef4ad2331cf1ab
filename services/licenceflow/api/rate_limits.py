"""Per-principal rate limits, shared by every server process through Redis: a 429 with
`Retry-After` beyond them, and the IETF draft's `RateLimit-Policy` and `RateLimit` headers on
every answer to a principal.

The limit is a generic cell rate algorithm (GCRA): each request moves the principal's
theoretical arrival time (TAT) on by 1/rate; a request is refused when that would put the TAT
more than `burst` requests ahead of now. One small Lua script keeps the TAT in Redis on Redis's
own clock (no skew between processes), answers in one round trip, and gives what the headers
need (remaining requests, seconds until the bucket is full again). Libraries for the job (e.g.
`limits`) offer fixed and moving windows, not a rate with a burst on one shared clock.

A principal is the token's `org` and `sub` (an unverified or missing token is limited by its
client address, before the application refuses it). When Redis does not answer, requests are let
through (logged): the rate limit protects the service, it must not take it down."""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any, NamedTuple

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from redis.exceptions import RedisError

from licenceflow.api.auth import Authenticator
from licenceflow.api.errors import send_problem
from licenceflow.api.services import services
from licenceflow.domain.errors import NotAuthenticated
from licenceflow.names import RATE_KEYS

log = logging.getLogger(__name__)

EXEMPT = ("/health/",)
WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})  # its unread body: close, not drain
POLICY = "principal"

# KEYS[1]: the principal's TAT; ARGV: emission interval T and burst B x T, in microseconds.
# Returns {allowed (1/0), remaining, microseconds until full, microseconds until allowed}.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
if next_tat - now > capacity then
  return {0, 0, tat - now, next_tat - now - capacity}
end
redis.call('SET', KEYS[1], next_tat, 'PX', math.ceil((next_tat - now) / 1000) + 1)
return {1, math.floor((capacity - (next_tat - now)) / interval), next_tat - now, 0}
"""


class Verdict(NamedTuple):
    allowed: bool
    remaining: int
    reset_seconds: float  # until the principal's burst is whole again
    retry_after_seconds: float  # until a refused request would be allowed


class RateLimits(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, *, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = burst
        self.interval_us = round(1_000_000 / per_second) if per_second > 0 else 0
        window = max(1, math.ceil(burst / per_second)) if per_second > 0 else 0
        self.policy = f'"{POLICY}";q={burst};w={window}'.encode()
        self._script: Any = None

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        found = services(scope["app"].state)
        if self.per_second <= 0 or found.redis is None or scope["path"].startswith(EXEMPT):
            await next_app(scope, receive, send)
            return
        verdict = await self._judge(found.redis, _principal_of(scope, found.authenticator))
        if verdict is None:
            await next_app(scope, receive, send)
            return
        headers = [
            (b"ratelimit-policy", self.policy),
            (
                b"ratelimit",
                f'"{POLICY}";r={verdict.remaining};t={math.ceil(verdict.reset_seconds)}'.encode(),
            ),
        ]
        if not verdict.allowed:
            await send_problem(
                send,
                429,
                "Too many requests",
                f"over {self.per_second:g} requests per second (bursts of {self.burst});"
                " retry after the time in Retry-After",
                slug="rate-limited",
                retry_after=max(1, math.ceil(verdict.retry_after_seconds)),
                headers=headers,
                close=scope.get("method") in WITH_BODY,
            )
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await next_app(scope, receive, with_headers)

    async def _judge(self, redis: Any, principal: str) -> Verdict | None:
        """The principal's verdict, or None when Redis does not answer (let through)."""
        if self._script is None:
            self._script = redis.register_script(GCRA)
        try:
            allowed, remaining, reset_us, retry_us = await self._script(
                keys=[RATE_KEYS + principal],
                args=[self.interval_us, self.interval_us * self.burst],
            )
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("rate limit not checked (Redis: %r): request let through", error)
            return None
        return Verdict(bool(allowed), int(remaining), reset_us / 1e6, retry_us / 1e6)


def _principal_of(scope: Scope, authenticator: Authenticator) -> str:
    """A short key for who is asking: the token's org and sub, or the client's address."""
    # the first Authorization header, as the application reads it
    raw = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
    authorization = raw.decode("latin-1")
    try:
        principal = authenticator.principal(authorization)
        who = f"{principal.org}\x1f{principal.sub}"
    except NotAuthenticated:
        client = scope.get("client") or ("unknown", 0)
        who = f"address\x1f{client[0]}"
    return hashlib.blake2b(who.encode(), digest_size=16).hexdigest()
