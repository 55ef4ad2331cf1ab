"""Example requests shared by every test layer: API.md's example application."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import msgspec

from licenceflow.api.openapi_headers import EXAMPLE_FILING, EXAMPLE_LINE
from licenceflow.domain.filing import NewApplication


def line(**changes: Any) -> dict[str, Any]:
    """The example line with `changes`."""
    return copy.deepcopy(EXAMPLE_LINE) | changes


def application_body(**overrides: Any) -> dict[str, Any]:
    """The example POST body (a draft unless `submit=True`), with `overrides`."""
    return copy.deepcopy(EXAMPLE_FILING) | {"submit": False} | overrides


def new_application(**overrides: Any) -> NewApplication:
    """The example body as the typed command a caller in the process passes to `create`."""
    return msgspec.convert(application_body(**overrides), NewApplication)


def ahead(days: int = 60) -> str:
    """A planned ship date still ahead on a real clock, for runs whose business clock is now
    (API.md's example ships in July 2025, and a past date is refused at submission)."""
    return (date.today() + timedelta(days=days)).isoformat()
