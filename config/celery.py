"""The Celery application: background work (imports, exports, emails).

Workers run ``celery -A config worker --pool threads`` (deploy/). Tasks live
in each app's ``tasks.py`` and are found by autodiscovery; their settings are
the ``CELERY_*`` names in config/settings.py. Import state and progress live
in the database, so no result backend is configured. Without a broker
(``REDIS_URL`` unset) tasks run in-process, eagerly.

Metrics of the tasks (run time histogram, failures by task) are counted by the
signals below in whichever process runs the task: a worker serves them on
``CELERY_METRICS_PORT`` (its own ``/metrics``), the web's ``/metrics`` has the
eager ones and the queue depth (``config.metrics``).
"""

import os
import time

from celery import Celery
from celery.signals import task_failure, task_postrun, task_prerun, worker_ready
from prometheus_client import Counter, Histogram

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("leadline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

TASK_SECONDS = Histogram(
    "leadline_task_duration_seconds",
    "Run time of a background task.",
    ["task"],
    buckets=(0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
TASK_FAILURES = Counter(
    "leadline_task_failures", "Background tasks that ended with an error.", ["task"]
)
_started = {}


@task_prerun.connect
def _task_started(task_id=None, **kwargs):
    _started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_ended(task_id=None, task=None, **kwargs):
    started = _started.pop(task_id, None)
    if started is not None and task is not None:
        TASK_SECONDS.labels(task.name).observe(time.perf_counter() - started)


@task_failure.connect
def _task_failed(sender=None, **kwargs):
    TASK_FAILURES.labels(getattr(sender, "name", "unknown")).inc()


@worker_ready.connect
def _serve_worker_metrics(**kwargs):
    """A worker's own metrics endpoint, when ``CELERY_METRICS_PORT`` is set."""
    from django.conf import settings
    from prometheus_client import start_http_server

    if settings.CELERY_METRICS_PORT:
        start_http_server(settings.CELERY_METRICS_PORT)
