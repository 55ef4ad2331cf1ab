"""The calibrated scenarios, run the way a user runs them: `licenceflow dev --scenario NAME
--speed 86400` (API, desks, scheduler and simulated exporters), on a database of their own."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from licenceflow.domain.licences import add_months
from licenceflow.store.pool import Connection
from tests.private_redis import PrivateRedis, free_port

SPEED = 86400  # one business day per second
SUMMARY = re.compile(r"^\{\n  \"scenario\".*?^\}", re.M | re.S)


@dataclass
class Run:
    summary: dict[str, object]
    pending_over_time: list[int]


def start_dev(
    scenario: str, days: int, env: dict[str, str], log: Path, tmp: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "licenceflow",
                "dev",
                "--scenario",
                scenario,
                "--speed",
                str(SPEED),
                "--duration",
                str(days),
                "--port",
                str(free_port()),
                "--data-dir",
                str(tmp / "data"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def run_dev(
    scenario: str, start: str, days: int, db_url: str, redis_url: str, db: Connection, tmp: Path
) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICENCEFLOW_")} | {
        "LICENCEFLOW_DATABASE_URL": db_url,
        "LICENCEFLOW_REDIS_URL": redis_url,
        "LICENCEFLOW_CLOCK_START": start,
        "LICENCEFLOW_LOG_LEVEL": "warning",
    }
    log = tmp / "dev.log"
    dev = start_dev(scenario, days, env, log, tmp)
    # the exporters start filing after `dev` has booted and file for `days` business days: up to
    # this moment they are still filing (after it, the officers' last decisions drain the queue)
    filing_until = time.monotonic() + days * 86400 / SPEED
    pending: list[int] = []
    try:
        deadline = time.monotonic() + days * 1.6 + 60
        while not SUMMARY.search(log.read_text()):
            assert dev.poll() is None, what_it_said(log, tmp)
            assert time.monotonic() < deadline, what_it_said(log, tmp)
            if time.monotonic() < filing_until:
                pending.append(
                    await db.fetchval(
                        """SELECT count(*) FROM applications
                       WHERE status IN ('submitted', 'under_review', 'info_requested', 'delayed')"""
                    )
                )
            await asyncio.sleep(5)
        match = SUMMARY.search(log.read_text())
        assert match is not None
        return Run(json.loads(match.group(0)), pending)
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=60)


def what_it_said(log: Path, tmp: Path) -> str:
    """The terminal's tail and each process's own log: why a run never summed up."""
    parts = [log.read_text()[-3000:]]
    for process_log in sorted((tmp / "data" / "logs").glob("*.log")):
        parts.append(f"--- {process_log.name}\n{process_log.read_text()[-1500:]}")
    return "\n".join(parts)


@pytest.mark.timeout(300)
async def test_april_2025_builds_a_backlog_and_approves_about_a_quarter(
    fresh_db: tuple[str, Connection], private_redis: PrivateRedis, tmp_path: Path
) -> None:
    url, db = fresh_db
    # From Monday 7 April 2025, the first working day after the regime began, two months.
    run = await run_dev(
        "april-2025", "2025-04-07T09:00:00+08:00", 61, url, private_redis.url, db, tmp_path
    )
    filed = await db.fetchval("SELECT count(*) FROM applications WHERE submitted_at IS NOT NULL")
    approved = await db.fetchval(
        "SELECT count(*) FROM applications WHERE status IN ('approved', 'temporarily_approved')"
    )
    share = approved / filed
    print(
        f"\napril-2025 after two months: {run.summary}; approval_share {share:.3f}; "
        f"pending over time {run.pending_over_time}"
    )
    assert run.summary["filed"] == filed
    assert abs(share - 0.25) <= 0.10
    late = run.pending_over_time[len(run.pending_over_time) // 2 :]
    assert late == sorted(late)  # the backlog keeps growing
    assert run.pending_over_time[-1] > 2 * run.pending_over_time[len(run.pending_over_time) // 4]


@pytest.mark.timeout(300)
async def test_london_talks_grant_six_month_licences_to_automotive_users(
    fresh_db: tuple[str, Connection], private_redis: PrivateRedis, tmp_path: Path
) -> None:
    url, db = fresh_db
    await run_dev(
        "london-talks-2025", "2025-06-09T09:00:00+08:00", 30, url, private_redis.url, db, tmp_path
    )
    rows = await db.fetch(
        """SELECT l.kind, l.valid_from, l.valid_until, a.filing->>'end_use_category' AS use
           FROM licences l JOIN applications a ON a.id = l.application_id"""
    )
    temporary = [r for r in rows if r["kind"] == "temporary"]
    automotive = [r for r in rows if r["use"] == "automotive"]
    print(
        f"\nlondon-talks-2025: {len(rows)} licences, {len(temporary)} temporary, "
        f"{len(automotive)} for automotive end use"
    )
    assert temporary, "no temporary licence was issued"
    assert all(r["use"] == "automotive" for r in temporary)
    assert all(r["valid_until"] == add_months(r["valid_from"], 6) for r in temporary)
    assert len(temporary) / len(automotive) >= 0.6
    assert all(isinstance(r["valid_from"], date) for r in rows)
