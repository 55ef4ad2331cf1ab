"""Reading what a run left behind: processes' logs and Locust's CSV statistics; and the figures
a run reports in its closing summary (tests/conftest.py), where pytest's capture hides nothing."""

from __future__ import annotations

import csv
from pathlib import Path

# What this test process reports at its end, in order: backends, image sizes, load figures.
summary: list[str] = []


def report(text: str) -> None:
    summary.append(text)


def problems(log: str) -> list[str]:
    """The lines of a process's log that speak of an error."""
    return [
        line
        for line in log.splitlines()
        if "Traceback" in line
        or " ERROR " in line  # licenceflow's and Celery's format
        or " CRITICAL " in line
        or line.startswith(("ERROR:", "CRITICAL:"))  # uvicorn's
    ]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def table(rows: list[dict[str, str]]) -> str:
    """Requests, failures, requests per second and latency percentiles (ms), one line a name."""
    width = max(len(row["Name"]) for row in rows)
    head = f"{'request':<{width}} {'n':>6} {'fail':>5} {'rps':>6} {'p50':>5} {'p95':>5} {'p99':>5}"
    lines = [head + "  (ms)"]
    for row in rows:
        lines.append(
            f"{row['Name']:<{width}} {row['Request Count']:>6} {row['Failure Count']:>5} "
            f"{float(row['Requests/s']):>6.1f} {row['50%']:>5} {row['95%']:>5} {row['99%']:>5}"
        )
    return "\n".join(lines)
