"""The service's Prometheus metrics, shared by the receiver, the workers and the console.

A top-level package (like ``cpu_affinity``) so that the web, gunicorn's hooks and the bench can use it
without importing ``tasks``: importing it loads ``prometheus_client`` and nothing of the pipeline.

- ``telemetry.processes``: prometheus_client's multiprocess mode; where each process writes its
  figures (``PROMETHEUS_MULTIPROC_DIR``) and how launchers prepare and tidy that directory.
- ``telemetry.metrics``: every metric the processes update, and the small functions the pipeline calls.
- ``telemetry.exposition``: one scrape of ``/metrics``: every process's files plus Redis-held gauges.

Import ``telemetry.processes`` first when a process sets up its own directory; ``telemetry.metrics``
installs the process identifier itself before it defines any metric.
"""
