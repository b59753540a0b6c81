"""The drainer as a process of its own, next to each worker (``HISTORY_DRAINER=process``, the default).

A drainer thread inside the worker shared the worker's one interpreter lock: writing a second's
records through SQLAlchemy took about a seventh of the worker's time under load, and the pipeline
slowed by as much. So each worker starts one child, ``python -m history follow --parent <pid>``,
which drains until the worker stops it (SIGTERM: one last drain) or dies (Linux's parent-death
signal; the child also leaves when it finds itself orphaned). The child runs on any CPU, not on the
one the worker keeps to. The Redis lock still lets one drainer write at a time, whatever the number
of workers. ``HISTORY_DRAINER=thread`` keeps the old thread; ``off`` leaves draining to a
``python -m history follow`` run by the operator (a Procfile or compose service of its own).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
from typing import Any

from history import drainer

log = logging.getLogger(__name__)
MODES = ("process", "thread", "off")
_PR_SET_PDEATHSIG = 1


def mode() -> str:
    chosen = (os.environ.get("HISTORY_DRAINER") or "process").strip().lower()
    return chosen if chosen in MODES else "process"


def start_process(interval: float) -> subprocess.Popen[bytes]:
    """The worker's drainer child (its output goes to the worker's)."""
    command = [sys.executable, "-m", "history", "follow", "--interval", str(interval), "--parent", str(os.getpid())]
    return subprocess.Popen(command)  # noqa: S603 - our own interpreter and module, no outside input


def stop_process(child: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def follow(interval: float, parent: int | None = None) -> int:
    """Drain every ``interval`` seconds until SIGTERM/SIGINT (then once more) or the parent is gone."""
    if parent:
        _die_with(parent)
    _any_cpu()
    runner = drainer.DrainerThread(interval)
    stop = lambda *_: runner.stopped.set()  # noqa: E731 - a signal handler, nothing more
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not runner.stopped.is_set():
        if parent and os.getppid() != parent:
            break
        runner.stopped.wait(runner.wait_time())
        runner.step()
    runner.step()
    return 0


def _die_with(parent: int) -> None:
    """Ask Linux for SIGTERM when the parent dies; leave at once if it already has."""
    try:
        libc: Any = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the orphan check in ``follow`` still ends it within an interval
    if os.getppid() != parent:
        sys.exit(0)


def _any_cpu() -> None:
    """The worker keeps to one CPU (cpu_affinity.py); its drainer should not compete for that one."""
    try:
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    except (AttributeError, OSError):
        pass
