"""Shared values for the pure unit tests: API.md's example filing, the default calendar, and a
builder of `Application` values in any status (no database, no clock, no I/O)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
import pytest

from licenceflow.clock import WorkingCalendar
from licenceflow.domain.applications import Application, Status
from licenceflow.domain.filing import Filing
from tests.examples import EXAMPLE_FILING

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def body() -> dict[str, Any]:
    """A fresh, mutable copy of the example body."""
    return copy.deepcopy(EXAMPLE_FILING)


@pytest.fixture(scope="session")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.fixture(scope="session")
def filing() -> Filing:
    return msgspec.convert(copy.deepcopy(EXAMPLE_FILING), Filing)


@pytest.fixture
def make_app(filing: Filing) -> Callable[..., Application]:
    """`make_app(status, **fields)`: an application in `status`, version 3, created May 2025."""

    def build(status: Status | str, **fields: Any) -> Application:
        values: dict[str, Any] = {
            "id": UUID("00000000-0000-4000-8000-000000000001"),
            "org": "acme",
            "reference": "EL-2025-000001",
            "version": 3,
            "filing": filing,
            "created_by": "alice",
            "created_at": datetime(2025, 5, 30, 9, 0, tzinfo=SHANGHAI),
        }
        values.update(fields)
        return Application(status=Status(status), **values)

    return build
