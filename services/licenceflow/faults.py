"""Test-only pause points, so that fault tests can kill a process at a known point.

`LICENCEFLOW_TEST_PAUSE_AT` names the point; when a process reaches it, it appends its pid to
the file `LICENCEFLOW_TEST_PAUSE_MARKER` and sleeps until it is killed. Never set in production:
unset, a pause point costs one dictionary lookup."""

from __future__ import annotations

import os
import time

PAUSE_AT = "LICENCEFLOW_TEST_PAUSE_AT"
PAUSE_MARKER = "LICENCEFLOW_TEST_PAUSE_MARKER"


def pause_point(name: str) -> None:
    if os.environ.get(PAUSE_AT) == name:
        with open(os.environ[PAUSE_MARKER], "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()}\n")
        time.sleep(3600)
