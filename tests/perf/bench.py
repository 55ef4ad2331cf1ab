"""The benchmark: the service as it runs in production, against references measured in the same run.

    python -m tests.perf.bench [--applications 50000] [--seconds 10] [--out FILE.json]

Needs LICENCEFLOW_BENCH_DATABASE_URL (an administrative PostgreSQL URL: the run creates and
drops a database of its own; default the machine's postgres database) and
LICENCEFLOW_BENCH_REDIS_URL (default redis://127.0.0.1:6379/13, emptied), and Debian's `wrk`
and `pgbench` (installed with apt-get when missing). Steps:

1. a fresh database, `licenceflow migrate`, ≥50,000 submitted applications filed through the
   workflow (four connections), the backlog projected;
2. `licenceflow serve` as the image runs it (uvicorn, LICENCEFLOW_WEB_WORKERS=2), the human
   authority (no desk decides behind the benchmark's back), the no-I/O reference endpoint on;
   measuring starts once its outbox relay has published the loaded applications' follow-up work;
3. wrk (-t2 -c32, the same duration each) on: create (POST, durable: row, events, outbox), read
   by id, the list's first page and its 1,000th (by cursor), an action (accept, a different
   application each time), the backlog metrics; and the no-I/O endpoint with a body the size
   of the backlog's;
4. pgbench -M prepared -c32 -j2, the same duration, running the very SQL the create and the
   read by id ran (captured from the workflow on a logged connection);
5. open loop at 60% of each path's measured maximum (read, create, and the no-I/O endpoint at
   the read's rate and at the create's), timed from each request's scheduled send; and pgbench
   running the create's transaction at the create's rate (`--rate`, timed from each
   transaction's scheduled start): the tail PostgreSQL has on its own at that rate. Meanwhile
   `tests.perf.waits` samples what the database's sessions are doing (running, waiting for a
   lock, for a WAL flush, for the service): the profile of the time a create spends in
   PostgreSQL, which py-spy on the server cannot show;
6. a table (RPS, p50, p99, ratio to its reference, the target) on stdout, and the figures as
   JSON in `--out`. Projector lag is measured too: real seconds from a create's commit to the
   backlog showing it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import msgspec
import redis.asyncio as aioredis

from licenceflow.api.auth import issue_token
from licenceflow.clock import WorkingCalendar
from licenceflow.config import Settings
from licenceflow.domain.access import Principal
from licenceflow.domain.applications import Application
from licenceflow.domain.audit import Role
from licenceflow.metrics.projector import one_pass
from licenceflow.store import applications as applications_store
from licenceflow.store.pool import Connection, connect
from licenceflow.workflow import applications as workflow
from licenceflow.workflow.context import Context
from tests import harness
from tests.examples import ahead, application_body, new_application
from tests.perf import openloop, waits
from tests.private_redis import free_port
from tests.processes import start

SECRET = "a-benchmark-secret-of-32-bytes-or-more"
WORKERS = 2  # as the Docker image's `serve` (LICENCEFLOW_WEB_WORKERS)
CONNECTIONS = 32
THREADS = 2
ORG = "acme"
EXPORTER = Principal(sub="bench-filer", org=ORG, roles=frozenset({Role.EXPORTER}))
TARGETS = {  # issue 7: path → (reference, the ratio it must reach: ≥ for RPS)
    "create": ("pgbench create", 0.8),
    "read by id": ("pgbench read by id", 0.35),
    "backlog": ("no-I/O endpoint", 0.8),
}
ROOT = Path(__file__).resolve().parents[2]


def need(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", package], check=True)
        found = shutil.which(tool)
    assert found, f"{tool} is needed (Debian package {package})"
    return found


# --- the data -------------------------------------------------------------------------------


async def load(url: str, ctx: Context, count: int, streams: int = 4) -> None:
    """`count` submitted applications of one organisation, filed through the workflow."""
    body = new_application(submit=True, planned_ship_date=ahead())

    async def stream(n: int) -> None:
        conn = await connect(url)
        try:
            for _ in range(n):
                async with conn.transaction():
                    await workflow.create(conn, ctx, EXPORTER, body)
        finally:
            await conn.close()

    share = [count // streams + (1 if i < count % streams else 0) for i in range(streams)]
    await asyncio.gather(*(stream(n) for n in share))


Statements = list[tuple[str, tuple[tuple[Any, str], ...]]]  # SQL, (argument, its type)s


class Script(NamedTuple):
    """A pgbench script and its variables (`-D`), which pgbench -M prepared binds as parameters
    on every execution, as asyncpg binds the service's arguments."""

    text: str
    variables: dict[str, str]


def as_text(value: Any, kind: str) -> str:
    """A captured argument in PostgreSQL's text input form for its type `kind`."""
    if kind.endswith("[]"):  # asyncpg names an array type `text[]`
        return "{" + ",".join(_element(v, kind[:-2]) for v in value) + "}"
    if kind in ("json", "jsonb"):
        return json.dumps(msgspec.to_builtins(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _element(value: Any, kind: str) -> str:
    if value is None:
        return "NULL"
    return '"' + as_text(value, kind).replace("\\", "\\\\").replace('"', '\\"') + '"'


def argument(value: Any, kind: str, unique: dict[str, str], variables: dict[str, str]) -> str:
    """The SQL for one captured argument: a pgbench variable (bound at each execution, so
    PostgreSQL parses it each time, as it does the service's; an inlined literal would be
    parsed once, when the statement is prepared), or the expression `unique` has for it."""
    if not isinstance(value, list) and str(value) in unique:
        return unique[str(value)]
    if value is None:
        return f"NULL::{kind}"
    if isinstance(value, list) and any(str(v) in unique for v in value):
        items = ", ".join(argument(v, kind[:-2], unique, variables) for v in value)
        return f"ARRAY[{items}]::{kind}"
    name = f"a{len(variables)}"
    variables[name] = as_text(value, kind)
    return f":{name}::{kind}"


async def captured(conn: Connection, action: Any) -> Statements:
    """The statements `action` runs on `conn`, with their arguments."""
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def logged(query: Any) -> None:
        seen.append((query.query, tuple(query.args)))

    conn.add_query_logger(logged)
    try:
        await action()
        await asyncio.sleep(0)  # asyncpg calls the loggers soon after, not at once
    finally:
        conn.remove_query_logger(logged)
    typed = []
    for query, args in seen:
        kinds = [t.name for t in (await conn.prepare(query)).get_parameters()] if args else []
        typed.append((query, tuple(zip(args, kinds, strict=True))))
    return typed


async def creation_statements(conn: Connection, ctx: Context) -> tuple[Statements, Application]:
    """The SQL one creation runs, as the service's handler runs it (the filing, then its
    reference read back), and the application it filed. A first creation goes uncaptured:
    asyncpg looks up the types a statement uses once per connection."""
    body = new_application(submit=True, planned_ship_date=ahead())
    made: list[workflow.Created] = []

    async def create() -> None:
        made.append(await workflow.create(conn, ctx, EXPORTER, body))
        await workflow.numbered(conn, made[-1])

    await create()
    statements = await captured(conn, create)
    return statements, made[-1].application


def pgbench_script(statements: Statements, unique: dict[str, str]) -> Script:
    """A pgbench script of `statements`, each argument a variable; each value in `unique` (the
    new application's id, its reference) becomes an expression of a random number per
    transaction, so every transaction writes new rows as the service does."""
    lines = ["\\set n random(1, 9000000000000000)"]
    variables: dict[str, str] = {}
    for query, args in statements:
        rendered = [argument(value, kind, unique, variables) for value, kind in args]
        sql = re.sub(r"\$(\d+)", lambda m, r=rendered: r[int(m.group(1)) - 1], query)
        lines.append(" ".join(sql.split()).rstrip(";") + ";")
    return Script("\n".join(lines) + "\n", variables)


# --- the load generators --------------------------------------------------------------------


WRK_LATENCY = re.compile(r"\s+(50|99)%\s+([\d.]+)(us|ms|s)\b")


def wrk(url: str, seconds: int, script: Path | None, headers: dict[str, str]) -> dict[str, float]:
    args = [need("wrk", "wrk"), f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = {p: float(v) * scale[u] for p, v, u in WRK_LATENCY.findall(out)}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": round(rps, 1),
        "p50_ms": latency["50"],
        "p99_ms": latency["99"],
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",  # type: ignore[dict-item]
    }


def pgbench(
    dsn: str, name: str, script: Script, seconds: int, folder: Path, *, rate: int | None = None
) -> dict[str, float]:
    """pgbench as fast as it goes, or at `rate` transactions per second (an open loop: each
    transaction timed from its scheduled start, pgbench's schedule lag included)."""
    path = folder / f"{name}.sql"
    path.write_text(script.text)
    logs = folder / f"pgbench-{name}"
    logs.mkdir(exist_ok=True)
    args = [
        need("pgbench", "postgresql-client"),
        "-n", "-M", "prepared", "-c", str(CONNECTIONS), "-j", str(THREADS), "-T", str(seconds),
        "-f", str(path), "-l", "--log-prefix", str(logs / "tx"),
    ]  # fmt: skip
    if rate is not None:
        args += ["--rate", str(rate)]
    for variable, value in script.variables.items():
        args += ["-D", f"{variable}={value}"]
    args.append(dsn)
    run = subprocess.run(args, capture_output=True, text=True, cwd=folder)
    assert run.returncode == 0, f"pgbench failed:\n{run.stderr[-3000:]}\n{script.text}"
    out = run.stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # a log line: client, transaction, its time (µs), script, epoch s, µs[, its schedule lag]
    micros = sorted(
        int(fields[2]) + (int(fields[6]) if rate is not None else 0)
        for log in logs.iterdir()
        for fields in map(str.split, log.read_text().splitlines())
    )
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {
        "rps": round(tps, 1),
        "p50_ms": micros[len(micros) // 2] / 1000,
        "p99_ms": micros[int(len(micros) * 0.99)] / 1000,
        "max_ms": micros[-1] / 1000,
        "failed": int(failed.group(1)) if failed else 0,
    }


def lua(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.lua"
    path.write_text(text)
    return path


def post_script(folder: Path, body: bytes) -> Path:
    return lua(
        folder,
        "create",
        f"""wrk.method = "POST"
wrk.body = {json.dumps(body.decode())}
wrk.headers["Content-Type"] = "application/json"
""",
    )


def action_script(folder: Path, ids: list[str]) -> Path:
    """Each request accepts the next application of the list (threads take turns)."""
    listing = folder / "ids.txt"
    listing.write_text("\n".join(ids) + "\n")
    return lua(
        folder,
        "action",
        f"""local ids = {{}}
for line in io.lines("{listing}") do ids[#ids + 1] = line end
local counter, threads, me = 0, {THREADS}, 0
local next_thread = 0
function setup(thread) thread:set("me", next_thread); next_thread = next_thread + 1 end
function init(args) me = tonumber(wrk.thread:get("me")) end
function request()
  local i = (counter * threads + me) % #ids + 1
  counter = counter + 1
  return wrk.format("POST", "/v1/applications/" .. ids[i] .. "/actions",
    {{["Content-Type"] = "application/json", ["Authorization"] = wrk.headers["Authorization"]}},
    '{{"action": "accept"}}')
end
""",
    )


def raw_request(method: str, path: str, token: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


# --- the service ----------------------------------------------------------------------------


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    process = start(command, env, log)
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy = Path(sys.executable).with_name("py-spy")
            if spy.exists():  # what it is stuck on
                subprocess.run([str(spy), "dump", "--pid", str(process.pid)], check=False)
            process.kill()
            raise AssertionError(
                f"{command} ignored SIGTERM for 30 s:\n{log.read_text()[-3000:]}"
            ) from None


@contextmanager
def serving(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    process = start(["serve", "--port", str(port)], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def sampling_waits(dsn: str, into: dict[str, Any]) -> Iterator[None]:
    """`tests.perf.waits` sampling the database's sessions, in a process of its own (not to
    share an event loop or the GIL with the load), from before the body runs to its end."""
    sampler = subprocess.Popen(
        [sys.executable, "-m", "tests.perf.waits", dsn],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert sampler.stdout is not None
        assert sampler.stdout.readline().strip() == "ready", "the wait sampler did not start"
        yield
    finally:
        sampler.terminate()
        try:
            out, _ = sampler.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            sampler.kill()
            raise
    assert sampler.returncode == 0, "the wait sampler failed"
    into.update(json.loads(out))


async def projector_lag(base: str, token: str) -> dict[str, float]:
    """Real seconds from a create's answer (after its commit) until the backlog, polled every
    millisecond, counts it: `licenceflow projector` woken by the commit's notification."""
    lags = []
    async with httpx.AsyncClient(base_url=base) as http:
        headers = {"Authorization": f"Bearer {token}"}

        async def pending() -> int:
            answer = await http.get("/v1/metrics/backlog", headers=headers)
            return int(answer.json()["pending"]["count"])

        deadline = time.monotonic() + 120
        settled = await pending()
        while settled != await pending():  # the projector catching up with the runs before
            settled = await pending()
            assert time.monotonic() < deadline
            await asyncio.sleep(1)
        for _ in range(30):
            before = await pending()
            created = await http.post(
                "/v1/applications",
                json=application_body(submit=True, planned_ship_date=ahead()),
                headers=headers,
            )
            assert created.status_code == 201
            committed = time.monotonic()
            while await pending() == before:
                assert time.monotonic() < committed + 30, "the projector never showed it"
                await asyncio.sleep(0.001)
            lags.append(time.monotonic() - committed)
    return {
        "p50_ms": round(statistics.median(lags) * 1000, 2),
        "max_ms": round(max(lags) * 1000, 2),
    }


# --- the run --------------------------------------------------------------------------------


async def prepare(url: str, redis_url: str, count: int) -> dict[str, Any]:
    conn = await connect(url)
    redis = aioredis.from_url(redis_url)
    try:
        from licenceflow.clock import BusinessClock, ClockAnchor
        from licenceflow.store import clock as stored_clock

        settings = Settings(database_url=url, jwt_secret=SECRET)
        anchor = await stored_clock.load_anchor(
            conn, ClockAnchor.proposed(settings.clock_start, settings.clock_speed)
        )
        ctx = Context(clock=BusinessClock(anchor), calendar=WorkingCalendar())
        started = time.monotonic()
        await load(url, ctx, count)
        loaded = time.monotonic() - started
        await redis.flushdb()
        started = time.monotonic()
        await one_pass(conn, redis, WorkingCalendar())
        projected = time.monotonic() - started

        # the SQL of one create and of one read by id, as the service runs them
        create_sql, app = await creation_statements(conn, ctx)

        async def read() -> None:  # the point lookup; the service batches it (store.batched)
            await applications_store.get(conn, app.id, EXPORTER.visibility)

        read_sql = await captured(conn, read)
        submitted = [
            str(r["id"])
            for r in await conn.fetch(
                "SELECT id FROM applications WHERE status = 'submitted' ORDER BY random()"
            )
        ]
        return {
            "loaded_seconds": round(loaded, 1),
            "projected_seconds": round(projected, 1),
            "create_sql": create_sql,
            "read_sql": read_sql,
            "read_id": str(app.id),
            "unique": unique_per_transaction(app),
            "submitted": submitted,
        }
    finally:
        await redis.aclose()
        await conn.close()


def unique_per_transaction(app: Application) -> dict[str, str]:
    """What must differ in every pgbench transaction, as an expression of its random `:n`: the
    application's id, and the placeholder reference it is inserted under, which must stay a
    placeholder so that the commit numbers it as it numbers the service's."""
    id = "lpad(to_hex(:n::bigint), 32, '0')::uuid"
    placeholder = app.reference.removesuffix(str(app.id))  # 'EL-2026-pending-'
    assert placeholder != app.reference, "the placeholder reference names the id"
    return {str(app.id): id, app.reference: f"'{placeholder}' || ({id})::text"}


async def settled(url: str) -> float:
    """Seconds until the server's outbox relay has published the follow-up work of the loaded
    applications (two rows each): measuring while it drains would charge its work to whichever
    path ran meanwhile."""
    conn = await connect(url)
    try:
        started = time.monotonic()
        while await conn.fetchval(  # as the relay claims them: due now, not yet published
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND available_at IS NULL"
        ):
            assert time.monotonic() < started + 300, "the relay did not settle the outbox"
            await asyncio.sleep(0.5)
        return round(time.monotonic() - started, 1)
    finally:
        await conn.close()


async def set_aside(url: str, application_id: str) -> None:
    """pgbench's creations wrote outbox rows too, every one naming the captured application:
    no work of the service's, so they are marked published, not left for its relay to publish
    while the paths after are measured."""
    conn = await connect(url)
    try:
        await conn.execute(
            """UPDATE outbox SET published_at = now()
               WHERE published_at IS NULL AND payload->>'application_id' = $1""",
            application_id,
        )
    finally:
        await conn.close()


def page_cursor(base: str, token: str, page: int) -> str:
    """The cursor of the list's `page`-th page (walked from the first)."""
    cursor = ""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(page - 1):
            answer = http.get("/v1/applications", params={"cursor": cursor} if cursor else {})
            cursor = answer.json()["next_cursor"]
            assert cursor, "fewer pages than asked for"
    return cursor


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    options.add_argument("--applications", type=int, default=50_000)
    options.add_argument("--seconds", type=int, default=10)
    options.add_argument("--page", type=int, default=1000, help="the deep page of the list")
    options.add_argument("--out", default=str(ROOT / "tests/artifacts/bench.json"))
    args = options.parse_args()
    admin = os.environ.get(
        "LICENCEFLOW_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("LICENCEFLOW_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    need("wrk", "wrk")
    need("pgbench", "postgresql-client")
    name, url = asyncio.run(harness.create_database(admin))
    folder = Path(tempfile.mkdtemp(prefix="licenceflow-bench-"))
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "paths": {}}
    paths: dict[str, dict[str, Any]] = results["paths"]
    try:
        env = {
            **os.environ,
            "LICENCEFLOW_DATABASE_URL": url,
            "LICENCEFLOW_REDIS_URL": redis_url,
            "LICENCEFLOW_JWT_SECRET": SECRET,
            "LICENCEFLOW_WEB_WORKERS": str(WORKERS),
            "LICENCEFLOW_AUTHORITY": "human",
            "LICENCEFLOW_LOG_LEVEL": "warning",
            "LICENCEFLOW_BENCHMARK_ENDPOINT": "true",
            "LICENCEFLOW_CLOCK_SPEED": "0",  # business time stands still: every run alike
            # one principal drives thousands of requests a second: the service's capacity is
            # measured, not the per-principal limit (LICENCEFLOW_RATE_LIMIT_PER_SECOND)
            "LICENCEFLOW_RATE_LIMIT_PER_SECOND": "0",
        }
        subprocess.run([sys.executable, "-m", "licenceflow", "migrate"], env=env, check=True)
        print(f"loading {args.applications:,} applications ...", flush=True)
        data = asyncio.run(prepare(url, redis_url, args.applications))
        results |= {k: data[k] for k in ("loaded_seconds", "projected_seconds")}
        settings = Settings(jwt_secret=SECRET)
        exporter = issue_token(
            settings, sub="bench", org=ORG, roles=["exporter"], ttl=timedelta(hours=2)
        )
        officer = issue_token(
            settings,
            sub="bench-officer",
            org="authority",
            roles=["officer"],
            ttl=timedelta(hours=2),
        )
        create_script = pgbench_script(data["create_sql"], data["unique"])
        read_script = pgbench_script(data["read_sql"], {})
        seconds = args.seconds
        port = free_port()
        with serving(env, port, folder / "serve.log") as base:
            results["settled_seconds"] = asyncio.run(settled(url))
            auth = {"Authorization": f"Bearer {exporter}"}
            backlog = httpx.get(f"{base}/v1/metrics/backlog", headers=auth)
            backlog_bytes = len(backlog.content)
            deep = page_cursor(base, exporter, args.page)
            body = msgspec.json.encode(application_body(submit=True, planned_ship_date=ahead()))
            runs = {
                "no-I/O endpoint": (f"/benchmark/static?size={backlog_bytes}", None, auth),
                "read by id": (f"/v1/applications/{data['read_id']}", None, auth),
                "list, page 1": ("/v1/applications", None, auth),
                "list, deep page": (f"/v1/applications?cursor={deep}", None, auth),
                "backlog": ("/v1/metrics/backlog", None, auth),
                "create": ("/v1/applications", post_script(folder, body), auth),
                "action (accept)": (
                    "/",
                    action_script(folder, data["submitted"]),
                    {"Authorization": f"Bearer {officer}"},
                ),
            }
            for label, (path, script, headers) in runs.items():
                print(f"wrk: {label} ...", flush=True)
                paths[label] = wrk(base + path, seconds, script, headers)
                if label == "read by id":
                    print("pgbench: read by id ...", flush=True)
                    paths["pgbench read by id"] = pgbench(url, "read", read_script, seconds, folder)
                if label == "create":
                    print("pgbench: create ...", flush=True)
                    paths["pgbench create"] = pgbench(url, "create", create_script, seconds, folder)
                    asyncio.run(set_aside(url, data["read_id"]))

            print("open loop at 60% of the maxima ...", flush=True)
            open_loop: dict[str, Any] = {}
            sessions: dict[str, dict[str, Any]] = {}  # PostgreSQL's sessions, sampled
            read_path = f"/v1/applications/{data['read_id']}"
            static_path = f"/benchmark/static?size={backlog_bytes}"
            for label, path, method, payload in (
                ("read by id", read_path, "GET", b""),
                ("create", "/v1/applications", "POST", body),
            ):
                rate = round(0.6 * paths[label]["rps"])
                # A create spends its time in PostgreSQL: its sessions are sampled meanwhile,
                # and beside its reference's loop too, so that both sides of the ratio share
                # the machine with the sampler. A read's sessions are all but idle: no sampler.
                profiled = label == "create"
                sampled = sessions.setdefault(label, {}) if profiled else {}
                with sampling_waits(url, sampled) if profiled else nullcontext():
                    measured = asyncio.run(
                        openloop.run(
                            "127.0.0.1",
                            port,
                            lambda _, p=path, m=method, b=payload: raw_request(m, p, exporter, b),
                            rate=rate,
                            seconds=seconds,
                        )
                    )
                with sampling_waits(url, {}) if profiled else nullcontext():
                    reference = asyncio.run(
                        openloop.run(
                            "127.0.0.1",
                            port,
                            lambda _: raw_request("GET", static_path, exporter),
                            rate=rate,
                            seconds=seconds,
                        )
                    )
                open_loop[label] = measured.summary() | {"statuses": measured.statuses}
                open_loop[f"no-I/O endpoint at the {label} rate"] = reference.summary()
            # PostgreSQL's own tail for the create's transaction at the create's rate
            rate = open_loop["create"]["rate"]
            with sampling_waits(url, sessions.setdefault("pgbench create", {})):
                open_loop["pgbench create at the create rate"] = {"rate": rate} | pgbench(
                    url, "create-rate", create_script, seconds, folder, rate=rate
                )
            asyncio.run(set_aside(url, data["read_id"]))
            results["open_loop"] = open_loop
            results["sessions_open_loop"] = sessions
            with running(["projector"], env, folder / "projector.log"):
                results["projector_lag"] = asyncio.run(projector_lag(base, exporter))
        results["backlog_bytes"] = backlog_bytes
        results["deep_page"] = args.page
        results["ratios"] = ratios(paths, results["open_loop"])
    finally:
        asyncio.run(harness.drop_database(admin, name))
        shutil.rmtree(folder, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\nwritten to {out}")
    return 0


def ratios(paths: dict[str, dict[str, Any]], open_loop: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path, (reference, target) in TARGETS.items():
        ratio = paths[path]["rps"] / paths[reference]["rps"]
        found[f"{path} / {reference} (rps)"] = {
            "ratio": round(ratio, 3),
            "target": f">= {target}",
            "met": ratio >= target,
        }
    pages = paths["list, deep page"]["rps"] / paths["list, page 1"]["rps"]
    found["list deep page / page 1 (rps)"] = {
        "ratio": round(pages, 3),
        "target": "within 20%",
        "met": abs(1 - pages) <= 0.2,
    }
    for label, limit in (("read by id", 3.0), ("create", 6.0)):
        p99 = (
            open_loop[label]["p99_ms"] / open_loop[f"no-I/O endpoint at the {label} rate"]["p99_ms"]
        )
        found[f"{label} p99 / no-I/O p99, open loop at 60% of max"] = {
            "ratio": round(p99, 2),
            "target": f"<= {limit}",
            "met": p99 <= limit,
        }
    return found


def table(results: dict[str, Any]) -> str:
    paths = results["paths"]
    lines = [
        f"{'path':<22} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8}",
        *(
            f"{label:<22} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}"
            for label, r in paths.items()
        ),
        "",
        f"{'open loop (60% of max)':<40} {'rate':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}",
        *(
            f"{label:<40} {r['rate']:>6.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}"
            f" {r['max_ms']:>8.2f}"
            for label, r in results["open_loop"].items()
        ),
        "",
        f"{'ratio':<58} {'value':>7}  {'target':<11} met",
        *(
            f"{label:<58} {r['ratio']:>7.3f}  {r['target']:<11} {'yes' if r['met'] else 'NO'}"
            for label, r in results["ratios"].items()
        ),
        "",
        *sessions_table(results["sessions_open_loop"]),
        "",
        f"projector lag (commit → visible): p50 {results['projector_lag']['p50_ms']} ms,"
        f" max {results['projector_lag']['max_ms']} ms; loaded in {results['loaded_seconds']} s,"
        f" the outbox relay settled {results['settled_seconds']} s after the server started",
    ]
    return "\n".join(lines)


def sessions_table(sampled: dict[str, dict[str, Any]], rows: int = 8) -> list[str]:
    """Per run sampled: how many sessions were busy on average, and the share of each state,
    the busiest states of the create's open loop first."""
    columns = list(sampled)
    shares = {label: waits.shares(found) for label, found in sampled.items()}
    states = sorted(
        {state for found in shares.values() for state in found},
        key=lambda state: -shares.get("create", {}).get(state, 0.0),
    )
    busy = {
        label: sum(found["sessions"].values()) / max(1, found["samples"])
        for label, found in sampled.items()
    }
    shown = states[:rows]
    hz = max(found["hz"] for found in sampled.values())
    title = f"PostgreSQL's sessions, open loop (pg_stat_activity, {hz:.0f}/s)"
    width = max([len(title), *(len(state) + 2 for state in shown)])
    return [
        f"{title:<{width}}" + "".join(f" {c:>16}" for c in columns),
        f"{'  busy, mean':<{width}}" + "".join(f" {busy[c]:>16.2f}" for c in columns),
        *(
            f"{'  ' + state:<{width}}"
            + "".join(f" {shares[c].get(state, 0.0):>16.1%}" for c in columns)
            for state in shown
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
