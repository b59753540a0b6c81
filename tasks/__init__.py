"""The Celery application of the pipeline; ``celery -A tasks …`` finds it here.

Configured only from ``celeryconfig`` (which reads the environment). Importing this package builds no
connection: the broker is contacted on first use.
"""

from celery import Celery

from tasks import broker  # noqa: F401  one Redis client per broker channel (tasks/broker.py)

celery_app = Celery("tasks")
celery_app.config_from_object("celeryconfig")
app = celery_app  # `celery -A tasks` looks for `app` or `celery`

from tasks import signals  # noqa: E402,F401  worker start-up checks
from tasks.stages import fetch, post, status_update, transform, validate  # noqa: E402,F401
