"""Said at the end of every run: which PostgreSQL and Redis the tests ran on."""

from __future__ import annotations

import pytest

from tests import harness


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for backend in harness.used:
        terminalreporter.write_line(f"servers: {backend}")
