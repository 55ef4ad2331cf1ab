"""`licenceflow` with a pause point, for the fault tests: a process that reaches the point
appends its pid to a marker file and sleeps until the test kills it there.

    python -m tests.paused POINT MARKER SKIP -- ARGS...

POINT is `after-commit` (a desk's task, its decision committed and relayed, not yet
acknowledged to the broker) or `projector-read` (the projector, a batch read and not yet
applied); the process passes the point SKIP times first. The service itself has no such
hook: this launcher wraps the function at the point, then runs the command line as
`python -m licenceflow ARGS` would (a worker's pool processes are forked from it, wrapped)."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from licenceflow import cli
from licenceflow.metrics import projector
from licenceflow.workers.runtime import Runtime


def pausing(
    marker: str, skip: int, before: bool
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    passed = 0

    def pause() -> None:
        nonlocal passed
        passed += 1
        if passed > skip:
            with open(marker, "a", encoding="utf-8") as out:
                out.write(f"{os.getpid()}\n")
            time.sleep(3600)

    def wrap(function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(function)
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            if before:
                pause()
            result = await function(*args, **kwargs)
            if not before:
                pause()
            return result

        return wrapped

    return wrap


def main(argv: list[str]) -> int:
    point, marker, skip, separator, *args = argv
    assert separator == "--", __doc__
    if point == "projector-read":  # between reading a batch and applying it
        projector.apply_batch = pausing(marker, int(skip), before=True)(projector.apply_batch)
    elif point == "after-commit":  # the decision committed and relayed, the task not acked
        Runtime.relay_after_commit = pausing(marker, int(skip), before=False)(  # type: ignore[method-assign]
            Runtime.relay_after_commit
        )
    else:
        raise SystemExit(f"no pause point {point!r}")
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
