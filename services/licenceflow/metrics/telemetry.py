"""Pipeline health for `/metrics`, which never queries PostgreSQL: the projector and the outbox
relay sweep write what they saw at each pass into one Redis hash, and the API reads it back
together with the Celery queues' lengths in one round trip.

Fields (floats; times are Unix seconds, real clock):
    projector_heartbeat         when the projector last finished a pass
    projector_events_behind     committed events waiting when that pass began
    projector_lag_seconds       the last pass that applied events: its worst event's time from
                                being written to being visible (≈ commit → visible)
    outbox_checked_at           when the relay sweep last began (it looks before it publishes:
                                what the fast paths after commit left behind)
    outbox_pending              due rows not yet published
    outbox_oldest_recorded_at   the oldest of those rows that was due at once (0: none)
"""

from __future__ import annotations

from typing import Any

import msgspec

from licenceflow.names import TELEMETRY_KEY

KEY = TELEMETRY_KEY


class Pipeline(msgspec.Struct, frozen=True, kw_only=True):
    fields: dict[str, float]
    queue_depths: dict[str, int]


async def record(redis: Any, **fields: float) -> None:
    await redis.hset(KEY, mapping=fields)


async def read(redis: Any, queues: tuple[str, ...]) -> Pipeline:
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(KEY)
    for queue in queues:
        pipe.llen(queue)
    raw, *depths = await pipe.execute()
    return Pipeline(
        fields={k.decode(): float(v) for k, v in raw.items()},
        queue_depths={queue: int(depth) for queue, depth in zip(queues, depths, strict=True)},
    )
