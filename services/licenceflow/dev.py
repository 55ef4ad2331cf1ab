"""`licenceflow dev`: the supervisor that runs the whole system in one terminal (the API, a
worker per desk, the sweeps' worker, the scheduler, the projector and the simulated exporters),
on embedded PostgreSQL and Redis unless URLs are configured, and stops them all together."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import msgspec

from licenceflow import database, embedded
from licenceflow.config import Settings
from licenceflow.dev_console import Console
from licenceflow.names import HOUSEKEEPING

DEV_ROLES = {
    "exporter": ("alice", "acme"),
    "viewer": ("victor", "acme"),
    "officer": ("olga", "mofcom"),
}


DEV_SPEED = 1440.0  # a business day a minute, as compose runs: a backlog forms within a minute


def _speed(settings: Settings, args: argparse.Namespace) -> float:
    """`--speed`, else LICENCEFLOW_CLOCK_SPEED when set, else DEV_SPEED."""
    if args.speed is not None:
        return float(args.speed)
    return settings.clock_speed if "LICENCEFLOW_CLOCK_SPEED" in os.environ else DEV_SPEED


def _label(command: list[str]) -> str:
    """`worker --queues review` → `worker-review`."""
    return "-".join([command[0], *command[2:3]]) if command[0] == "worker" else command[0]


def _sweep_interval(speed: float) -> float:
    """Sweep about once per business hour, between twice a second and once a minute."""
    return 60.0 if speed <= 0 else max(0.5, min(60.0, 3600.0 / speed))


def _children(settings: Settings, args: argparse.Namespace, data: Path) -> list[list[str]]:
    from licenceflow.simulation import scenarios

    desks = scenarios.load(settings.scenario).desks()
    commands = [["worker", "--queues", desk] for desk in desks]
    commands.append(["worker", "--queues", HOUSEKEEPING, "--concurrency", "1"])
    commands.append(["scheduler", "--schedule-file", str(data / "beat-schedule")])
    commands.append(["projector"])
    if not args.no_simulate:
        commands.append(
            [
                "simulate",
                "--duration",
                str(args.duration),
                "--base-url",
                f"http://{settings.host}:{settings.port}",
            ]
        )
    return commands


def run(settings: Settings, args: argparse.Namespace) -> int:
    """`licenceflow dev`: the whole system in one terminal, on embedded servers unless URLs are
    configured; Ctrl-C or SIGTERM stops every process it started."""
    import uvicorn

    from licenceflow.api.app import create_app
    from licenceflow.api.auth import issue_token

    data = Path(args.data_dir).expanduser()
    with contextlib.ExitStack() as servers:
        database_url = settings.database_url or servers.enter_context(
            embedded.postgres(data / "postgres")
        )
        redis_url = settings.redis_url or servers.enter_context(embedded.redis(data / "redis"))
        speed = _speed(settings, args)
        settings = msgspec.structs.replace(
            settings,
            database_url=database_url,
            redis_url=redis_url,
            port=args.port or settings.port,
            clock_speed=speed,
            scenario=args.scenario or settings.scenario,
            sweep_interval_seconds=_sweep_interval(speed),
        )
        applied = asyncio.run(database.prepare(settings))
        base = f"http://{settings.host}:{settings.port}"
        print(f"licenceflow dev — data in {data}")
        print(f"  PostgreSQL {database_url}\n  Redis      {redis_url}")
        print(f"  migrations applied: {', '.join(applied) or 'none (schema current)'}")
        print(f"  API        {base}/v1/applications\n  OpenAPI    {base}/schema/openapi.json")
        print(
            f"  authority  {settings.authority}, scenario {settings.scenario}, "
            f"clock speed {settings.clock_speed:g} (--speed 1 for real time)"
        )
        tokens = {}
        for role, (sub, org) in DEV_ROLES.items():
            tokens[role] = issue_token(
                settings, sub=sub, org=org, roles=[role], ttl=timedelta(hours=12)
            )
            print(f"  {role:<9} token ({sub}@{org}): {tokens[role]}")
        print(f"  dashboard  {base}/dashboard#token={tokens['viewer']}")
        sys.stdout.flush()
        env = {
            **os.environ,
            **{
                f"LICENCEFLOW_{name.upper()}": str(getattr(settings, name))
                for name in (
                    "database_url",
                    "redis_url",
                    "scenario",
                    "authority",
                    "clock_speed",
                    "sweep_interval_seconds",
                    "jwt_secret",
                    "log_level",
                    "port",
                    "host",
                )
            },
        }
        logs = data / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        children = []
        for command in _children(settings, args, data):
            label = _label(command)
            # each process's own output in a file; the simulated exporters' summary in the
            # terminal (HTTP request lines too at --log-level debug)
            log = servers.enter_context((logs / f"{label}.log").open("ab"))
            inline = command[0] == "simulate"
            child = subprocess.Popen(
                [sys.executable, "-m", "licenceflow", *command],
                env=env,
                stdout=None if inline else log,
                stderr=None if inline and settings.log_level == "debug" else log,
            )
            children.append(child)
            print(f"  started    {label:<20} pid {child.pid:<7} log {logs / label}.log")
        print("  what happens (business time, who, file, organisation, what):")
        sys.stdout.flush()
        console = Console(database_url)
        console.start()
        # uvicorn re-raises the SIGTERM it caught once it has shut down: as SystemExit here,
        # so that the children and the embedded servers are stopped too (the default action
        # would end this process at once and leave them running)
        signal.signal(signal.SIGTERM, _exit_on_signal)
        try:
            uvicorn.run(
                create_app(settings),
                host=settings.host,
                port=settings.port,
                log_level=settings.log_level,
                access_log=False,
            )
        finally:
            console.stop()
            _stop(children)
    return 0


def _exit_on_signal(signum: int, _: object) -> None:
    raise SystemExit(128 + signum)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
