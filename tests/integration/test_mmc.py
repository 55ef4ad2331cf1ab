"""The review desk behaves as a c-server queue: the `mmc` scenario on real Celery workers.

Poisson arrivals (lambda = 3.2/s), exponential service (mean 1 s), c = 4 officers
(utilisation 0.8), 1,000 applications, fixed seeds. From the recorded timestamps (published,
started, finished, slot released): the arrivals and services fit their declared distributions;
the measured mean wait is within 10% of an exact FCFS c-server replay of the same arrivals with
the service times the officers drew (the queue the scenario asks for, the machinery left out),
and matches the replay in which each job holds its server as it really did, from its start until
its slot was free to start the next (the queue the machinery delivers). The machinery's overhead
per job is reported apart, in its three parts."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import statistics
import subprocess
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from licenceflow.clock import ClockAnchor, real_utc_now
from licenceflow.config import Settings
from licenceflow.simulation import scenarios
from licenceflow.store import clock as stored_clock
from licenceflow.store.pool import Connection
from tests.integration.conftest import Tokens, application_body
from tests.integration.served import serving
from tests.private_redis import PrivateRedis
from tests.processes import start
from tests.queueing import (
    erlang_c_wait,
    fcfs_waits,
    ks_critical,
    ks_exponential,
    mean_critical,
)
from tests.reports import report

JOBS = 1000
SPEED = 864.0  # one business day in 100 s: the scenario's rates become lambda 3.2/s, mu 1/s
ALPHA = 0.001
DEADLINE = 120.0
# The machinery's budget: the measured mean wait at most 10% above the replay with the drawn
# service times. At rho 0.8 a wait grows about five times as fast as the service (one job's
# overhead of 1% of its service lengthens the queue by ~5%), so the budget holds for an overhead
# up to ~2% of the mean service: the reason the service is 1 s here (at 0.5 s, the ~9 ms per job
# of broker hand-over, transaction and release made it 1.14–1.17).
BUDGET = 1.10


def slot_holds(
    runs: list[Any], published: list[float], started: list[float], released: list[float]
) -> list[float]:
    """How long each job kept its worker slot from taking another: until the task returned, or,
    when the next job was already waiting by then, until that job started on the same slot (the
    broker round trip and the pool's dispatch are the slot's, not the queue's)."""
    by_slot: dict[str, list[int]] = defaultdict(list)
    for index, run in enumerate(runs):
        by_slot[run["slot"]].append(index)
    holds = [r - s for s, r in zip(started, released, strict=True)]
    for jobs in by_slot.values():
        jobs.sort(key=lambda i: started[i])
        for this, following in itertools.pairwise(jobs):
            if published[following] <= released[this]:
                holds[this] = started[following] - started[this]
    return holds


async def watch_review_queue(
    client: httpx.AsyncClient, auth: Tokens, depths: list[tuple[float, int]]
) -> None:
    """Sample the review queue's depth through the backlog endpoint, ten times a second."""
    while True:
        answer = await client.get("/v1/metrics/backlog", headers=auth("viewer"))
        depths.append((time.time(), answer.json()["queues"]["review"]["depth"]))
        await asyncio.sleep(0.1)  # the sampling interval


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def until_released(db: Connection, ids: list[str], log: Path) -> None:
    """Poll until every one of these applications' runs has released its slot."""
    deadline = time.monotonic() + DEADLINE
    while await db.fetchval(
        """SELECT count(*) FROM authority_runs
               WHERE application_id = ANY($1::uuid[]) AND released_at IS NOT NULL""",
        ids,
    ) < len(ids):
        assert time.monotonic() < deadline, tail(log)
        await asyncio.sleep(0.1)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The review desk: one worker slot per officer of the scenario."""
    return start(["worker", "--queues", "review"], env, log)


@pytest.mark.timing
@pytest.mark.timeout(600)
async def test_the_review_desk_is_an_mmc_queue(
    settings: Settings, auth: Tokens, db: Connection, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    scenario = scenarios.load("mmc")
    servers = scenario.review.officers
    lam = scenario.arrivals.per_day * SPEED / 86400  # per real second
    mu = 1 / (scenario.review.service.mean * 86400 / SPEED)
    assert 0.7 <= lam / (servers * mu) <= 0.85

    original = await stored_clock.current(db)
    assert original is not None
    await stored_clock.save_anchor(
        db,
        ClockAnchor(real=real_utc_now(), business=datetime(2025, 6, 2, tzinfo=UTC), speed=SPEED),
    )
    env = {
        **os.environ,
        "LICENCEFLOW_DATABASE_URL": settings.database_url or "",
        "LICENCEFLOW_REDIS_URL": private_redis.url,
        "LICENCEFLOW_SCENARIO": "mmc",
        "LICENCEFLOW_LOG_LEVEL": "warning",
    }
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    # The API runs at the same pace (a process with another speed would re-anchor the clock),
    # in a process of its own: sharing this event loop, its work would delay the filings due
    # meanwhile and bend the arrivals away from Poisson.
    api = msgspec.structs.replace(
        settings, redis_url=private_redis.url, scenario="mmc", clock_speed=SPEED
    )
    ids: list[str] = []
    depths: list[tuple[float, int]] = []  # (when, review queue depth) as the backlog reported
    try:
        async with (
            serving(api, tmp_path / "serve.log") as base,
            httpx.AsyncClient(base_url=base, timeout=30) as client,
        ):
            warm_up = [  # not measured: the worker's processes and the API get going
                (
                    await client.post(
                        "/v1/applications",
                        json=application_body(submit=True),
                        headers=auth("exporter"),
                    )
                ).json()["id"]
                for _ in range(5)
            ]
            await until_released(db, warm_up, log)
            watcher = asyncio.create_task(watch_review_queue(client, auth, depths))
            rng = random.Random(scenario.seed)
            loop = asyncio.get_running_loop()
            t0, due = loop.time(), 0.0
            filings: set[asyncio.Task[None]] = set()

            async def file() -> None:
                response = await client.post(
                    "/v1/applications",
                    json=application_body(submit=True),
                    headers=auth("exporter"),
                )
                assert response.status_code == 201
                ids.append(response.json()["id"])

            for _ in range(JOBS):
                due += rng.expovariate(lam)
                await asyncio.sleep(max(0.0, t0 + due - loop.time()))
                task = asyncio.create_task(file())
                filings.add(task)
                task.add_done_callback(filings.discard)
            await asyncio.gather(*filings)
            await until_released(db, ids, log)
            watcher.cancel()
        runs = await db.fetch(
            """SELECT published_at, started_at, finished_at, released_at, service_seconds, slot
               FROM authority_runs
               WHERE application_id = ANY($1::uuid[]) ORDER BY published_at""",
            ids,
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        await stored_clock.save_anchor(db, original)

    assert len(runs) == JOBS  # one run per application: nothing decided twice
    published = [r["published_at"].timestamp() for r in runs]
    started = [r["started_at"].timestamp() for r in runs]
    finished = [r["finished_at"].timestamp() for r in runs]
    released = [r["released_at"].timestamp() for r in runs]
    gaps = [b - a for a, b in itertools.pairwise(published)]
    services = [r["service_seconds"] for r in runs]  # how long each officer worked on it
    holds = slot_holds(runs, published, started, released)
    waits = [s - p for p, s in zip(published, started, strict=True)]
    arrivals = [p - published[0] for p in published]
    replay = fcfs_waits(arrivals, holds, servers)  # each job holding its slot as it really did
    # each job holding an officer for the service time the scenario drew, and no more: the
    # queue the scenario makes, the machinery left out
    drawn = fcfs_waits(arrivals, services, servers)

    measured_wait, replay_wait = statistics.fmean(waits), statistics.fmean(replay)
    drawn_wait = statistics.fmean(drawn)
    # the machinery's time per job on a slot beyond the drawn service, in its parts: the
    # decision's transaction, the commit and release, and the hand-over to the next job
    overhead_ms = (statistics.fmean(holds) - statistics.fmean(services)) * 1000
    deciding_ms = statistics.fmean(map(float.__sub__, finished, started)) * 1000
    deciding_ms -= statistics.fmean(services) * 1000
    releasing_ms = statistics.fmean(map(float.__sub__, released, finished)) * 1000
    assert all(s <= f <= r for s, f, r in zip(started, finished, released, strict=True))
    theory = erlang_c_wait(servers, lam, mu)
    # Little's law: jobs waiting on average = arrival rate × mean wait, over the whole run
    sampled = [depth for when, depth in depths if published[0] <= when <= max(started)]
    queue_depth, little = statistics.fmean(sampled), lam * measured_wait
    # The one delay no slot accounts for: a job that finds a slot free still waits for the
    # broker to hand it over (the replay starts it at once).
    pickups = [w for w, r in zip(waits, replay, strict=True) if r == 0]
    report(
        f"M/M/{servers}: lambda {lam:.2f}/s, mu {mu:.2f}/s, rho {lam / servers / mu:.2f}; "
        f"arrivals mean gap {statistics.fmean(gaps) * 1000:.1f} ms "
        f"(declared {1000 / lam:.1f}), D={ks_exponential(gaps, lam):.4f}; "
        f"service mean {statistics.fmean(services) * 1000:.1f} ms (declared {1000 / mu:.1f}), "
        f"D={ks_exponential(services, mu):.4f}; critical D {ks_critical(JOBS, ALPHA):.4f}\n"
        f"mean wait measured {measured_wait * 1000:.1f} ms; FCFS replay with the drawn service"
        f" times {drawn_wait * 1000:.1f} ms (ratio {measured_wait / drawn_wait:.3f}), with the"
        f" slots' holds {replay_wait * 1000:.1f} ms (ratio {measured_wait / replay_wait:.3f});"
        f" Erlang C {theory * 1000:.1f} ms;"
        f" machinery per job on a slot {overhead_ms:.1f} ms (deciding {deciding_ms:.1f},"
        f" commit and release {releasing_ms:.1f}, hand-over to the next job"
        f" {overhead_ms - deciding_ms - releasing_ms:.1f}); pickup by a free slot"
        f" {statistics.fmean(pickups) * 1000:.1f} ms ({len(pickups)} jobs)\n"
        f"review queue depth from the backlog endpoint, mean of {len(sampled)} samples:"
        f" {queue_depth:.2f}; lambda x mean wait {little:.2f}"
    )
    # (a) the arrivals and the services fit the declared lambda and mu
    assert ks_exponential(gaps, lam) < ks_critical(len(gaps), ALPHA)
    assert ks_exponential(services, mu) < ks_critical(len(services), ALPHA)
    # the means, within what chance allows at ALPHA (1,000 draws: ±10.4%). A fixed ±5% was 1.6
    # standard errors: the officers' dice are seeded by reference and trigger, so each run
    # draws nearly the same services, whose mean sat at 519–532 ms (the sleeps overshot by
    # 1.4 ms on average), on the edge of 525
    assert abs(statistics.fmean(gaps) - 1 / lam) < mean_critical(len(gaps), 1 / lam, ALPHA)
    assert abs(statistics.fmean(services) - 1 / mu) < mean_critical(len(services), 1 / mu, ALPHA)
    # (b) the queue is the scenario's: within the machinery's budget of the drawn replay
    assert measured_wait <= BUDGET * drawn_wait
    # (c) and the machinery queues like an FCFS c-server system holding each slot start → release
    assert measured_wait == pytest.approx(replay_wait, rel=0.10)
    # the backlog endpoint's queue depth obeys Little's law (issue 5)
    assert len(sampled) > 500
    assert queue_depth == pytest.approx(little, rel=0.25)
