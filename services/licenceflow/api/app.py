"""The Litestar application: built from `Settings`, resources opened in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from licenceflow import __version__, background
from licenceflow.api import (
    benchmark,
    clock,
    dashboard,
    health,
    me,
    metrics,
    openapi,
    prometheus,
    reference,
)
from licenceflow.api.admission import Admission
from licenceflow.api.applications import ApplicationController
from licenceflow.api.auth import Authenticator
from licenceflow.api.cursors import Cursors
from licenceflow.api.dependencies import (
    provide_conn,
    provide_principal,
    provide_tx,
)
from licenceflow.api.errors import EXCEPTION_HANDLERS
from licenceflow.api.licences import LicenceController
from licenceflow.api.options import AllowedMethods
from licenceflow.api.rate_limits import RateLimits
from licenceflow.api.services import Services, services
from licenceflow.clock import BusinessClock, ClockAnchor, WorkingCalendar
from licenceflow.config import Settings
from licenceflow.metrics import backlog
from licenceflow.metrics.backlog_cache import BacklogCache
from licenceflow.metrics.invalidations import Invalidations
from licenceflow.outbox.broker import create_celery
from licenceflow.outbox.loop import RelayLoop
from licenceflow.outbox.relay import celery_publisher, has_intake_desk
from licenceflow.store import applications as applications_store
from licenceflow.store import clock as stored_clock
from licenceflow.store.pool import open_pool
from licenceflow.workflow.context import Context

MAX_BODY_BYTES = 1024 * 1024

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    settings.check_deployable()
    assert settings.database_url is not None
    authenticator = Authenticator(settings)  # a bad key set is refused before serving

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        # each resource is closed as soon as it is open: at shutdown in the reverse order, and
        # also when a later step fails at start (nothing is left holding connections)
        async with contextlib.AsyncExitStack() as opened:
            dsn = settings.database_url or ""
            pool = await open_pool(
                dsn,
                min_size=settings.db_pool_min,
                max_size=settings.db_pool_max,
                lock_timeout=settings.db_lock_timeout_seconds,  # then a 503
            )
            opened.push_async_callback(pool.close)
            async with pool.acquire() as conn:
                anchor = await stored_clock.load_anchor(
                    conn, ClockAnchor.proposed(settings.clock_start, settings.clock_speed)
                )
            reads = await applications_store.reads(dsn)
            opened.push_async_callback(reads.close)
            filings = await applications_store.filings(dsn)
            opened.push_async_callback(filings.close)
            context = Context(
                clock=BusinessClock(anchor),
                calendar=WorkingCalendar(settings.holiday_country, settings.timezone),
                regime_country=settings.regime_country,
            )
            redis = backlog_cache = relay = None
            if settings.redis_url:
                redis = aioredis.from_url(
                    settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
                )
                opened.push_async_callback(redis.aclose)
                invalidations = Invalidations(redis, backlog.WATCHED)
                invalidations.start()
                opened.push_async_callback(invalidations.stop)
                backlog_cache = BacklogCache(redis, invalidations)
                relay = RelayLoop(
                    pool,
                    lambda: services(app.state).context,  # as it is then (tests replace it)
                    celery_publisher(create_celery(settings)),
                    simulated=settings.authority == "simulated",
                    has_intake=has_intake_desk(settings.scenario),
                )
                relay.start()
                opened.push_async_callback(relay.stop)
                relay.kick()  # publish whatever an earlier process left behind
            app.state.services = Services(
                pool=pool,
                acquire_timeout=settings.db_acquire_timeout_seconds,
                context=context,
                cursors=Cursors(settings.jwt_secret),
                authenticator=authenticator,
                scrape_token=settings.metrics_token,
                application_reads=reads,
                application_filings=filings,
                redis=redis,
                backlog=backlog_cache,
                relay=relay,
            )
            follower = asyncio.create_task(clock.follow_stored_anchor(pool, lambda: context.clock))
            opened.push_async_callback(background.stop, follower)
            settle_garbage_collector()
            yield

    optional = [benchmark.static] if settings.benchmark_endpoint else []
    return Litestar(
        route_handlers=[
            *optional,
            ApplicationController,
            LicenceController,
            reference.elements,
            clock.business_clock,
            me.me,
            metrics.backlog_metrics,
            prometheus.prometheus_metrics,
            health.live,
            health.ready,
            dashboard.page,
            dashboard.asset,
            openapi.ui_asset,
        ],
        lifespan=[lifespan],
        middleware=[
            prometheus.RequestMetrics(),  # outermost: the refusals below are counted too
            AllowedMethods(),
            RateLimits(per_second=settings.rate_limit_per_second, burst=settings.rate_limit_burst),
            Admission(
                max_in_flight=settings.in_flight_cap,
                body_timeout=settings.body_timeout_seconds,
                max_body_bytes=MAX_BODY_BYTES,
            ),
        ],
        state=None,
        dependencies={
            "principal": Provide(provide_principal, sync_to_thread=False),
            "conn": Provide(provide_conn),
            "tx": Provide(provide_tx),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=OpenAPIConfig(
            title="licenceflow",
            version=__version__,
            description=(
                "Export-licence workflow for controlled rare earths. The contract: "
                "services/licenceflow/api/API.md in the repository."
            ),
            path="/schema",
            render_plugins=[openapi.JsonSpec(path="/openapi.json"), openapi.SwaggerUI()],
        ),
        debug=False,
    )


def settle_garbage_collector() -> None:
    """Once a server process has started, what start-up made (modules, the app, its routes)
    lives as long as the process: the cyclic collector stops scanning it (`gc.freeze`), and
    scans new objects after 50,000 allocations instead of 700, which a request's few thousand
    short-lived objects rarely reach. In the overload run (tests/perf/README.md) the create's
    maximum rose 7% (860 to 917 a second, two runs each)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
