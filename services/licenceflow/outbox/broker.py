"""The Celery application: the broker, reliability settings, queues and the beat schedule.

Reliability: a task is acknowledged only after it ran (`acks_late`), handed back when its worker
dies (`task_reject_on_worker_lost`), and a worker takes one task at a time
(`worker_prefetch_multiplier=1`). Tasks carry ids only and are idempotent. No countdown is ever
longer than the broker's visibility timeout: future work is a `due` column swept by beat."""

from __future__ import annotations

from celery import Celery

from licenceflow.config import Settings
from licenceflow.names import (
    HOUSEKEEPING,
    INTAKE,
    REVIEW,
    SWEEP_TASKS,
    SWEEPS,
    desk_task,
    sweep_task,
)


def broker_url(redis_url: str) -> str:
    """Celery's spelling of a Redis URL (a unix socket is `redis+socket://`)."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


def create_celery(settings: Settings) -> Celery:
    if not settings.redis_url:
        raise ValueError("workers need LICENCEFLOW_REDIS_URL (the broker)")
    app = Celery("licenceflow", broker=broker_url(settings.redis_url), set_as_current=True)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=HOUSEKEEPING,
        task_routes={
            SWEEP_TASKS + "*": {"queue": HOUSEKEEPING},
            desk_task(INTAKE): {"queue": INTAKE},
            desk_task(REVIEW): {"queue": REVIEW},
        },
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout,
            # look for tasks of dead workers well within the visibility timeout (a cheap scan)
            "unacked_restore_interval": max(
                1, min(10, int(settings.broker_visibility_timeout / 3))
            ),
            "unacked_restore_throttle": 1,
            "socket_timeout": 2,
            "socket_connect_timeout": 1,
        },
        worker_hijack_root_logger=False,
        timezone="UTC",
        beat_schedule={
            name: {
                "task": sweep_task(name),
                "schedule": settings.sweep_interval_seconds,
                # a sweep that could not run before the next one is due is simply dropped
                "options": {"expires": settings.sweep_interval_seconds},
            }
            for name in SWEEPS
        },
    )
    return app
