"""The Celery application as a worker runs it: the broker's configuration (outbox.broker), its
tasks (the desks, the sweeps), and a runtime per pool process, opened at its start and closed at
its end."""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from licenceflow.config import Settings
from licenceflow.outbox.broker import create_celery


def worker_app(settings: Settings) -> Celery:
    app = create_celery(settings)
    app.autodiscover_tasks(["licenceflow.workers"], related_name="sweeps", force=True)
    app.autodiscover_tasks(["licenceflow.workers"], related_name="authority", force=True)
    return app


@worker_process_init.connect
def _open_runtime(**_: object) -> None:
    from licenceflow.workers.runtime import runtime

    runtime()


@worker_process_shutdown.connect
def _close_runtime(**_: object) -> None:
    from licenceflow.workers.runtime import close_runtime

    close_runtime()
