"""Benchmarks of the connector beside bare Celery and Flask baselines (see bench/README.md).

Every benchmark process, and every process it starts, talks to one Redis only: ``BENCH_REDIS_URL``
when it is set, otherwise a private ``redis-server`` that ``bench.common`` starts on a free port (so
neither the tests' databases nor other load on the shared Redis are touched or felt). It is set as
``REDIS_URL`` here, before ``celeryconfig`` is imported, and inherited by the processes started.
"""

import os
import socket

PRIVATE_REDIS = "BENCH_REDIS_URL" not in os.environ
if PRIVATE_REDIS:
    with socket.socket() as _probe:
        _probe.bind(("127.0.0.1", 0))
        os.environ["BENCH_REDIS_URL"] = f"redis://127.0.0.1:{_probe.getsockname()[1]}/0"
os.environ["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
