"""What every benchmark shares: the machine it ran on, percentiles, tables, CPU accounting, a stack.

Policy: a benchmark never touches the Redis databases of the tests or of `make run`. It uses a private
``redis-server`` on a free port (AOF on, as production runs it), or ``BENCH_REDIS_URL`` when that is
set (then it flushes that one database before and after). It starts its own processes on free ports
with the same commands as ``sandbox.stack`` (and so the Procfile's gunicorn and worker settings), so a
bare baseline and the real service run side by side under identical conditions. Besides wall-clock
rates it reports CPU time per request or event for each process, which a busy machine distorts far
less than it distorts rates.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

import celeryconfig
from bench import PRIVATE_REDIS
from sandbox.stack import ROOT, Ports, Stack, spawn, stop_on_signals

BENCH_REDIS_URL = os.environ["REDIS_URL"]  # set from BENCH_REDIS_URL by bench/__init__.py
LOG_DIR = ROOT / ".run" / "bench"
REDIS_DIR = LOG_DIR / "redis"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, str]:
    """nproc, CPU model, Python version and load: printed above every table."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"nproc": str(os.cpu_count()), "cpu": model, "python": platform.python_version(),
            "load (1/5 min)": f"{load[0]:.2f} / {load[1]:.2f}"}


def print_machine() -> None:
    info = machine()
    print("machine: " + ", ".join(f"{name} {value}" for name, value in info.items()))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; 0.0 for an empty sample."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}")
    print("| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


# -- processes -----------------------------------------------------------------------------------
def bench_redis() -> redis.Redis:
    return redis.Redis.from_url(BENCH_REDIS_URL, decode_responses=True)


class BenchRedis:
    """The benchmark's Redis: a private redis-server started here, or BENCH_REDIS_URL's database."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BenchRedis:
        stop_on_signals()  # SIGTERM or SIGHUP unwind like Ctrl-C, through every `finally` that stops a process
        if PRIVATE_REDIS:
            self.process = _start_redis(int(BENCH_REDIS_URL.rsplit(":", 1)[1].split("/")[0]))
        bench_redis().flushdb()
        return self

    def __exit__(self, *_: Any) -> None:
        if self.process is None:
            bench_redis().flushdb()
            return
        self.process.terminate()
        self.process.wait(timeout=15)
        shutil.rmtree(REDIS_DIR, ignore_errors=True)

    def pid(self) -> int | None:
        if self.process is not None:
            return self.process.pid
        return None


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    shutil.rmtree(REDIS_DIR, ignore_errors=True)
    REDIS_DIR.mkdir(parents=True)
    process = spawn(  # dies with the benchmark even when that is SIGKILLed
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(REDIS_DIR), "--appendonly", "yes",
         "--maxmemory-policy", "noeviction", "--save", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _answers(), 10, "the private redis-server", interval=0.05)
    return process


def _answers() -> bool:
    try:
        return bool(bench_redis().ping())
    except redis.exceptions.ConnectionError:
        return False


def cpu_seconds(pids: Sequence[int | None]) -> float:
    """User plus system CPU time so far of these processes and all their descendants."""
    total = 0
    for pid in (p for p in pids if p):
        for member in [pid, *descendants(pid)]:
            try:
                fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def worker_concurrency() -> int:
    """The worker's thread count: the Procfile's default unless WORKER_CONCURRENCY says otherwise."""
    return int(os.environ.get("WORKER_CONCURRENCY") or celeryconfig.worker_concurrency)


def bench_stack(name: str, **extra_env: str) -> Stack:
    """A stack on free ports and the bench database; nothing is started yet."""
    base = LOG_DIR / name
    for old in base.glob("logs/*.log"):
        old.unlink()
    shutil.rmtree(base / "sandbox", ignore_errors=True)  # a fresh Stripe and Epicor every run
    return Stack(ports=Ports.free(), redis_url=BENCH_REDIS_URL, data_dir=base / "sandbox",
                 log_dir=base / "logs", worker_concurrency=worker_concurrency(), extra_env=dict(extra_env))


def web_command(stack: Stack, app_spec: str, port: int) -> list[str]:
    """The stack's gunicorn command (Procfile settings) serving another WSGI app on another port, without
    the product's gunicorn hooks (``-c python:gunicorn_conf``): a baseline is stock gunicorn."""
    command = list(stack.commands()["web"])
    at = command.index("-c")
    del command[at:at + 2]
    command[command.index("app:create_app()")] = app_spec
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    return command


def worker_command(stack: Stack, app_module: str, queue: str | None = None) -> list[str]:
    """The stack's Celery worker command (same pool and concurrency) for another Celery app."""
    command = list(stack.commands()["worker"])
    command[command.index("tasks")] = app_module
    command[command.index("-n") + 1] = f"{app_module}-{stack.ports.web}@%h"
    if queue:
        command += ["-Q", queue]
    return command


def stop_process(stack: Stack, name: str) -> None:
    """Stop one named child of the stack (its process group), leaving the others running."""
    import signal

    process = stack.processes.pop(name, None)
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise RuntimeError(f"{what} did not happen within {timeout:.0f} s")


def tree_peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and all its descendants, in MiB."""
    total_kb = 0
    for member in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def keep_on_one_cpu(pid: int) -> int:
    """Put a started baseline process, every thread of it, on the CPU one of the service's processes
    would choose (``auto``, cpu_affinity.py); threads it starts later inherit it."""
    from cpu_affinity import choose_cpu, pinned_elsewhere

    cpu = choose_cpu(os.sched_getaffinity(0), pinned_elsewhere(own_pid=pid))
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {cpu})
    return cpu


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, children):
        found += [child, *descendants(child)]
    return found


def python() -> str:
    return sys.executable
