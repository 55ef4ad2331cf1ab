"""The names the processes share: broker queues, task names and Redis keys. A process that
puts work or figures somewhere, and the one that reads them, both spell the name from here."""

from __future__ import annotations

from typing import Final

# Broker queues: one per desk of the simulated authority, one for the sweeps.
INTAKE: Final = "intake"
REVIEW: Final = "review"
HOUSEKEEPING: Final = "housekeeping"
DESK_QUEUES = (INTAKE, REVIEW)  # what the backlog shows the depth of
QUEUES = (*DESK_QUEUES, HOUSEKEEPING)

# Tasks: a desk's decision on one application; the sweeps, queued by the scheduler.
AUTHORITY_TASKS = "licenceflow.authority."
SWEEP_TASKS = "licenceflow.sweep."
SWEEPS = ("relay_outbox", "deadlines", "expire_licences", "reconcile", "purge")


def desk_task(desk: str) -> str:
    return AUTHORITY_TASKS + desk


def sweep_task(sweep: str) -> str:
    return SWEEP_TASKS + sweep


# Redis keys (the broker's own keys are the queues' names).
METRICS_KEYS = "licenceflow:metrics:"  # the backlog read model, by generation
TELEMETRY_KEY = "licenceflow:telemetry"  # the projector's and the relay's last passes
RATE_KEYS = "licenceflow:rate:"  # a principal's rate-limit bucket
BROKER_EPOCH_KEY = "licenceflow:broker-epoch"  # the reconciler's mark of the broker it saw
