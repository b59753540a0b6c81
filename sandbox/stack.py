"""Run the whole stack on this machine: Redis, sandbox, web, worker and Flower (``make run``).

Used by ``make run`` (``python -m sandbox.stack``) and by the integration tests, so both exercise the
same real processes. Redis: ``REDIS_URL`` when it answers; otherwise a private ``redis-server`` with
AOF persistence and ``noeviction`` under ``.run/``; otherwise stop with a message naming the
alternatives. Every child runs in its own process group and is stopped on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
DEMO_SECRET = "whsec_sandbox_demo_secret"  # noqa: S105 - fixed, public value of the local demo
DEMO_EPICOR_SECRET = "epicor_sandbox_demo_secret"  # noqa: S105 - fixed, public value of the local demo


class StackError(RuntimeError):
    pass


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


def wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
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


@dataclass
class Stack:
    """The processes of one stack; ``env`` is what each of them sees."""

    ports: Ports = field(default_factory=Ports)
    redis_url: str | None = None
    data_dir: Path = RUN_DIR / "sandbox"
    log_dir: Path = RUN_DIR / "logs"
    extra_env: dict[str, str] = field(default_factory=dict)
    worker_concurrency: int = 96
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
            "EPICOR_BASE_URL": f"{self.sandbox_url}/KineticSandbox", "EPICOR_COMPANY": "EPIC06",
            "EPICOR_API_KEY": "sandbox-api-key", "EPICOR_USERNAME": "manager", "EPICOR_PASSWORD": "manager",
            "EPICOR_ALLOW_HTTP": "true", "EPICOR_TIMEOUT": "10", "EPICOR_WEBHOOK_SECRET": DEMO_EPICOR_SECRET,
            "FLOWER_BASIC_AUTH": env.get("FLOWER_BASIC_AUTH", "operator:sandbox"),
            "PYTHONUNBUFFERED": "1",
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
        commands = self.commands()
        for name in names:
            self.start_process(name, commands[name])
        self.wait_ready(names)

    def start_process(self, name: str, command: list[str]) -> None:
        log_file = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, env=self.env(), stdout=log_file,
                                                stderr=subprocess.STDOUT, start_new_session=True)

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
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


# -- Redis -----------------------------------------------------------------------------------------
def reachable_redis(url: str) -> bool:
    parsed = urlparse(url)
    return port_open(parsed.hostname or "127.0.0.1", parsed.port or 6379)


def start_private_redis(directory: Path) -> tuple[str, subprocess.Popen[bytes]]:
    if not shutil.which("redis-server"):
        raise StackError(
            "No Redis answers on REDIS_URL and redis-server is not installed.\n"
            "Either run the stack with Docker (`docker compose up`), install Redis "
            "(`apt-get install redis-server` or `brew install redis`), or point REDIS_URL at a Redis server.")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory),
         "--appendonly", "yes", "--maxmemory-policy", "noeviction", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for(lambda: port_open("127.0.0.1", port), 10, "the private redis-server")
    return f"redis://127.0.0.1:{port}/0", process


# -- the demo --------------------------------------------------------------------------------------
def trigger_demo_payment(stack: Stack) -> dict:
    command = [sys.executable, "-m", "sandbox", "trigger", "payment", "--sandbox-url", stack.sandbox_url,
               "--webhook-url", f"{stack.web_url}/webhooks/stripe", "--secret", DEMO_SECRET,
               "--amount", "3700", "--currency", "usd", "--customer", "new", "--name", "Acme Trading Ltd",
               "--email", "ap@acme.example", "--line", "WIDGET-100:2:1250", "--line", "GADGET-200:1:1200",
               "--checkout", "--json"]
    done = subprocess.run(command, env=stack.env(), cwd=ROOT, capture_output=True, check=True)
    return json.loads(done.stdout)


def wait_for_event(stack: Stack, event_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{stack.web_url}/api/events/{event_id}", timeout=2) as response:  # noqa: S310
                record = json.loads(response.read())
                if record.get("state") in ("done", "dead", "ignored"):
                    return record
        except urllib.error.URLError:
            pass
        time.sleep(0.2)
    raise StackError(f"event {event_id} did not finish within {timeout:.0f} s")


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


def main() -> int:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    redis_process = None
    try:
        if not reachable_redis(redis_url):
            redis_url, redis_process = start_private_redis(RUN_DIR / "redis")
            print(f"Started a private redis-server at {redis_url} (AOF on, noeviction)")
    except StackError as exc:
        print(exc, file=sys.stderr)
        return 2
    stack = Stack(redis_url=redis_url, ports=Ports(
        sandbox=int(os.environ.get("SANDBOX_PORT", 8100)), web=int(os.environ.get("PORT", 8000)),
        flower=int(os.environ.get("FLOWER_PORT", 5555))))
    try:
        return run_demo(stack)
    except StackError as exc:
        print(f"make run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nStopping…")
        stack.stop()
        if redis_process:
            os.killpg(redis_process.pid, signal.SIGTERM)
            redis_process.wait()


def run_demo(stack: Stack) -> int:
    started = time.monotonic()
    stack.start()
    print(f"Stack up in {time.monotonic() - started:.1f} s (logs in {stack.log_dir.relative_to(ROOT)}/)")
    print(f"  Receiver  {stack.web_url}/webhooks/stripe")
    print(f"  Flower    {stack.flower_url}  (user/password from FLOWER_BASIC_AUTH, default operator:sandbox)")
    print(f"  Sandbox   {stack.sandbox_url}  (Epicor at /KineticSandbox, Stripe at /v1)")
    result = trigger_demo_payment(stack)
    event_id = result["events"][0]["id"]
    print(f"\nDemo payment {result['payment_intent']['id']} sent as {len(result['events'])} signed events")
    print(f"  Event status  {stack.web_url}/api/events/{event_id}")
    record = wait_for_event(stack, event_id)
    print(f"  State: {record['state']} after {time.monotonic() - started:.1f} s; "
          f"Epicor keys {record.get('epicor_keys')}")
    if record["state"] == "done":
        print("\nEpicor documents produced:")
        print_documents(epicor_documents(stack), record["epicor_keys"])
    else:
        print(f"  Last error: {record.get('last_error')}")
    print("\nThe stack keeps running; press Ctrl-C to stop it.")
    try:
        while all(p.poll() is None for p in stack.processes.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    raise StackError("a process of the stack exited; see the logs")


if __name__ == "__main__":
    sys.exit(main())
