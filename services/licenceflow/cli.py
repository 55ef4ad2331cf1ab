"""`licenceflow` command line: serve | migrate | dev | worker | scheduler | projector | metrics
(rebuild, check) | simulate | token | load-tokens. `licenceflow <command> --help` says more.

Over 300 lines because each command is a short function here beside its arguments (the `dev`
supervisor is in dev.py); one module per command would spread a page of argparse over ten."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from licenceflow import database
from licenceflow.config import ConfigError, Settings
from licenceflow.dev import run as run_dev

log = logging.getLogger("licenceflow")


def _default_data_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "licenceflow"


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if settings.log_level != "debug":  # a line per HTTP request the simulator makes: debug only
        logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.WARNING)


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    if not settings.database_url:
        raise ConfigError("LICENCEFLOW_DATABASE_URL is required")
    applied = asyncio.run(
        database.prepare(settings)
    )  # workers need the clock before any API starts
    print("applied: " + ", ".join(applied) if applied else "schema is current")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    settings.check_deployable()
    workers = args.workers or settings.web_workers
    if workers > 1:
        _share_prometheus_samples()
    uvicorn.run(
        "licenceflow.api.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        log_level=settings.log_level,
        proxy_headers=True,
        access_log=False,
    )
    return 0


def _share_prometheus_samples() -> None:
    """Server worker processes keep their request metrics in one folder that `/metrics` adds
    up (prometheus-client's multiprocess mode). Emptied at start: counters start with the server.
    Set before the workers start, so each imports prometheus-client in that mode."""
    folder = Path(
        os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        or tempfile.mkdtemp(prefix="licenceflow-metrics-")
    )
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from licenceflow.names import QUEUES
    from licenceflow.simulation import scenarios
    from licenceflow.workers.celery import worker_app

    queues = args.queues or ",".join(QUEUES)
    desks = scenarios.load(settings.scenario).desks()
    # A desk's worker has one slot per officer of the scenario, unless told otherwise.
    concurrency = args.concurrency or desks.get(queues, settings.worker_concurrency)
    worker_app(settings).worker_main(
        [
            "worker",
            f"--loglevel={settings.log_level.upper()}",
            f"--queues={queues}",
            f"--concurrency={concurrency}",
            f"--hostname=licenceflow-{queues.replace(',', '-')}-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> int:
    from licenceflow.outbox.broker import create_celery

    schedule = Path(args.schedule_file or Path(tempfile.gettempdir()) / "licenceflow-beat")
    create_celery(settings).start(
        ["beat", f"--loglevel={settings.log_level.upper()}", f"--schedule={schedule}"]
    )
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    import httpx

    from licenceflow.api.auth import ExporterTokens
    from licenceflow.clock import WorkingCalendar
    from licenceflow.simulation import scenarios
    from licenceflow.simulation.exporters import ORGS, Exporters, clock_once_up

    if args.list:
        for name in scenarios.names():
            print(f"{name}: {' '.join(scenarios.load(name).description.split())}")
        return 0
    scenario = scenarios.load(args.scenario or settings.scenario)
    tokens = ExporterTokens(settings, ORGS)
    exporters = Exporters(
        base_url=args.base_url,
        scenario=scenario,
        tokens=tokens,
        calendar=WorkingCalendar(settings.holiday_country, settings.timezone),
        seed=args.seed if args.seed is not None else scenario.seed,
    )

    async def run() -> int:
        async with httpx.AsyncClient(base_url=args.base_url, timeout=30) as http:
            try:
                clock = await clock_once_up(http, {"Authorization": f"Bearer {tokens[ORGS[0]]}"})
            except TimeoutError as error:
                raise ConfigError(f"the service is not there: {error}") from None
            except httpx.HTTPStatusError as error:
                raise ConfigError(f"the service refuses the simulation: {error}") from None
            speed = clock["speed"]
            if args.speed is not None and abs(speed - args.speed) > 1e-9:
                raise ConfigError(
                    f"the service's clock runs at speed {speed}, not {args.speed}: "
                    "start it with LICENCEFLOW_CLOCK_SPEED (or `licenceflow dev --speed`)"
                )
            summary = await exporters.run(http, clock, args.duration)
        print(msgspec.json.format(msgspec.json.encode(summary)).decode())
        return 0 if exporters.failures == 0 else 1

    return asyncio.run(run())


async def _metrics_session(settings: Settings) -> tuple[Any, Any]:
    import redis.asyncio as aioredis

    from licenceflow.store.pool import connect

    if not settings.database_url or not settings.redis_url:
        raise ConfigError("LICENCEFLOW_DATABASE_URL and LICENCEFLOW_REDIS_URL are required")
    return await connect(settings.database_url), aioredis.from_url(settings.redis_url)


def cmd_projector(settings: Settings, _: argparse.Namespace) -> int:
    from licenceflow.clock import WorkingCalendar
    from licenceflow.metrics import projector

    async def run() -> None:
        # SIGTERM (a container's stop; as PID 1 it has no default action) and SIGINT end the
        # loop after the pass in flight. A flag, not a task cancellation: a cancellation that
        # lands in a library's await can be swallowed, and the process would never stop.
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        conn, redis = await _metrics_session(settings)
        try:
            await projector.run(
                conn, redis, WorkingCalendar(settings.holiday_country, settings.timezone), stop
            )
        finally:
            await redis.aclose()
            await conn.close()

    asyncio.run(run())
    return 0


def cmd_metrics(settings: Settings, args: argparse.Namespace) -> int:
    from licenceflow.clock import WorkingCalendar
    from licenceflow.metrics import maintenance

    async def run() -> int:
        conn, redis = await _metrics_session(settings)
        try:
            if args.action == "rebuild":
                calendar = WorkingCalendar(settings.holiday_country, settings.timezone)
                generation = await maintenance.rebuild(conn, redis, calendar)
                print(f"rebuilt: generation {generation.number} is current")
                return 0
            drift = await maintenance.check(conn, redis)
            for line in drift:
                print(line)
            print(f"{len(drift)} figures drift" if drift else "no drift")
            return 1 if drift else 0
        finally:
            await redis.aclose()
            await conn.close()

    return asyncio.run(run())


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    from licenceflow.api.auth import issue_token

    try:
        token = issue_token(settings, sub=args.sub, org=args.org, roles=args.role, ttl=args.ttl)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    print(token)
    return 0


def lifetime(text: str) -> timedelta:
    """A token's lifetime as `licenceflow token --ttl` takes it: seconds, or `30m`, `10h`."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    if not number.isdigit() or int(number) == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of seconds, or 30m, 10h")
    return timedelta(seconds=int(number) * units[unit])


LOAD_ORGS = ("load-baotou", "load-ganzhou", "load-ningbo", "load-xiamen")


def cmd_load_tokens(settings: Settings, args: argparse.Namespace) -> int:
    """The load test's tokens as JSON: one exporter per organisation, an officer, a viewer."""
    from licenceflow.api.auth import issue_token

    ttl = timedelta(seconds=args.ttl)
    tokens = {
        "exporter": [
            issue_token(settings, sub=f"{org}-compliance", org=org, roles=["exporter"], ttl=ttl)
            for org in LOAD_ORGS
        ],
        "officer": issue_token(
            settings, sub="load-officer", org="authority", roles=["officer"], ttl=ttl
        ),
        "viewer": issue_token(
            settings, sub="load-dashboard", org="procurement", roles=["viewer"], ttl=ttl
        ),
    }
    Path(args.path).write_bytes(msgspec.json.encode(tokens))
    print(f"wrote {len(LOAD_ORGS)} exporters' tokens, an officer's and a viewer's to {args.path}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="licenceflow", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API (production: several workers)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(run=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(run=cmd_migrate)

    dev = sub.add_parser(
        "dev", help="run everything locally; embedded PostgreSQL and Redis unless URLs are set"
    )
    dev.add_argument("--data-dir", default=None, help="default: ~/.cache/licenceflow")
    dev.add_argument("--port", type=int)
    dev.add_argument("--scenario", help="the simulated authority's scenario (default: baseline)")
    dev.add_argument(
        "--speed",
        type=float,
        help="business clock speed (default 1440: a business day a minute; 1 is real time)",
    )
    dev.add_argument("--no-simulate", action="store_true", help="no simulated exporters")
    dev.add_argument(
        "--duration", type=float, default=365.0, help="business days the exporters file for"
    )
    dev.set_defaults(run=run_dev)

    worker = sub.add_parser("worker", help="run Celery workers (the simulated authority, sweeps)")
    worker.add_argument(
        "--queues", help="comma-separated: intake, review, housekeeping (default: all three)"
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        help="processes (default: the scenario's officers for a desk queue, else the setting)",
    )
    worker.set_defaults(run=cmd_worker)

    scheduler = sub.add_parser("scheduler", help="run the scheduler (Celery beat) for the sweeps")
    scheduler.add_argument("--schedule-file", help="beat's state file (default: in the temp dir)")
    scheduler.set_defaults(run=cmd_scheduler)

    simulate = sub.add_parser(
        "simulate", help="file synthetic applications through the API at a scenario's rate"
    )
    simulate.add_argument("--scenario", help="default: LICENCEFLOW_SCENARIO")
    simulate.add_argument(
        "--speed", type=float, help="the business clock speed the service must be running at"
    )
    simulate.add_argument(
        "--duration", type=float, default=30.0, help="business days to simulate (default 30)"
    )
    simulate.add_argument("--base-url", default="http://127.0.0.1:8000")
    simulate.add_argument("--seed", type=int, help="default: the scenario's seed")
    simulate.add_argument("--list", action="store_true", help="list the scenarios and exit")
    simulate.set_defaults(run=cmd_simulate)

    projector = sub.add_parser("projector", help="project events into the Redis backlog metrics")
    projector.set_defaults(run=cmd_projector)

    metrics = sub.add_parser("metrics", help="rebuild the backlog metrics, or check them")
    metrics.add_argument("action", choices=["rebuild", "check"])
    metrics.set_defaults(run=cmd_metrics)

    token = sub.add_parser("token", help="print a bearer token signed with the configured secret")
    token.add_argument("--sub", required=True)
    token.add_argument("--org", required=True)
    token.add_argument(
        "--role", action="append", required=True, choices=["exporter", "viewer", "officer"]
    )
    token.add_argument(
        "--ttl",
        type=lifetime,
        default=timedelta(hours=1),
        help="how long it lives: seconds, or 30m, 10h (default 1h; a dashboard's viewer token"
        " for a working day: 10h)",
    )
    token.set_defaults(run=cmd_token)

    load_tokens = sub.add_parser(
        "load-tokens", help="write the load test's tokens (exporters, officer, viewer) as JSON"
    )
    load_tokens.add_argument("path")
    load_tokens.add_argument("--ttl", type=int, default=86400, help="seconds (default 86400)")
    load_tokens.set_defaults(run=cmd_load_tokens)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        overrides = {"dev_mode": True} if args.command == "dev" else {}
        settings = Settings.from_env(os.environ, **overrides)
        _logging(settings)
        if args.command == "dev":
            args.data_dir = args.data_dir or str(_default_data_dir())
        code: int = args.run(settings, args)
        return code
    except ConfigError as error:
        print(f"licenceflow: {error}", file=sys.stderr)
        return 2
