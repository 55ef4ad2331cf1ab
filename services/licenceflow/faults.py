"""Test-only pause points, so that fault tests can kill a process at a known point.

`LICENCEFLOW_TEST_PAUSE_AT` names the point; when a process reaches it, it appends its pid to
the file `LICENCEFLOW_TEST_PAUSE_MARKER` and sleeps until it is killed. With
`LICENCEFLOW_TEST_PAUSE_SKIP=N` it passes the point N times first (a kill further along).
Never set in production: unset, a pause point costs one dictionary lookup."""

from __future__ import annotations

import os
import time
from collections import Counter

PAUSE_AT = "LICENCEFLOW_TEST_PAUSE_AT"
PAUSE_MARKER = "LICENCEFLOW_TEST_PAUSE_MARKER"
PAUSE_SKIP = "LICENCEFLOW_TEST_PAUSE_SKIP"

_passed: Counter[str] = Counter()


def pause_point(name: str) -> None:
    if os.environ.get(PAUSE_AT) == name:
        _passed[name] += 1
        if _passed[name] <= int(os.environ.get(PAUSE_SKIP, "0")):
            return
        with open(os.environ[PAUSE_MARKER], "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()}\n")
        time.sleep(3600)
