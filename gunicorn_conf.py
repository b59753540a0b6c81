"""gunicorn settings of the webhook receiver: ``gunicorn -c python:gunicorn_conf "app:create_app()" …``.

Only what the command line does not say. Workers, threads, bind address and logging stay on the
command line (Procfile, compose file), which overrides anything set here.

- Each worker process keeps to one CPU right after it is forked, before it starts its threads
  (``WEB_CPU_AFFINITY``: ``auto``, ``off`` or a CPU list; see ``cpu_affinity.py``).
- Idle kept-alive connections stay open 75 s instead of gunicorn's 2 s, longer than a load
  balancer's usual idle timeout (60 s), so the client side closes idle connections first and never
  reuses one that gunicorn is closing.
- A request whose body the receiver will not read to its end (a ``Content-Length`` above
  ``WEBHOOK_MAX_BODY_BYTES``, answered 413 unread, or a chunked body, cut at the limit) is answered
  with ``Connection: close``. gunicorn drains at most 64 KiB of an unread body before the next
  request and otherwise closes the connection, after having announced keep-alive: a sender
  reusing it got no answer at all (``bench.hostile`` saw it after every oversized request).
- Metrics (``telemetry.processes``): ``PROMETHEUS_MULTIPROC_DIR`` defaults to ``.run/metrics`` here,
  before any worker imports prometheus_client, so every worker writes its figures where ``/metrics``
  reads them. When the server starts it removes the files of this host's processes that are gone;
  when a worker exits its live gauges go with it.
"""

from __future__ import annotations

from typing import Any

keepalive = 75


def on_starting(server: Any) -> None:
    from tasks import patches, preflight
    from telemetry import processes

    preflight.enforce_pairs("web")  # PAIRS_FILE refused: exit 78 with the reason (tasks.pairs)
    patches.apply_all("web")  # before the workers fork: kombu's client per channel (tasks/patches.py)
    processes.set_default_directory()
    processes.tidy()


def child_exit(server: Any, worker: Any) -> None:
    from telemetry import processes

    processes.retire(worker.pid)


def post_fork(server: Any, worker: Any) -> None:
    import cpu_affinity

    placed = cpu_affinity.place("WEB_CPU_AFFINITY")
    if placed:
        server.log.log(placed[0], "receiver worker %s %s", worker.pid, placed[1])


def pre_request(worker: Any, req: Any) -> None:
    if body_left_unread(req.headers, max_body_bytes()):
        req.force_close()


def max_body_bytes() -> int:
    from tasks.settings import get_settings

    return get_settings().max_body_bytes


def body_left_unread(headers: list[tuple[str, str]], limit: int) -> bool:
    """Whether a request with these headers (gunicorn's: upper-case names) keeps body bytes the
    receiver never reads: chunked, or longer than ``limit``."""
    for name, value in headers:
        if name == "TRANSFER-ENCODING" and "chunked" in value.lower():
            return True
        if name == "CONTENT-LENGTH" and value.strip().isdigit() and int(value) > limit:
            return True
    return False
