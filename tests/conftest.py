"""Said at the end of every run: which PostgreSQL and Redis the tests ran on, and the figures
the tests reported (tests/reports.py)."""

from __future__ import annotations

import pytest

from tests import harness, reports


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for backend in dict.fromkeys(harness.used):  # one line per backend, however many sessions
        terminalreporter.write_line(f"servers: {backend}")
    for text in reports.summary:
        terminalreporter.write_line(text)
