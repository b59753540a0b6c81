"""The Celery application of the pipeline; ``celery -A tasks …`` finds it here.

Configured only from ``celeryconfig`` (which reads the environment). Importing this package builds no
connection (the broker is contacted on first use) and loads no stage, flow or connector: a worker
imports the stage tasks and the stalled-event sweeper itself at start (``include``), so the web
receiver, which only enqueues by task name (``tasks.chains``), never loads them. Vendor patches are
applied by the processes that want them, at start (``tasks.patches``).
"""

from celery import Celery

# Imported by a worker (and beat) at start, before ``worker_init``: the five stage tasks, and the sweeper
# that re-queues events whose chain message was lost (it starts when the worker is ready).
WORKER_MODULES = ("tasks.stages.fetch", "tasks.stages.transform", "tasks.stages.validate", "tasks.stages.post",
                  "tasks.stages.status_update", "tasks.recovery")

celery_app = Celery("tasks", include=list(WORKER_MODULES))
celery_app.config_from_object("celeryconfig")
app = celery_app  # `celery -A tasks` looks for `app` or `celery`

from tasks import signals  # noqa: E402,F401  worker start-up checks
