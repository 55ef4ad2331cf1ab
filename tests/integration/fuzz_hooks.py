"""schemathesis hooks for tests/integration/test_fuzz.py (loaded by the CLI, `hooks` in
fuzz.toml): every request carries the token of a role that may make it, so that the stateful
phase walks real workflows (an exporter files, an officer accepts and approves, the exporter
ships against the licence) and reads are made by each role in turn.

The tokens come from LICENCEFLOW_FUZZ_TOKENS (JSON: role → token)."""

from __future__ import annotations

import itertools
import json
import os
import uuid
from typing import Any

import schemathesis

from licenceflow.domain import applications, licences
from licenceflow.domain.access import Role

READERS = itertools.cycle(("viewer", "exporter", "officer"))


def role_for(method: str, path: str, body: Any) -> str:
    """Reads: each role in turn. Actions: an officer for what an officer does; every other
    write (filing, editing, shipping, surrendering, answering): the exporter."""
    if method == "GET":
        return next(READERS)
    if path.endswith("/actions") and isinstance(body, dict):
        table = (
            licences.ACTION_ROLES if path.startswith("/v1/licences") else applications.ACTION_ROLES
        )
        for action, roles in table.items():
            if action.value == body.get("action") and Role.EXPORTER not in roles:
                return "officer"
    return "exporter"


@schemathesis.auth()
class ByRole:
    def get(self, case: Any, ctx: Any) -> dict[str, str]:
        tokens: dict[str, str] = json.loads(os.environ["LICENCEFLOW_FUZZ_TOKENS"])
        return tokens

    def set(self, case: Any, data: dict[str, str], ctx: Any) -> None:
        role = role_for(case.method.upper(), case.operation.path, case.body)
        headers = {**(case.headers or {}), "Authorization": f"Bearer {data[role]}"}
        if "Idempotency-Key" in headers:  # a client's key names one filing: never another body
            headers["Idempotency-Key"] = str(uuid.uuid4())
        case.headers = headers


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    """No made-up cursor: a cursor is a page's `next_cursor`, signed by the service, and one
    it did not give out is refused (400), as test_review_findings and test_drafts_and_lists
    check."""
    if case.query:
        case.query.pop("cursor", None)


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """Every answer's status, by operation, appended to LICENCEFLOW_FUZZ_TALLY (one line each):
    what the run reached, for its report."""
    if tally := os.environ.get("LICENCEFLOW_FUZZ_TALLY"):
        with open(tally, "a") as out:
            meta = case.meta
            mode = f"{meta.phase.name.value}/{meta.generation.mode.value}" if meta else "-"
            line = f"{case.method.upper()} {case.operation.path} {response.status_code} {mode}"
            if response.status_code in (400, 422):  # what was refused, and why
                line += f" {case.query} " + response.text[:160].replace("\n", " ")
            out.write(line + "\n")
