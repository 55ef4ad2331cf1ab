"""Session-wide fixtures: the servers, a migrated database of this session's own, an app.

Tests are isolated by emptying every table after each test (migrations run once): every one the
schema has, found when emptied, so that a table a migration adds is never left out."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.api.app import create_app
from licenceflow.api.auth import issue_token
from licenceflow.clock import BusinessClock, ClockAnchor, WorkingCalendar, real_utc_now
from licenceflow.config import Settings
from licenceflow.metrics import keys
from licenceflow.metrics.projector import events_behind, one_pass
from licenceflow.names import QUEUES
from licenceflow.store import clock as stored_clock
from licenceflow.store import migrations, pool
from licenceflow.store.pool import Connection
from tests import harness
from tests.examples import application_body
from tests.integration.served import serving
from tests.polling import eventually
from tests.private_redis import PrivateRedis

__all__ = ["Tokens", "application_body"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkingCalendar()
# Monday 2 June 2025, 09:00 in Beijing: the business clock of every test unless it moves it.
START = datetime(2025, 6, 2, 9, 0, tzinfo=SHANGHAI)
SCRAPE_TOKEN = "prometheus-scrape-token-for-the-tests"
# Every table a test may write, emptied after it; the clock's row is put back at START, and
# the migrations' own record stays.
KEPT = ("schema_migrations", "business_clock")
EVERY_TABLE = """SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables
                 WHERE schemaname = current_schema() AND tablename <> ALL($1::text[])"""


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis of the test's own on a private port, to stop and start at will."""
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Any]:
    """The session's Redis, without metrics, telemetry or queued tasks before and after."""
    client = aioredis.from_url(settings.redis_url or "")

    async def empty() -> None:
        async for key in client.scan_iter(match="licenceflow:*"):
            await client.unlink(key)
        await client.delete(*QUEUES)

    await empty()
    yield client
    await empty()
    await client.aclose()


async def relayed(db: Connection) -> None:
    """Wait until the outbox relay (after commit, off the request) has settled every row."""

    async def settled() -> bool:
        return bool(
            await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
        )

    await eventually(settled, "the outbox relay settling every row")


async def project_all(db: Connection, redis: Any) -> int:
    """Project until no committed event is left: a pass reads below the horizon of transactions
    in flight, so another test's (or the relay's) open transaction can hold some back a moment."""
    applied = 0

    async def caught_up() -> bool:
        nonlocal applied
        applied += (await one_pass(db, redis, CALENDAR)).applied
        return await events_behind(db, redis, await keys.current(redis)) == 0

    await eventually(caught_up, "the projector catching up")
    return applied


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Servers]:
    with harness.servers(Path(tmp_path_factory.mktemp("servers"))) as found:
        yield found


@pytest.fixture(scope="session")
async def database_url(servers: harness.Servers) -> AsyncIterator[str]:
    name, url = await harness.create_database(servers.postgres_url)
    await harness.empty_redis(servers.redis_url)
    conn = await asyncpg.connect(url)
    try:
        await migrations.migrate(conn)
    finally:
        await conn.close()
    yield url
    await harness.drop_database(servers.postgres_url, name)


@pytest.fixture
async def fresh_db(servers: harness.Servers) -> AsyncIterator[tuple[str, Connection]]:
    """A migrated database of the test's own, and a connection to it: for processes that set
    the business clock's pace, which the session's database keeps for every other test."""
    name, url = await harness.create_database(servers.postgres_url)
    conn = await pool.connect(url)
    await migrations.migrate(conn)
    yield url, conn
    await conn.close()
    await harness.drop_database(servers.postgres_url, name)


@pytest.fixture
async def empty_database(servers: harness.Servers) -> AsyncIterator[str]:
    """A database of the test's own, not even migrated (a deployment's first `migrate`)."""
    name, url = await harness.create_database(servers.postgres_url)
    yield url
    await harness.drop_database(servers.postgres_url, name)


@pytest.fixture(scope="session")
def settings(database_url: str, servers: harness.Servers) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=servers.redis_url,
        jwt_secret="test-secret-" + "x" * 32,
        metrics_token=SCRAPE_TOKEN,
        rate_limit_per_second=0,  # tests race one principal's requests: test_rate_limits limits
        # the race tests hold rows while requests queue behind them (test_overload bounds it)
        db_lock_timeout_seconds=60.0,
        clock_speed=0,
        clock_start=START,
        db_pool_min=1,
        db_pool_max=30,
        max_in_flight=256,  # races send more at once than the pool has (test_overload caps it)
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app, timeout=30) as test_client:
        yield test_client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Connection]:
    """A connection of the test's own, with the service's codecs."""
    conn = await pool.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture(autouse=True)
async def _isolated(
    app: Litestar, client: AsyncTestClient[Litestar], database_url: str
) -> AsyncIterator[None]:
    """Each integration test starts with empty tables and the clock at START: the app's, and
    the stored anchor that the processes a test starts read (a test that moves or re-paces it
    leaves it as the session began)."""
    reset_clock(app)
    yield
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetchval(EVERY_TABLE, list(KEPT))
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        started = ClockAnchor(real=real_utc_now(), business=START, speed=0)
        await stored_clock.save_anchor(conn, started)
    finally:
        await conn.close()


def reset_clock(app: Litestar, at: datetime = START) -> BusinessClock:
    clock = BusinessClock(ClockAnchor(real=real_utc_now(), business=at, speed=0))
    app.state.services = dataclasses.replace(
        app.state.services,
        context=dataclasses.replace(app.state.services.context, clock=clock),
    )
    return clock


@pytest.fixture
def clock(app: Litestar, _isolated: None) -> BusinessClock:
    """The app's business clock, fixed at START; `clock.advance(...)` moves it."""
    clock: BusinessClock = app.state.services.context.clock
    return clock


class Tokens:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __call__(
        self, role: str, *, sub: str | None = None, org: str | None = None
    ) -> dict[str, str]:
        """An officer belongs to the authority (mofcom), anyone else to acme, unless `org`."""
        token = issue_token(
            self._settings,
            sub=sub or f"{role}-1",
            org=org or ("mofcom" if role == "officer" else "acme"),
            roles=role.split("+"),
            ttl=timedelta(hours=1),
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def served(settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `licenceflow serve` run as a process of its own on the session's database:
    its requests really run at the same time (tests/integration/races.py)."""
    async with (
        serving(settings, tmp_path / "serve.log") as base,
        httpx.AsyncClient(base_url=base, timeout=60) as http,
    ):
        yield http


@pytest.fixture(scope="session")
def auth(settings: Settings) -> Tokens:
    """`auth("exporter")`, `auth("officer")`, `auth("viewer", org="other")`: request headers."""
    return Tokens(settings)
