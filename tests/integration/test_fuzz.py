"""schemathesis against a served API, from its own OpenAPI document (issue 18): every phase
(coverage, fuzzing, and the stateful one along the document's links, from a filing through
its review and licence to a shipment), each request with the token of a role that may make it
(fuzz_hooks.py). The run must find no 5xx, no answer outside the document (status, content
type, body, headers), no method answered wrongly, and raise no warning: no operation may see
nothing but 404 (unreachable by the links) or nothing but refusals (a document that allows what
the service refuses). fuzz.toml bounds it (25 examples an operation, 150 stateful scenarios)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import msgspec
import pytest

from licenceflow.config import Settings
from licenceflow.domain.filing import MAX_LINES
from licenceflow.store import migrations
from tests.examples import application_body
from tests.integration.conftest import Tokens
from tests.integration.served import serving
from tests.private_redis import PrivateRedis
from tests.reports import report

HERE = Path(__file__).parent
ROLES = ("exporter", "officer", "viewer")


@pytest.mark.timeout(600)
async def test_schemathesis_finds_no_5xx_no_answer_outside_the_schema_and_no_warning(
    settings: Settings,
    auth: Tokens,
    empty_database: str,
    private_redis: PrivateRedis,
    tmp_path: Path,
) -> None:
    conn = await asyncpg.connect(empty_database)  # the run files hundreds: a database of its own
    try:
        await migrations.migrate(conn)
    finally:
        await conn.close()
    fuzzed = msgspec.structs.replace(
        settings, database_url=empty_database, redis_url=private_redis.url, authority="human"
    )
    async with (
        serving(fuzzed, tmp_path / "serve.log") as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        licence_id = await issue_a_licence(http, auth)
        tokens = {role: auth(role)["Authorization"].removeprefix("Bearer ") for role in ROLES}
        tally = tmp_path / "tally"
        env = {
            **os.environ,
            "LICENCEFLOW_FUZZ_TOKENS": json.dumps(tokens),
            "LICENCEFLOW_FUZZ_LICENCE_ID": licence_id,
            "LICENCEFLOW_FUZZ_TALLY": str(tally),
        }
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "--no-color",
            "--config-file",
            str(HERE / "fuzz.toml"),
            "run",
            f"{base}/schema/openapi.json",
        ]
        run = await asyncio.to_thread(
            subprocess.run, command, env=env, capture_output=True, text=True, timeout=540
        )
    answers = tally.read_text().splitlines()
    reached = Counter(line.split(" ", 3)[2] for line in answers)
    report(f"schemathesis: {len(answers)} requests, by status {dict(sorted(reached.items()))}")
    refusals = Counter(line[:200] for line in answers if " 400 " in line or " 422 " in line)
    assert run.returncode == 0, (
        run.stdout[-12_000:]
        + run.stderr[-3_000:]
        + "\nthe most frequent refusals:\n"
        + "\n".join(f"{n} × {line}" for line, n in refusals.most_common(15))
    )
    assert reached["201"], "nothing was ever filed"
    assert reached["200"]


async def issue_a_licence(http: httpx.AsyncClient, auth: Tokens) -> str:
    """A standard licence through the API (filed and submitted, accepted, approved) with as
    many lines as a filing may have: every line number the schema allows names one of them."""
    body = application_body(submit=True)
    body["lines"] = body["lines"] * MAX_LINES
    filed = await http.post("/v1/applications", json=body, headers=auth("exporter"))
    assert filed.status_code == 201, filed.text
    actions = f"/v1/applications/{filed.json()['id']}/actions"
    for action in ("accept", "approve"):
        done = await http.post(actions, json={"action": action}, headers=auth("officer"))
        assert done.status_code == 200, done.text
    licence_id: str = done.json()["licence_id"]
    return licence_id
