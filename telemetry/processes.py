"""prometheus_client multiprocess mode: every gunicorn and Celery process writes its own figures.

Policy:

- **One directory, every process.** ``PROMETHEUS_MULTIPROC_DIR`` must be in each process's
  environment before it imports ``prometheus_client`` (the Procfile, the compose file and
  ``sandbox.stack`` set it; gunicorn_conf.py sets a default, ``.run/metrics``, for the receiver run
  on its own). Each process writes memory-mapped files there; ``/metrics`` reads them all, so one
  scrape of any receiver worker shows the receiver's workers and every Celery worker sharing the
  directory. Without the variable each process counts for itself only (unit tests, a bare shell).
- **Files named by host and pid.** A file is ``<kind>_<host>-<pid>.db`` instead of the library's
  ``<kind>_<pid>.db``: containers sharing one volume all have small pids (1, 7 …), and two of them
  writing the same file would corrupt it. With the host in the name, a web container and a worker
  container can share a volume (docker-compose.yml does).
- **Tidied at start, not wiped wholesale.** A launcher (gunicorn's master, a Celery worker) removes,
  when it starts, the files of *its own host's* processes that are no longer running: what a
  previous run left behind. It never touches another host's files nor a live process's: wiping the
  directory would silently unlink the files a running neighbour (the worker, when the receiver
  restarts) keeps writing to. Consequence, stated honestly: a sum that included a process gone since
  drops when a launcher starts; Prometheus treats a counter that goes down as a reset, so ``rate()``
  loses at most one scrape interval of that process's counts.
- **Live gauges retire with their process.** gunicorn's ``child_exit`` and Celery's
  ``worker_shutdown`` remove the process's ``live*`` gauge files (``retire``), so a gone worker's
  concurrency limit no longer counts. Counters and histograms stay until the next start's tidy-up.
- **Hosts that share nothing** (a worker on another machine, no shared volume) cannot appear in the
  receiver's ``/metrics``: there, run ``python -m telemetry.serve --port 9108`` beside the worker
  (it serves the same directory) and scrape each host; the README shows the scrape config.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import socket
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_DIR = Path(".run") / "metrics"
HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:63] or "host"
_identifier = {"pid": -1, "name": ""}


def directory() -> str | None:
    """The directory this process writes to, or None in single-process mode."""
    return os.environ.get(ENV) or None


def set_default_directory(path: Path = DEFAULT_DIR) -> str:
    """Use ``path`` unless ``PROMETHEUS_MULTIPROC_DIR`` is set; for a launcher, before any import of
    prometheus_client in it or its children."""
    chosen = os.environ.setdefault(ENV, str(path.resolve()))
    Path(chosen).mkdir(parents=True, exist_ok=True)
    return chosen


def identifier_for(pid: int) -> str:
    return f"{HOST}-{pid}"


def process_identifier() -> str:
    """This process's file suffix; called by prometheus_client on every update, so cached per pid
    (a forked child gets a new pid, and so new files, as the library expects)."""
    pid = os.getpid()
    if pid != _identifier["pid"]:
        _identifier.update(pid=pid, name=identifier_for(pid))
    return str(_identifier["name"])


def install_identifier() -> bool:
    """Make metrics defined from now on write ``<kind>_<host>-<pid>.db``; True in multiprocess mode.

    Must run before the first metric is created (``telemetry.metrics`` calls it at import)."""
    from prometheus_client import values

    path = directory()
    if not path:
        return False
    Path(path).mkdir(parents=True, exist_ok=True)  # an unusable directory fails the start, loudly
    if getattr(values.ValueClass, "_telemetry_host_named", False):
        return True
    value_class = values.MultiProcessValue(process_identifier=process_identifier)
    value_class._telemetry_host_named = True
    values.ValueClass = value_class
    return True


def _owner(path: str) -> tuple[str, int] | None:
    """(host, pid) of a metrics file named by ``process_identifier``; None for any other file."""
    suffix = os.path.basename(path)[:-3].rsplit("_", 1)[-1]
    host, _, pid = suffix.rpartition("-")
    return (host, int(pid)) if host and pid.isdigit() else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def tidy(path: str | None = None) -> int:
    """Remove the files of this host's processes that are gone; the number removed."""
    path = path or directory()
    if not path:
        return 0
    Path(path).mkdir(parents=True, exist_ok=True)
    removed = 0
    for file in glob.glob(os.path.join(path, "*.db")):
        owner = _owner(file)
        if owner and owner[0] == HOST and owner[1] != os.getpid() and not _running(owner[1]):
            removed += _unlink(file)
    if removed:
        log.info("removed %s metrics files of processes gone", removed)
    return removed


def retire(pid: int, path: str | None = None) -> None:
    """A process of this host has ended: drop its ``live*`` gauges (its counters stay summed)."""
    path = path or directory()
    if not path:
        return
    for mode in ("liveall", "livesum", "livemax", "livemin", "livemostrecent"):
        for file in glob.glob(os.path.join(path, f"gauge_{mode}_{identifier_for(pid)}.db")):
            _unlink(file)


def _unlink(file: str) -> int:
    try:
        os.remove(file)
    except FileNotFoundError:
        return 0
    return 1
