"""One run of a periodic job (the catch-up, the payout recheck) unless another run of it is in progress.

Policy: such a job is started by Celery beat on every worker host and by hand from the command line, and two
runs side by side would do the same work twice (list the same Stripe events, reconcile the same payout). So a
run takes the job's lock (``store.unless_running``) and, when another run holds it, is skipped at once with
one log line; it never waits, since the run in progress covers what this one would do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tasks import store
from tasks.context import Context, context_for

log = logging.getLogger(__name__)
T = TypeVar("T")

LOCK_SECONDS = 900  # longer than any run takes; a crashed run's lock expires by then


def run_locked(job: str, run: Callable[[Context], T], *, timeout: int = LOCK_SECONDS) -> T | None:
    """``run`` with a worker's context, under the lock ``job``; None (and a log line) when another run holds it."""
    summary = store.unless_running(job, lambda: run(context_for({})), timeout=timeout)
    if summary is None:
        log.info("%s already running; skipped", job)
    return summary
