"""What the handlers use besides the request, opened once per process by the app's lifespan:
one typed object, kept as `app.state.services` and read with `services(state)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.datastructures import State

from licenceflow.api.auth import Authenticator
from licenceflow.api.cursors import Cursors
from licenceflow.metrics.backlog_cache import BacklogCache
from licenceflow.outbox.loop import RelayLoop
from licenceflow.store.applications import Filings, Reads
from licenceflow.store.pool import Pool
from licenceflow.workflow.context import Context


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    pool: Pool
    acquire_timeout: float  # seconds a request waits for a pooled connection, then a 503
    context: Context  # the clock (kept in step with the stored anchor), calendar, regime
    cursors: Cursors
    authenticator: Authenticator
    scrape_token: str | None  # what Prometheus presents for /metrics
    application_reads: Reads  # batched reads by id, the path clients poll
    application_filings: Filings  # batched filings without an Idempotency-Key
    redis: Any | None = None  # redis.asyncio.Redis; None without LICENCEFLOW_REDIS_URL
    backlog: BacklogCache | None = None
    relay: RelayLoop | None = None


def services(state: State) -> Services:
    found: Services = state.services
    return found
