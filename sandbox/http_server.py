"""The HTTP server behind `python -m sandbox serve`: gunicorn, one worker process, many threads.

The sandbox's state (rows, fault switches, call statistics, the event outbox) lives in the memory of
one process, so there is exactly one worker and it is never recycled: no request cap, no heartbeat
timeout (a restarted worker would come back without the faults and statistics a test set). The worker
is gunicorn's ``gthread`` class: connections are kept alive between requests (clients reuse them, as
the connector's pools do) and up to ``threads`` requests (256, or ``SANDBOX_THREADS``) run at once,
so injected latency (``latency_ms``, a held commit) delays each request on its own instead of
queueing the others.

The listening socket is bound here, before gunicorn starts, so a taken port fails at once and
``--port 0`` can report the port it got; gunicorn's master inherits it and forks the worker, which
builds the app (no preloading: the SQLite connections and threads belong to the worker).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

DEFAULT_THREADS = 256
BACKLOG = 2048
KEEPALIVE_SECONDS = 3600  # an idle kept-alive connection stays open, as clients expect of the sandbox
GRACEFUL_SECONDS = 1  # on SIGTERM, in-flight requests (a held commit may sleep 35 s) get this long


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        raise
    return listener


class SandboxServer(BaseApplication):
    """gunicorn serving the WSGI app that ``build_app`` makes in the worker process."""

    def __init__(self, listener: socket.socket, build_app: Callable[[], Any], *, quiet: bool = False,
                 threads: int = DEFAULT_THREADS) -> None:
        self._fd = listener.detach()  # gunicorn owns (and closes) the descriptor from here on
        self._build_app = build_app
        self._quiet = quiet
        self._threads = max(1, threads)
        super().__init__()

    def load_config(self) -> None:
        settings: dict[str, Any] = {
            "bind": [f"fd://{self._fd}"],
            "backlog": BACKLOG,
            "workers": 1,
            "worker_class": "gthread",
            "threads": self._threads,
            "worker_connections": max(1000, 4 * self._threads),
            "keepalive": KEEPALIVE_SECONDS,
            "timeout": 0,
            "graceful_timeout": GRACEFUL_SECONDS,
            "max_requests": 0,
            # As permissive as the stdlib server it replaces: long OData filters and URLs pass.
            "limit_request_line": 0,
            "limit_request_fields": 32768,
            "limit_request_field_size": 0,
            # Requests are taken as sent, as before: no proxy is trusted to rewrite the scheme or path.
            "forwarded_allow_ips": "",
            "control_socket_disable": True,
            "accesslog": None if self._quiet else "-",
            "loglevel": "warning" if self._quiet else "info",
        }
        for name, value in settings.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        return self._build_app()


def serve(listener: socket.socket, build_app: Callable[[], Any], *, quiet: bool = False,
          threads: int | None = None, on_stop: Callable[[], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit status. ``on_stop`` runs in the master only."""
    if threads is None:
        threads = int(os.environ.get("SANDBOX_THREADS") or DEFAULT_THREADS)
    master = os.getpid()
    try:
        SandboxServer(listener, build_app, quiet=quiet, threads=threads).run()
    except SystemExit as stopped:
        if os.getpid() != master:
            raise  # the worker leaving: nothing of the master's to do
        if on_stop is not None:
            on_stop()
        return stopped.code if isinstance(stopped.code, int) else (0 if stopped.code is None else 1)
    if on_stop is not None:
        on_stop()
    return 0
