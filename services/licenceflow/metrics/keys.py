"""Where the metrics live in Redis. Every generation of the read model has its own keys; the
`current` key names the generation readers use, so a rebuild swaps in atomically."""

from __future__ import annotations

from typing import Any

from licenceflow.names import METRICS_KEYS

PREFIX = METRICS_KEYS
CURRENT = PREFIX + "current"


class Generation:
    def __init__(self, number: int) -> None:
        self.number = number
        self.base = f"{PREFIX}{number}:"
        self.position = self.base + "position"  # "<xact>:<seq>" of the last applied event
        self.as_of = self.base + "as_of"  # business time of the last applied event

    def key(self, scope: str, name: str) -> str:
        return f"{self.base}{scope}:{name}"


def number(stored: bytes | None) -> int:
    """The generation `CURRENT` names (1 until the first rebuild)."""
    return int(stored) if stored else 1


async def current(redis: Any) -> Generation:
    """The generation readers use."""
    return Generation(number(await redis.get(CURRENT)))
