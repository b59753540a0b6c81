"""Run the whole stack on this machine: Redis, sandbox, web, worker and Flower (``make run``).

Used by ``make run`` (``python -m sandbox.stack``) and by the integration tests, so both exercise the
same real processes. Redis: ``REDIS_URL`` when it answers; otherwise a private ``redis-server`` with
AOF persistence and ``noeviction`` under the run directory (``STACK_RUN_DIR``, default ``.run/``);
otherwise stop with a message naming the alternatives.

Policy: nothing outlives its parent. Every child is started by ``spawn``: in a session of its own (so
the supervisor stops them in order, services before the Redis they use, and can stop each one's whole
process tree with one ``killpg``), and, on Linux, with ``PR_SET_PDEATHSIG`` so the kernel sends it
SIGTERM if the process that started it dies without cleaning up (SIGKILL, a crash). Because the
children are in their own sessions, a terminal's SIGINT or SIGHUP reaches only the supervisor; so
``main`` installs handlers for SIGINT, SIGTERM and SIGHUP explicitly (a shell starts a background job
with SIGINT ignored, and Python then installs no handler of its own; SIGTERM and SIGHUP would kill it
without any clean-up) and turns each into ``StopRequested``, which unwinds through ``Stack.stop``.
Stopping is bounded: SIGTERM to each process group, SIGKILL after 10 s, then a sweep of the group.
``make run`` runs this module as make's child: Ctrl-C and a closing terminal signal make's whole
process group, and make forwards SIGTERM to it, so every way of stopping ``make run`` reaches here.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import importlib.machinery
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
DEMO_SECRET = "whsec_sandbox_demo_secret"  # noqa: S105 - fixed, public value of the local demo
DEMO_EPICOR_SECRET = "epicor_sandbox_demo_secret"  # noqa: S105 - fixed, public value of the local demo
# The demo's console user (an operator), written to the stack's CONSOLE_USERS_FILE; public like the above.
DEMO_CONSOLE_USER = "operator"
DEMO_CONSOLE_PASSWORD = "sandbox-console"  # noqa: S105 - fixed, public value of the local demo
DEMO_ENV_FILE = "demo.env"  # the running demo's addresses and (public) secret, for `python -m sandbox trigger`
PID_FILE = "stack.pids"  # every process the running demo started, to check that none is left after it
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_GRACE_SECONDS = 10


class StackError(RuntimeError):
    pass


class ApiRefused(StackError):
    """The receiver's ``/api/`` asked for a console user that this stack was not given (``Stack.api_auth``)."""


class StopRequested(KeyboardInterrupt):
    """A stop signal arrived. A KeyboardInterrupt, so code that cleans up after Ctrl-C cleans up after it too."""


def run_dir() -> Path:
    """Where ``make run`` keeps logs, sandbox data, its private Redis and the demo's settings."""
    return Path(os.environ.get("STACK_RUN_DIR") or RUN_DIR)


# -- process lifetime ------------------------------------------------------------------------------
def _linux_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _linux_libc()  # loaded here, never between fork and exec
_PR_SET_PDEATHSIG = 1
_SIGTERM = int(signal.SIGTERM)


def spawn(command: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """Start a child in a session of its own that gets SIGTERM if the thread starting it dies first.

    The death signal is tied to the calling *thread* (Linux semantics): start long-lived children from
    the main thread, as ``make run`` and pytest fixtures do. Elsewhere than Linux there is no backstop,
    only the handlers of ``stop_on_signals`` and each caller's ``finally``.
    """
    options.setdefault("start_new_session", True)
    return subprocess.Popen(command, preexec_fn=_child_setup(os.getpid()), **options)  # noqa: PLW1509


def run_child(command: Sequence[str], **options: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` for a short command (the demo's payment, the checklist) that dies with us too.

    It stays in our process group, so Ctrl-C reaches it directly; ``run`` kills it if we are stopped.
    """
    return subprocess.run(command, preexec_fn=_child_setup(os.getpid()), **options)  # noqa: PLW1509


def _child_setup(parent: int) -> Callable[[], None]:
    """What runs in the child between fork and exec: only a few system calls, no allocation to speak of."""
    def setup() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # held by the parent in `stop_signals_held`
        if _LIBC is None:
            return
        _LIBC.prctl(_PR_SET_PDEATHSIG, _SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: no death signal would ever come
            os._exit(1)
    return setup


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Defer stop signals while a child is started and recorded: none may be started but not recorded."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def stop_on_signals() -> None:
    """Turn SIGINT, SIGTERM and SIGHUP into ``StopRequested``; set explicitly, even where SIGINT was ignored."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stop)


def ignore_stop_signals() -> None:
    """While stopping: a second Ctrl-C must not cut the clean-up short (it is bounded by the SIGKILL)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def _raise_stop(signum: int, _frame: object) -> None:
    ignore_stop_signals()
    if signum == signal.SIGHUP:
        _leave_terminal()
    raise StopRequested(signal.Signals(signum).name)


def _leave_terminal() -> None:
    """After a hang-up the terminal is gone: writing to it would fail in the middle of the clean-up."""
    with contextlib.suppress(OSError):
        if os.isatty(1) or os.isatty(2):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)


def stop_processes(processes: Sequence[subprocess.Popen[Any]], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each child's process group, SIGKILL it after ``grace`` seconds, sweep what it left, reap it."""
    running = [process for process in processes if process.returncode is None]
    for process in running:
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in running:
        if process.returncode is None and not _exited_unreaped(process, deadline):
            _signal_group(process.pid, signal.SIGKILL)
            _exited_unreaped(process, time.monotonic() + 5)
        if process.returncode is None:
            # Not reaped yet, so its pid cannot name anyone else's group: kill a grandchild left behind.
            _signal_group(process.pid, signal.SIGKILL)
        process.wait()


def _exited_unreaped(process: subprocess.Popen[Any], deadline: float) -> bool:
    """Wait until the child has exited, leaving it a zombie (its pid, and so its group id, stay ours)."""
    while True:
        try:
            if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def say(*lines: str, err: bool = False) -> None:
    """Print, but never fail: a stop must go on when the terminal is gone."""
    with contextlib.suppress(OSError, ValueError):
        print(*lines, sep="\n", file=sys.stderr if err else sys.stdout, flush=True)


# -- small helpers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise StackError(f"{what} did not come up within {timeout:.0f} s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - local addresses only
            return bool(response.status < 500)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Ports:
    sandbox: int = 8100
    web: int = 8000
    flower: int = 5555

    @classmethod
    def free(cls) -> Ports:
        return cls(sandbox=free_port(), web=free_port(), flower=free_port())

    @classmethod
    def from_env(cls) -> Ports:
        return cls(sandbox=int(os.environ.get("SANDBOX_PORT", 8100)), web=int(os.environ.get("PORT", 8000)),
                   flower=int(os.environ.get("FLOWER_PORT", 5555)))


@dataclass
class Stack:
    """The processes of one stack; ``env`` is what each of them sees."""

    ports: Ports = field(default_factory=Ports)
    redis_url: str | None = None
    data_dir: Path = RUN_DIR / "sandbox"
    log_dir: Path = RUN_DIR / "logs"
    extra_env: dict[str, str] = field(default_factory=dict)
    worker_concurrency: int = 96
    api_auth: tuple[str, str] | None = (DEMO_CONSOLE_USER, DEMO_CONSOLE_PASSWORD)  # /api/ as HTTP Basic
    metrics_dir: Path | None = None  # PROMETHEUS_MULTIPROC_DIR of web and worker; default: beside the logs
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.sandbox}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.web}"

    @property
    def flower_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.flower}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "REDIS_URL": self.redis_url or "redis://127.0.0.1:6379/0",
            "STRIPE_API_KEY": "sk_test_sandbox", "STRIPE_WEBHOOK_SECRET": DEMO_SECRET,
            "STRIPE_API_BASE": self.sandbox_url,
            # The receiver the Stripe sandbox's demo webhook endpoint names (what `tasks.doctor` checks),
            # and where `python -m sandbox trigger` delivers by default.
            "SANDBOX_WEBHOOK_URL": f"{self.web_url}/webhooks/stripe",
            "EPICOR_BASE_URL": f"{self.sandbox_url}/KineticSandbox", "EPICOR_COMPANY": "EPIC06",
            "EPICOR_API_KEY": "sandbox-api-key", "EPICOR_USERNAME": "manager", "EPICOR_PASSWORD": "manager",
            "EPICOR_ALLOW_HTTP": "true", "EPICOR_TIMEOUT": "10", "EPICOR_WEBHOOK_SECRET": DEMO_EPICOR_SECRET,
            "FLOWER_BASIC_AUTH": env.get("FLOWER_BASIC_AUTH", "operator:sandbox"),
            "PYTHONUNBUFFERED": "1",
            # The history (an SQLite file of this stack's own); extra_env may point it at PostgreSQL.
            "DATABASE_URL": f"sqlite:///{self.data_dir / 'history.sqlite3'}",
            "CONSOLE_USERS_FILE": str(self.console_users_path),
        })
        env.update(self.extra_env)
        return env

    # -- processes -----------------------------------------------------------------------------
    def commands(self) -> dict[str, list[str]]:
        py = sys.executable
        bin_dir = Path(py).parent
        return {
            "sandbox": [py, "-m", "sandbox", "serve", "--host", "127.0.0.1", "--port", str(self.ports.sandbox),
                        "--data-dir", str(self.data_dir), "--quiet"],
            "web": [str(bin_dir / "gunicorn"), "-c", "python:gunicorn_conf", "app:create_app()",
                    "--bind", f"127.0.0.1:{self.ports.web}",
                    "--workers", "2", "--threads", "8", "--log-level", "warning"],
            "worker": [str(bin_dir / "celery"), "-A", "tasks", "worker", "--loglevel", "INFO", "--pool", "threads",
                       "--concurrency", str(self.worker_concurrency), "-n", f"worker-{self.ports.web}@%h",
                       "--without-gossip", "--without-mingle"],
            "flower": [str(bin_dir / "celery"), "-A", "tasks", "flower", "--address=127.0.0.1",
                       f"--port={self.ports.flower}"],
        }

    def start(self, names: Sequence[str] = ("sandbox", "web", "worker", "flower")) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not any(self.processes.get(n) and self.processes[n].poll() is None for n in ("web", "worker")):
            shutil.rmtree(self.metrics_path, ignore_errors=True)  # none of its writers runs: start afresh
        self.metrics_path.mkdir(parents=True, exist_ok=True)
        self.write_demo_console_user()
        commands = self.commands()
        for name in names:
            self.start_process(name, commands[name])
        self.wait_ready(names)

    def start_process(self, name: str, command: list[str]) -> None:
        """Start one child (see ``spawn``), its output appended to ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as log_file, stop_signals_held():
            self.processes[name] = spawn(command, cwd=ROOT, env=self.process_env(name), stdout=log_file,
                                         stderr=subprocess.STDOUT)

    @property
    def console_users_path(self) -> Path:
        return self.data_dir.parent / "console-users"

    def write_demo_console_user(self) -> None:
        """The demo operator in this stack's users file (other users added with ``adduser`` are kept)."""
        from app.console.users import user_line, write_user

        line = user_line(DEMO_CONSOLE_USER, DEMO_CONSOLE_PASSWORD, "operator", rounds=10)
        write_user(self.console_users_path, DEMO_CONSOLE_USER, line)

    @property
    def metrics_path(self) -> Path:
        return self.metrics_dir or self.log_dir.parent / "metrics"

    def process_env(self, name: str) -> dict[str, str]:
        """``env()``, plus the metrics directory for the processes whose figures ``/metrics`` serves
        (Flower's own metrics stay out of it)."""
        env = self.env()
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if name in ("web", "worker"):
            env["PROMETHEUS_MULTIPROC_DIR"] = str(self.metrics_path)
        return env

    def start_redis(self, directory: Path) -> None:
        """A private redis-server for this stack; ``stop`` stops it after the services that use it."""
        require_redis_server()
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.start_process("redis", redis_command(directory, port))
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        wait_for(lambda: self._alive("redis") and port_open("127.0.0.1", port), 10, "the private redis-server")

    def wait_ready(self, names: Sequence[str]) -> None:
        checks = {
            "sandbox": (lambda: http_ok(f"{self.sandbox_url}/_sandbox/healthz"), "the sandbox"),
            "web": (lambda: http_ok(f"{self.web_url}/healthz"), "the web receiver"),
            "flower": (lambda: port_open("127.0.0.1", self.ports.flower), "Flower"),
            "worker": (self.worker_ready, "the Celery worker"),
        }
        for name in names:
            check, what = checks[name]
            wait_for(lambda name=name, check=check: self._alive(name) and check(), 60, what)

    def _alive(self, name: str) -> bool:
        process = self.processes[name]
        if process.poll() is not None:
            raise StackError(f"{name} exited with {process.returncode}; see {self.log_dir / (name + '.log')}")
        return True

    def worker_ready(self) -> bool:
        log = self.log_dir / "worker.log"
        return log.exists() and b" ready." in log.read_bytes()[-20000:]

    def kill_worker(self) -> None:
        """SIGKILL the worker's whole process group (a crash in the middle of a chain)."""
        os.killpg(self.processes["worker"].pid, signal.SIGKILL)
        self.processes["worker"].wait()

    def restart_worker(self) -> None:
        log = self.log_dir / "worker.log"
        log.write_bytes(b"")
        self.start_process("worker", self.commands()["worker"])
        self.wait_ready(["worker"])

    def stop(self) -> None:
        """Stop the services, then the private Redis they use; nothing is dropped from ``processes`` early."""
        stop_processes([process for name, process in self.processes.items() if name != "redis"])
        stop_processes([process for name, process in self.processes.items() if name == "redis"])
        self.processes.clear()

    def write_pid_file(self, path: Path) -> None:
        """The supervisor's pid and each child's, so a check (or a person) can see that none is left."""
        pids = {"supervisor": os.getpid(), **{name: process.pid for name, process in self.processes.items()}}
        path.write_text(json.dumps(pids) + "\n")


# -- Redis -----------------------------------------------------------------------------------------
def reachable_redis(url: str) -> bool:
    parsed = urlparse(url)
    return port_open(parsed.hostname or "127.0.0.1", parsed.port or 6379)


def require_redis_server() -> None:
    if not shutil.which("redis-server"):
        raise StackError(
            "No Redis answers on REDIS_URL and redis-server is not installed.\n"
            "Either run the stack with Docker (`docker compose up`), install Redis "
            "(`apt-get install redis-server` or `brew install redis`), or point REDIS_URL at a Redis server.")


def redis_command(directory: Path, port: int) -> list[str]:
    return ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory),
            "--appendonly", "yes", "--maxmemory-policy", "noeviction", "--save", ""]


def start_private_redis(directory: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """A redis-server of the caller's own on a free port (see ``spawn``); stopped again if it never answers."""
    require_redis_server()
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = spawn(redis_command(directory, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_open("127.0.0.1", port), 10, "the private redis-server")
    except BaseException:
        stop_processes([process])
        raise
    return f"redis://127.0.0.1:{port}/0", process


# -- the demo --------------------------------------------------------------------------------------
DEMO_PAYMENT = ["--amount", "3700", "--currency", "usd", "--customer", "new", "--name", "Acme Trading Ltd",
                "--email", "ap@acme.example", "--line", "WIDGET-100:2:1250", "--line", "GADGET-200:1:1200",
                "--checkout"]
ANOTHER_PAYMENT = ["--line", "WIDGET-100:1:1250"]


def trigger_demo_payment(stack: Stack) -> dict:
    command = [sys.executable, "-m", "sandbox", "trigger", "payment", "--sandbox-url", stack.sandbox_url,
               "--webhook-url", f"{stack.web_url}/webhooks/stripe", "--secret", DEMO_SECRET, *DEMO_PAYMENT, "--json"]
    done = run_child(command, env=stack.env(), cwd=ROOT, capture_output=True)
    if done.returncode != 0:
        raise StackError(f"the demo payment was not delivered: {done.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(done.stdout)


def wait_for_event(stack: Stack, event_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            record = api_get(stack, f"/api/events/{event_id}")
            if record.get("state") in ("done", "dead", "ignored"):
                return record
        except urllib.error.HTTPError as refused:
            if refused.code in (401, 403):
                raise ApiRefused(f"{stack.web_url}/api/ answered {refused.code}: it needs a console user") from None
        except urllib.error.URLError:
            pass
        time.sleep(0.2)
    raise StackError(f"event {event_id} did not finish within {timeout:.0f} s")


def api_get(stack: Stack, path: str) -> dict:
    """GET one of the receiver's ``/api/`` documents, as ``stack.api_auth`` when it is set."""
    request = urllib.request.Request(f"{stack.web_url}{path}")  # noqa: S310 - local addresses only
    if stack.api_auth:
        token = base64.b64encode(":".join(stack.api_auth).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - local addresses only
        return dict(json.loads(response.read()))


def epicor_documents(stack: Stack) -> dict:
    with urllib.request.urlopen(f"{stack.sandbox_url}/_sandbox/epicor/dump", timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


def print_documents(dump: dict, keys: dict) -> None:
    order = next(o for o in dump["SalesOrders"] if o["OrderNum"] == keys["OrderNum"])
    customer = next(c for c in dump["Customers"] if c["CustNum"] == keys["CustNum"])
    invoice = next(i for i in dump["ARInvoices"] if i["InvoiceNum"] == keys["InvoiceNum"])
    receipt = next(r for r in dump["CashRecs"] if r["HeadNum"] == keys["HeadNum"]
                   and r["GroupID"] == keys["CashGroupID"])
    print(f"  Customer     {customer['CustNum']} {customer['CustID']} {customer['Name']!r} ({customer['ExternalID']})")
    print(f"  Sales order  {order['OrderNum']} {order['CurrencyCode']} {order['DocOrderAmt']} "
          f"IntExternalKey={order['IntExternalKey']}")
    for line in (d for d in dump["OrderDtls"] if d["OrderNum"] == order["OrderNum"]):
        print(f"     line {line['OrderLine']}: {line['PartNum']} x {line['SellingQuantity']} @ {line['DocUnitPrice']}")
    print(f"  AR invoice   {invoice['InvoiceNum']} {invoice['InvoiceType']} {invoice['DocInvoiceAmt']} "
          f"open {invoice['DocUnpostedBal']} ExternalID={invoice['ExternalID']}")
    print(f"  Cash receipt {receipt['GroupID']}/{receipt['HeadNum']} {receipt['TranType']} {receipt['DocTranAmt']} "
          f"applied to invoice {invoice['InvoiceNum']}")


# -- the running demo's settings, for `python -m sandbox trigger` ----------------------------------
def write_demo_env(stack: Stack, directory: Path) -> None:
    """Write where the demo listens and its public webhook secret; gone again when the demo stops."""
    settings = {"STACK_PID": str(os.getpid()), "SANDBOX_URL": stack.sandbox_url,
                "SANDBOX_WEBHOOK_URL": f"{stack.web_url}/webhooks/stripe", "STRIPE_WEBHOOK_SECRET": DEMO_SECRET}
    path = directory / DEMO_ENV_FILE
    path.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    path.chmod(0o600)


def read_demo_env(directory: Path | None = None) -> dict[str, str]:
    """The running demo's settings; empty when no demo runs (no file, or the stack that wrote it is gone)."""
    try:
        lines = ((directory or run_dir()) / DEMO_ENV_FILE).read_text().splitlines()
    except OSError:
        return {}
    settings = dict(line.split("=", 1) for line in lines if "=" in line)
    return settings if _running(settings.get("STACK_PID", "")) else {}


def _running(pid_text: str) -> bool:
    try:
        pid = int(pid_text)
        if pid <= 0:
            return False
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass  # someone else's process, but alive
    return True


def forget_demo(directory: Path) -> None:
    for name in (DEMO_ENV_FILE, PID_FILE):
        (directory / name).unlink(missing_ok=True)


# -- make run --------------------------------------------------------------------------------------
def main() -> int:
    stop_on_signals()
    directory = run_dir()
    stack = Stack(ports=Ports.from_env(), data_dir=directory / "sandbox", log_dir=directory / "logs")
    try:
        return run_demo(stack, directory)
    except StopRequested as stop:
        say(f"\n{stop} received.")
        return 0
    except StackError as exc:
        say(f"make run failed: {exc}", err=True)
        return 1
    finally:
        ignore_stop_signals()
        say("Stopping every process of the stack…")
        stack.stop()
        forget_demo(directory)
        say("Stopped.")


def run_demo(stack: Stack, directory: Path | None = None) -> int:
    """Start the stack, check it, show a payment become Epicor documents, then run until stopped."""
    directory = directory or run_dir()
    started = time.monotonic()
    use_redis(stack, directory)
    stack.start()
    stack.write_pid_file(directory / PID_FILE)
    write_demo_env(stack, directory)
    show_addresses(stack, started, directory)
    run_doctor(stack)
    show_demo_payment(stack, started)
    show_next_steps(stack)
    return wait_until_stopped(stack)


def use_redis(stack: Stack, directory: Path) -> None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if os.environ.get("REDIS_SENTINELS"):  # the processes inherit it and find the primary through Sentinel
        stack.redis_url = url
        say(f"Redis through Sentinel: {os.environ['REDIS_SENTINELS']} (REDIS_SENTINEL_MASTER)")
        return
    if reachable_redis(url):
        stack.redis_url = url
        return
    stack.start_redis(directory / "redis")
    say(f"Started a private redis-server at {stack.redis_url} (AOF on, noeviction)")


def show_addresses(stack: Stack, started: float, directory: Path) -> None:
    say(f"Stack up in {time.monotonic() - started:.1f} s (logs in {_shown_path(stack.log_dir)}/, "
        f"pids in {_shown_path(directory / PID_FILE)})",
        f"  Receiver  {stack.web_url}/webhooks/stripe  (webhook secret {DEMO_SECRET})",
        f"  Flower    {stack.flower_url}  (user/password from FLOWER_BASIC_AUTH, default operator:sandbox)",
        f"  Sandbox   {stack.sandbox_url}  (Epicor at /KineticSandbox, Stripe at /v1)")


def run_doctor(stack: Stack) -> None:
    """The pre-flight checklist (``python -m tasks.doctor``) against this stack, when this version has it."""
    if importlib.machinery.PathFinder.find_spec("doctor", [str(ROOT / "tasks")]) is None:
        say("\nPre-flight checklist: `python -m tasks.doctor` is not in this version; skipped.")
        return
    command = [sys.executable, "-m", "tasks.doctor"]
    try:
        if "--url" in _run_text([*command, "--help"], stack).stdout:
            command += ["--url", f"{stack.web_url}/webhooks/stripe"]
        done = _run_text(command, stack)
    except subprocess.TimeoutExpired:
        say("\nPre-flight checklist: no answer within 120 s; skipped.")
        return
    verdict = "every check passed" if done.returncode == 0 else f"exit status {done.returncode}"
    say(f"\nPre-flight checklist ({shlex.join(['python', *command[1:]])}): {verdict}",
        *(f"  {line}" for line in (done.stdout + done.stderr).splitlines()))


def _run_text(command: list[str], stack: Stack) -> subprocess.CompletedProcess[str]:
    return run_child(command, env=stack.env(), cwd=ROOT, capture_output=True, text=True, timeout=120)


def show_demo_payment(stack: Stack, started: float) -> None:
    result = trigger_demo_payment(stack)
    event_id = result["events"][0]["id"]
    say(f"\nDemo payment {result['payment_intent']['id']} sent as {len(result['events'])} signed events",
        f"  Event status  {stack.web_url}/api/events/{event_id}")
    try:
        record = wait_for_event(stack, event_id)
    except ApiRefused as refused:
        say(f"  Its state is not shown: {refused}.")
        return
    say(f"  State: {record['state']} after {time.monotonic() - started:.1f} s; "
        f"Epicor keys {record.get('epicor_keys')}")
    if record["state"] == "done":
        say("\nEpicor documents produced:")
        print_documents(epicor_documents(stack), record["epicor_keys"])
    else:
        say(f"  Last error: {record.get('last_error')}")


def another_payment_command(stack: Stack) -> list[str]:
    """The command that sends one more sandbox payment to this stack (no secret to export: see sandbox.cli)."""
    python = _shown_path(Path(sys.executable))
    command = [python if "/" in python else f"./{python}", "-m", "sandbox", "trigger", "payment", *ANOTHER_PAYMENT]
    if (stack.ports.sandbox, stack.ports.web) != (Ports().sandbox, Ports().web):
        command += ["--sandbox-url", stack.sandbox_url, "--webhook-url", f"{stack.web_url}/webhooks/stripe"]
    return command


def show_next_steps(stack: Stack) -> None:
    say("\nThe stack keeps running.",
        f"  Console               {stack.web_url}/console/  (user {DEMO_CONSOLE_USER}, "
        f"password {DEMO_CONSOLE_PASSWORD}; more users: python -m app.console adduser NAME ROLE "
        f"--file {_shown_path(stack.console_users_path)})",
        f"  Send another payment  {shlex.join(another_payment_command(stack))}",
        f"  Follow the pipeline   {stack.flower_url}  (tasks, workers, the dead-letter queue)",
        "  Stop it               Ctrl-C (SIGTERM or closing the terminal too): every process started here stops")


def wait_until_stopped(stack: Stack) -> int:
    while all(process.poll() is None for process in stack.processes.values()):
        time.sleep(0.5)
    exited = next(name for name, process in stack.processes.items() if process.poll() is not None)
    raise StackError(f"{exited} exited; see {stack.log_dir / (exited + '.log')}")


def _shown_path(path: Path) -> str:
    """A path as short as it can be shown: relative to the current directory when it is under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
