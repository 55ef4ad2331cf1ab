"""Each guarantee the suite claims, broken on purpose: the test that names it must then fail.

    python -m tests.mutants            # every mutant; exits 1 if one survives
    python -m tests.mutants NAME ...   # the mutants whose names start with NAME

A mutant is the smallest change that removes one guarantee (a row lock, a compare-and-set, a
guard). It is applied to a copy of the package in a temporary folder, put first on PYTHONPATH so
that the processes the tests start run it too, and the tests that claim the guarantee run
against it: they must fail. Before that, the same tests run against the unchanged copy and must
pass, so a failure is the mutant's doing. Prints the table: mutant → the tests that kill it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "services" / "licenceflow"
CONCURRENCY = "tests/integration/test_concurrency.py"
LICENCES = "tests/integration/test_licences.py"
DRAFTS = "tests/integration/test_deleting_drafts.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # below services/licenceflow
    original: str  # found exactly once
    mutated: str
    killed_by: tuple[str, ...]  # pytest node ids


MUTANTS = (
    Mutant(
        "application row lock",
        "workflow/applications.py",
        "app = await store.get(conn, id, principal.visibility, for_update=True)",
        "app = await store.get(conn, id, principal.visibility, for_update=False)",
        (
            f"{CONCURRENCY}::test_without_if_match_actions_are_judged_in_turn",
            f"{DRAFTS}::test_a_submit_and_a_delete_at_once_are_judged_in_turn",
        ),
    ),
    Mutant(
        "If-Match precondition",
        "workflow/preconditions.py",
        "if if_match is not None and current not in if_match:",
        "if False:",
        (f"{CONCURRENCY}::test_twenty_concurrent_actions_one_wins",),
    ),
    Mutant(
        "application compare-and-set",
        "store/applications.py",
        "WHERE id = $1 AND version = ${_WRITTEN_COUNT + 1}",
        "WHERE id = $1 AND ${_WRITTEN_COUNT + 1}::int IS NOT NULL",
        (f"{CONCURRENCY}::test_a_write_on_a_stale_version_writes_nothing",),
    ),
    Mutant(
        "draft delete compare-and-set",
        "store/applications.py",
        "DELETE FROM applications WHERE id = $1 AND version = $2 RETURNING 1",
        "DELETE FROM applications WHERE id = $1 AND $2::int IS NOT NULL RETURNING 1",
        (f"{DRAFTS}::test_a_delete_on_a_stale_version_deletes_nothing",),
    ),
    Mutant(
        "idempotency in-progress guard",
        "store/idempotency.py",
        '"SELECT pg_try_advisory_xact_lock(hashtext($1 || chr(31) || $2), hashtext($3))",',
        '"SELECT hashtext($1 || chr(31) || $2) IS NOT NULL OR hashtext($3) IS NOT NULL",',
        (f"{CONCURRENCY}::test_same_idempotency_key_ten_times_at_once_creates_one",),
    ),
    Mutant(
        "reference numbered at commit",
        "store/migrations/0006_number_at_commit.sql",
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW",
        "NOT DEFERRABLE FOR EACH ROW",
        (f"{CONCURRENCY}::test_references_are_given_at_commit_in_commit_order",),
    ),
    Mutant(
        "licence row lock",
        "workflow/licences.py",
        "licence = await store.get(conn, id, principal.visibility, for_update=True)",
        "licence = await store.get(conn, id, principal.visibility, for_update=False)",
        (
            f"{LICENCES}::test_fifty_concurrent_shipments_never_overdraw",
            f"{LICENCES}::test_a_replayed_shipment_is_recorded_once_even_concurrently",
        ),
    ),
    Mutant(
        "a task's trigger_seq guard",
        "store/events.py",
        "WHERE stream_id = $1 AND seq > $2 AND actor_role = $3)",
        "WHERE stream_id = $1 AND seq > $2 AND actor_role = $3 AND false)",
        (
            "tests/integration/test_authority_tasks.py::"
            "test_a_review_task_queued_before_a_referral_does_nothing",
        ),
    ),
    Mutant(
        "projector's position check",
        "metrics/projector.py",
        "if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end",
        "if false then return 0 end",
        (
            "tests/integration/test_projector_kills.py::"
            "test_a_batch_two_projectors_read_is_applied_once",
        ),
    ),
    Mutant(
        "a task bound to its outbox row",
        "workers/authority.py",
        "or str(row.task_id) != job.task_id  # published under another id: not the relay's",
        "or False",
        (
            "tests/integration/test_authority_tasks.py::"
            "test_a_task_naming_no_work_of_its_desk_writes_nothing[another-task-id]",
        ),
    ),
    Mutant(
        "a licence line never overdrawn",
        "domain/licences.py",
        "        if shipped.quantity_kg > remaining:",
        "        if False:",
        ("tests/unit/test_state_machine.py::TestLifecycle",),
    ),
    Mutant(
        "a closed file never moves",
        "domain/applications.py",
        "    (S.UNDER_REVIEW, A.DEADLINE_PASSED): Rule(S.DELAYED, _SYSTEM),",
        "    (S.UNDER_REVIEW, A.DEADLINE_PASSED): Rule(S.DELAYED, _SYSTEM),\n"
        "    (S.APPROVED, A.WITHDRAW): Rule(S.WITHDRAWN, _EXPORTER),",
        ("tests/unit/test_state_machine.py::TestLifecycle",),
    ),
)


def pytest(copy: Path, tests: tuple[str, ...]) -> tuple[bool, str]:
    """Whether `tests` pass against the package in `copy`; and pytest's last lines."""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    why = next((line for line in lines if line.startswith("E ")), "")
    return done.returncode == 0, "\n".join([why[:160], *lines[-1:]])


def imported_from(copy: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(copy)}
    done = subprocess.run(
        [sys.executable, "-c", "import licenceflow; print(licenceflow.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip())


def run(mutants: list[Mutant]) -> int:
    survivors = []
    rows = []
    with tempfile.TemporaryDirectory(prefix="licenceflow-mutants-") as scratch:
        copy = Path(scratch)
        shutil.copytree(PACKAGE, copy / "licenceflow", ignore=shutil.ignore_patterns("__pycache__"))
        where = imported_from(copy)
        if not where.is_relative_to(copy):
            print(f"the copy is not what runs: licenceflow imports from {where}")
            return 2
        for mutant in mutants:
            target = copy / "licenceflow" / mutant.path
            source = target.read_text()
            if source.count(mutant.original) != 1:
                print(f"{mutant.name}: the original text is not in {mutant.path} exactly once")
                return 2
            passed, said = pytest(copy, mutant.killed_by)
            if not passed:
                print(f"{mutant.name}: its tests fail without the mutant:\n{said}")
                return 2
            target.write_text(source.replace(mutant.original, mutant.mutated))
            began = time.monotonic()
            try:
                survived, said = pytest(copy, mutant.killed_by)
            finally:
                target.write_text(source)
            verdict = "SURVIVED" if survived else "killed"
            if survived:
                survivors.append(mutant.name)
            rows.append((mutant, verdict, time.monotonic() - began))
            said = " / ".join(line.strip() for line in said.splitlines() if line.strip())
            print(f"{mutant.name}: {verdict} ({said})", flush=True)
    print("\n| mutant | change | killed by | verdict |\n|---|---|---|---|")
    for mutant, verdict, _ in rows:
        tests = ", ".join(f"`{t.rsplit('::', 1)[-1]}`" for t in mutant.killed_by)
        print(f"| {mutant.name} | `{mutant.path}`: `{mutant.mutated}` | {tests} | {verdict} |")
    return 1 if survivors else 0


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTANTS if not argv or any(m.name.startswith(a) for a in argv)]
    if not chosen:
        print(f"no mutant starts with {argv}; there are: {[m.name for m in MUTANTS]}")
        return 2
    return run(chosen)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
