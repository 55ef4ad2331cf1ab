"""Waiting for something to become true, with a deadline: tests poll, they never sleep and hope."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DEADLINE = 60.0


async def eventually(
    check: Callable[[], Any], what: str, logs: Sequence[Path] = (), deadline: float = DEADLINE
) -> None:
    """Poll `check` (plain or async) until it is truthy; else fail naming `what`, with the
    tails of the processes' logs."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    tails = "\n".join(f"--- {log}\n{log.read_text()[-4000:]}" for log in logs if log.exists())
    raise AssertionError(f"{what}: not within {deadline:.0f} s\n{tails}")
