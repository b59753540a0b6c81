"""Keep each Python server process on one CPU (``WORKER_CPU_AFFINITY``, ``WEB_CPU_AFFINITY``).

A ``--pool threads`` Celery worker, and each of the receiver's gunicorn workers, runs Python in one
thread at a time (the GIL), so it never uses more than one CPU's worth of Python, however many cores
the machine has. Left to the scheduler, its threads hop between cores: every hand-over of the GIL to
a thread on another core costs a wake-up across cores and cold caches. On a two-core machine shared
with Redis and the other processes, the Celery worker measured about 40 % more CPU per event, and the
receiver about 13 % more CPU per request, than the same processes kept on one CPU each
(bench/README.md). Other processes stay free to use every core.

Both settings take:

- ``auto`` (default): one CPU of those the process may use, the one the fewest other processes are
  already pinned to alone (so the receiver's workers, and workers started one after another, spread
  out), the highest-numbered on a tie (CPU 0 tends to take the most interrupts);
- ``off``: leave placement to the operating system;
- a CPU list such as ``3`` or ``2,3`` or ``0-1``: the CPUs to choose that one CPU from.

Processes of this project choose one at a time (an exclusive lock on a file in the temporary
directory), so two that start together do not pick the same CPU. The Celery worker places itself
at ``worker_init``, before its pool's threads exist (they inherit it), and only for the thread,
solo, gevent and eventlet pools (a prefork worker's children are separate processes, placed by the
operating system); each receiver worker places itself right after gunicorn forks it
(``gunicorn_conf.py``). Threads already running are moved too. Where the platform cannot set
affinity (macOS), nothing happens.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

# By the pool option's name ("threads") or the module of the pool class (celery.concurrency.thread).
SINGLE_INTERPRETER_POOLS = ("threads", "thread", "solo", "gevent", "eventlet")
LOCK_FILE = Path(tempfile.gettempdir()) / "stripe-epicor-connector-cpu.lock"


class AffinityError(ValueError):
    """``WORKER_CPU_AFFINITY`` holds something that is not ``auto``, ``off`` or a CPU list."""


def parse_cpu_list(text: str) -> set[int]:
    """``"0-2,5"`` → ``{0, 1, 2, 5}`` (the kernel's list format, as ``taskset -c`` takes it)."""
    cpus: set[int] = set()
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise AffinityError(f"not a CPU list: {text!r} (expected e.g. 3, 2,3 or 0-1)") from None
        if low < 0 or high < low:
            raise AffinityError(f"not a CPU range: {part!r}")
        cpus.update(range(low, high + 1))
    if not cpus:
        raise AffinityError(f"not a CPU list: {text!r}")
    return cpus


def pinned_elsewhere(proc: Path = Path("/proc"), own_pid: int | None = None) -> Counter[int]:
    """How many other user processes are each restricted to a single CPU, by CPU (the kernel's own
    per-CPU threads, which have no command line, do not count)."""
    own_pid = os.getpid() if own_pid is None else own_pid
    counts: Counter[int] = Counter()
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == own_pid:
            continue
        try:
            if not (entry / "cmdline").read_bytes():
                continue
            status = (entry / "status").read_text()
        except OSError:  # the process ended, or is not ours to read
            continue
        for line in status.splitlines():
            if line.startswith("Cpus_allowed_list:"):
                try:
                    cpus = parse_cpu_list(line.split(":", 1)[1])
                except AffinityError:
                    break
                if len(cpus) == 1:
                    counts[next(iter(cpus))] += 1
                break
    return counts


def choose_cpu(allowed: Iterable[int], taken: Counter[int]) -> int:
    """The allowed CPU the fewest other processes are pinned to; the highest-numbered on a tie."""
    return min(allowed, key=lambda cpu: (taken[cpu], -cpu))


def target_cpus(setting: str, allowed: set[int], taken: Counter[int] | None = None) -> set[int] | None:
    """The one CPU to keep the process on, or None to leave it where it is."""
    value = setting.strip().lower()
    if value in ("off", "none", "no", "false"):
        return None
    if value in ("", "auto"):
        candidates = allowed
    else:
        candidates = parse_cpu_list(value) & allowed
        if not candidates:
            raise AffinityError(f"CPU affinity {setting!r} names none of the CPUs this process may use "
                                f"({sorted(allowed)})")
    if len(allowed) <= 1:
        return None  # nothing to choose and nothing to restrict
    return {choose_cpu(candidates, pinned_elsewhere() if taken is None else taken)}


def pin_process(cpus: set[int], tasks_dir: Path = Path("/proc/self/task")) -> None:
    """Restrict the calling thread, and every other thread of the process, to ``cpus``."""
    os.sched_setaffinity(0, cpus)
    for task in tasks_dir.iterdir() if tasks_dir.is_dir() else ():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except (OSError, ValueError):  # a thread that ended meanwhile
            continue


def pool_name(pool: object) -> str:
    """``threads`` for the pool option or class the worker was given (``"threads"``, ``TaskPool``…)."""
    if isinstance(pool, str):  # an alias, or module:Class
        module = pool.split(":", 1)[0] if ":" in pool else pool
    else:
        module = getattr(pool, "__module__", "") or ""
    return module.rsplit(".", 1)[-1].lower()


@contextmanager
def _one_at_a_time(path: Path = LOCK_FILE) -> Iterator[None]:
    """Held while a process chooses and takes its CPU; without the lock file, unguarded."""
    import fcntl

    try:
        handle = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock


def keep_on_one_cpu(setting: str) -> set[int] | None:
    """Apply an affinity setting to this process (every thread); the CPUs it now runs on, or None."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    with _one_at_a_time():
        cpus = target_cpus(setting, os.sched_getaffinity(0))
        if cpus is not None:
            pin_process(cpus)
    return cpus


def apply(setting: str, pool: object) -> set[int] | None:
    """``WORKER_CPU_AFFINITY`` for a Celery worker with ``pool``: only single-interpreter pools."""
    if pool_name(pool) not in SINGLE_INTERPRETER_POOLS:
        return None
    return keep_on_one_cpu(setting)


def place(variable: str, pool: object = "threads") -> tuple[int, str] | None:
    """Apply the setting in the environment variable ``variable`` (default ``auto``) to this process;
    what to log about it (level, text to follow the process's name), or None when nothing was done."""
    setting = os.environ.get(variable) or "auto"
    try:
        cpus = apply(setting, pool)
    except AffinityError as exc:
        return logging.WARNING, f"runs where the operating system puts it: {exc}"
    except OSError as exc:  # a container may forbid changing affinity
        return logging.WARNING, f"could not be kept on one CPU ({exc}); {variable}=off silences this"
    if not cpus:
        return None
    return logging.INFO, f"kept on CPU {','.join(map(str, sorted(cpus)))} ({variable}={setting})"
