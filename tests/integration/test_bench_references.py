"""The benchmark's pgbench reference for a creation does what a creation does in the service:
the same statements, arguments bound at each execution, and the same writes, numbering
included (a reference that skipped the commit's numbering once made creations look 2.4 times
slower than they were against it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar import Litestar

from licenceflow.store.pool import Connection
from tests.perf.bench import (
    creation_statements,
    pgbench,
    pgbench_script,
    unique_per_transaction,
)

TABLES = ("applications", "events", "outbox")


async def counts(db: Connection) -> dict[str, int]:
    return {table: await db.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}


async def test_the_create_reference_writes_numbers_and_audits_as_the_service_does(
    app: Litestar, db: Connection, database_url: str, tmp_path: Path
) -> None:
    statements, filed = await creation_statements(db, app.state.services.context)
    script = pgbench_script(statements, unique_per_transaction(filed))
    assert script.variables  # arguments are bound, not inlined
    before = await counts(db)

    measured = pgbench(database_url, "create", script, 1, tmp_path)

    after = await counts(db)
    created = after["applications"] - before["applications"]
    assert measured["failed"] == 0
    assert created > 0
    assert after["events"] - before["events"] == 2 * created  # filed, submitted
    assert after["outbox"] - before["outbox"] == 2 * created
    references = [
        r["reference"] for r in await db.fetch("SELECT reference FROM applications ORDER BY 1")
    ]
    numbers = sorted(int(reference.rsplit("-", 1)[1]) for reference in references)
    assert numbers == list(range(1, len(references) + 1))  # every one numbered, gapless


@pytest.mark.timing  # a rate in real time: measured in the quiet first run of `make test`
async def test_the_create_reference_holds_a_rate_when_given_one(
    app: Litestar, db: Connection, database_url: str, tmp_path: Path
) -> None:
    """At a rate (an open loop), each transaction is timed from its scheduled start."""
    statements, filed = await creation_statements(db, app.state.services.context)
    script = pgbench_script(statements, unique_per_transaction(filed))

    measured = pgbench(database_url, "create-rate", script, 2, tmp_path, rate=100)

    assert measured["failed"] == 0
    assert 70 <= measured["rps"] <= 130
    assert 0 < measured["p50_ms"] <= measured["p99_ms"] <= measured["max_ms"]
