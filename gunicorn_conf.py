"""gunicorn settings of the webhook receiver: ``gunicorn -c python:gunicorn_conf "app:create_app()" …``.

Only what the command line does not say: each worker process keeps to one CPU right after it is
forked, before it starts its threads (``WEB_CPU_AFFINITY``: ``auto``, ``off`` or a CPU list; see
``tasks/affinity.py``). Workers, threads, bind address and logging stay on the command line
(Procfile, compose file), which overrides anything set here.
"""

from __future__ import annotations

import os
from typing import Any


def post_fork(server: Any, worker: Any) -> None:
    from tasks import affinity

    setting = os.environ.get("WEB_CPU_AFFINITY") or "auto"
    try:
        cpus = affinity.keep_on_one_cpu(setting)
    except affinity.AffinityError as exc:
        server.log.warning("%s; receiver worker %s runs where the operating system puts it", exc, worker.pid)
    except OSError as exc:  # a container may forbid changing affinity
        server.log.warning("could not keep receiver worker %s on one CPU (%s); WEB_CPU_AFFINITY=off "
                           "silences this", worker.pid, exc)
    else:
        if cpus:
            server.log.info("receiver worker %s kept on CPU %s (WEB_CPU_AFFINITY=%s)", worker.pid,
                            ",".join(map(str, sorted(cpus))), setting)
