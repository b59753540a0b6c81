"""End-to-end benchmark: payments through the whole chain beside a bare five-task no-op chain.

``python -m bench.end_to_end`` runs, in one go and on the same Redis:

1. the ceiling: ``2 × N`` bare chains (``bench.bare_chain``) on a worker with the Procfile's pool and
   concurrency, all enqueued at once; chains per second and p50/p99 from enqueue to the last task;
2. the service with an Epicor answering at once: ``N`` payments of new customers made in the sandbox
   beforehand, each delivering its ``charge.succeeded`` and ``payment_intent.succeeded`` to the real
   receiver at once; events per second and p50/p99 from receipt (``received_at``) to done
   (``finished_at``), as the event records hold them;
3. the same with every Epicor call taking ``--latency-ms`` (the sandbox's ``latency_ms`` fault);
4. the bare chain again, so that a change in the machine's load during the run shows.

Beside each rate it prints the CPU time spent per event by each process (worker, receiver, sandbox,
Redis), and the worker's peak resident memory. Targets: service ≥ 0.7 × bare at 0 ms, and the
slow-Epicor figure ≥ 0.5 × the 0 ms figure. ``--workers N`` runs the service with N worker
processes sharing the Redis (``-n worker2@…``, … as the README's Scaling section starts them), their
CPU summed in the worker column; ``bench.scaling`` runs 1 and 2 side by side.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.bare_chain import DONE_KEY, QUEUE, bare_chain
from bench.common import (
    BenchRedis,
    bench_redis,
    bench_stack,
    cpu_seconds,
    descendants,
    keep_on_one_cpu,
    percentile,
    print_machine,
    print_table,
    stop_process,
    tree_peak_rss_mb,
    verdict,
    wait_until,
    worker_command,
    worker_concurrency,
)
from sandbox.signing import sign_payload
from sandbox.stack import DEMO_SECRET, ROOT, Stack, spawn, stop_signals_held

TERMINAL = ("done", "dead", "ignored")
PROCESSES = ("worker", "web", "sandbox", "redis")


class CpuMeter:
    """CPU seconds used by named processes (and their children) between start and stop; a name may
    stand for several processes (every worker)."""

    def __init__(self, pids: dict[str, int | None | list[int]]):
        self.pids = {name: pid if isinstance(pid, list) else [pid] for name, pid in pids.items()}
        self.start = {name: cpu_seconds(group) for name, group in self.pids.items()}

    def per_event_ms(self, events: int) -> dict[str, float]:
        return {name: (cpu_seconds(group) - self.start[name]) * 1000 / events for name, group in self.pids.items()}


def worker_names(stack: Stack) -> list[str]:
    return sorted(name for name in stack.processes if name == "worker" or name.startswith("worker_"))


def start_workers(stack: Stack, count: int) -> None:
    """Worker processes 2…count beside the stack's own, each named apart, on the same Redis."""
    for number in range(2, count + 1):
        name = f"worker_{number}"
        if name in stack.processes:
            continue
        command = list(stack.commands()["worker"])
        command[command.index("-n") + 1] = f"worker{number}-{stack.ports.web}@%h"
        with open(stack.log_dir / f"{name}.log", "ab") as log_file, stop_signals_held():
            stack.processes[name] = spawn(command, cwd=ROOT, env=stack.process_env("worker"), stdout=log_file,
                                          stderr=subprocess.STDOUT)  # the first worker's environment
        wait_until(lambda name=name: b" ready." in (stack.log_dir / f"{name}.log").read_bytes()[-20000:], 60, name)


def redis_commands(db: Any) -> dict[str, int]:
    """Calls per Redis command so far (INFO commandstats)."""
    return {name.removeprefix("cmdstat_"): int(stats["calls"]) for name, stats in db.info("commandstats").items()}


# -- the ceiling -----------------------------------------------------------------------------------
def run_bare(stack: Stack, redis_pid: int | None, chains: int, profile: Path | None = None,
             one_cpu: bool = False) -> dict[str, Any]:
    """The bare chain on stock Celery; ``one_cpu``: kept on one CPU as the service's worker keeps itself."""
    db = bench_redis()
    db.delete(DONE_KEY)
    stack.start_process("bare_worker", worker_command(stack, "bench.bare_chain", QUEUE))
    if one_cpu:  # at once, before the worker has started its pool's threads (they inherit it)
        keep_on_one_cpu(stack.processes["bare_worker"].pid)
    wait_until(lambda: b" ready." in (stack.log_dir / "bare_worker.log").read_bytes()[-20000:], 60, "bare worker")
    bare_chain({"event_id": "warm-up"}).apply_async()
    wait_until(lambda: db.hexists(DONE_KEY, "warm-up"), 30, "bare warm-up chain")
    db.delete(DONE_KEY)
    meter = CpuMeter({"worker": stack.processes["bare_worker"].pid, "redis": redis_pid})
    profilers = start_profilers(stack, profile / "bare", {"bare_worker": stack.processes["bare_worker"].pid}) \
        if profile else []
    prefix = secrets.token_hex(3)
    enqueued: dict[str, float] = {}
    for index in range(chains):
        event_id = f"bare-{prefix}-{index}"
        enqueued[event_id] = time.time()
        bare_chain({"event_id": event_id, "source": "stripe", "type": "charge.succeeded",
                    "flow": "order_to_cash", "object_id": f"ch_{index}"}).apply_async()
    wait_until(lambda: db.hlen(DONE_KEY) >= chains, 170, "bare chains", interval=0.05)
    stop_profilers(profilers)
    cpu = meter.per_event_ms(chains)
    finished = {event_id: float(at) for event_id, at in db.hgetall(DONE_KEY).items()}
    rss = tree_peak_rss_mb(stack.processes["bare_worker"].pid)
    stop_process(stack, "bare_worker")
    latencies = [finished[event_id] - start for event_id, start in enqueued.items()]
    span = max(finished.values()) - min(enqueued.values())
    return {"events": chains, "rate": chains / span, "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99), "states": {"done": chains}, "rss": rss, "cpu": cpu}


# -- the service -----------------------------------------------------------------------------------
class Driver:
    """Makes payments in the sandbox and delivers their events, signed, to the real receiver."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.http = requests.Session()
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))

    def payment(self, customer: Any) -> dict[str, Any]:
        response = self.http.post(f"{self.stack.sandbox_url}/_sandbox/stripe/payments", timeout=30,
                                  json={"amount": 4900, "currency": "usd", "customer": customer})
        response.raise_for_status()
        return response.json()

    def payments(self, count: int, tag: str) -> list[dict[str, Any]]:
        customers = [{"name": f"Bench Customer {tag} {i}", "email": f"bench-{tag}-{i}@example.com",
                      "address": {"line1": "1 Market St", "city": "San Francisco", "state": "CA",
                                  "postal_code": "94105", "country": "US"}} for i in range(count)]
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(self.payment, customers))

    def deliver(self, event: dict[str, Any]) -> int:
        body = json.dumps(event).encode()
        headers = {"Stripe-Signature": sign_payload(body, [DEMO_SECRET]), "Content-Type": "application/json"}
        return self.http.post(f"{self.stack.web_url}/webhooks/stripe", data=body, headers=headers,
                              timeout=30).status_code

    def deliver_all(self, payments: list[dict[str, Any]]) -> list[str]:
        events = [event for payment in payments for event in payment["events"]]
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(self.deliver, events))
        if any(status != 200 for status in statuses):
            raise RuntimeError(f"receiver refused deliveries: {sorted(set(statuses))}")
        return [event["id"] for event in events]

    def epicor(self, path: str, method: str = "GET", **body: Any) -> dict[str, Any]:
        response = self.http.request(method, f"{self.stack.sandbox_url}/_sandbox/epicor/{path}",
                                     json=body or None, timeout=10)
        response.raise_for_status()
        return response.json()


def wait_terminal(event_ids: list[str], timeout: float) -> list[dict[str, str]]:
    db = bench_redis()
    deadline = time.monotonic() + timeout
    while True:
        pipe = db.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.hmget(f"sec:event:{event_id}", "state", "received_at", "finished_at", "updated_at")
        rows = [dict(zip(("state", "received_at", "finished_at", "updated_at"), row)) for row in pipe.execute()]
        if all(row["state"] in TERMINAL for row in rows):
            return rows
        if time.monotonic() > deadline:
            left = sum(row["state"] not in TERMINAL for row in rows)
            raise RuntimeError(f"{left} events still running after {timeout:.0f} s")
        time.sleep(0.25)


def run_real(stack: Stack, redis_pid: int | None, payments: int, latency_ms: int, timeout: float,
             profile: Path | None = None) -> dict[str, Any]:
    driver = Driver(stack)
    driver.epicor("faults", "PUT", latency_ms=latency_ms)
    made = driver.payments(payments, secrets.token_hex(3))
    driver.epicor("stats/reset", "POST")
    meter = CpuMeter({"worker": [stack.processes[name].pid for name in worker_names(stack)],
                      "web": stack.processes["web"].pid, "sandbox": stack.processes["sandbox"].pid,
                      "redis": redis_pid})
    profilers = start_profilers(stack, profile / f"{latency_ms}ms") if profile else []
    commands = redis_commands(bench_redis())
    event_ids = driver.deliver_all(made)
    rows = wait_terminal(event_ids, timeout)
    stop_profilers(profilers)
    cpu = meter.per_event_ms(len(rows))
    after = redis_commands(bench_redis())
    calls = driver.epicor("stats")["total"]
    peak = driver.epicor("stats/in-flight")["max_in_flight"]
    driver.epicor("faults", "PUT", latency_ms=0)
    received = [float(row["received_at"]) for row in rows]
    finished = [float(row["finished_at"] or row["updated_at"]) for row in rows]
    states: dict[str, int] = {}
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
    latencies = [end - start for start, end in zip(received, finished)]
    return {"events": len(rows), "rate": len(rows) / (max(finished) - min(received)),
            "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99), "states": states,
            "epicor_calls": calls / payments, "cpu": cpu, "epicor_peak": peak,
            "redis_per_payment": {name: (after[name] - commands.get(name, 0)) / payments for name in after
                                  if after[name] > commands.get(name, 0)}}


def start_profilers(stack: Stack, directory: Path,
                    targets: dict[str, int] | None = None) -> list[subprocess.Popen[bytes]]:
    """py-spy (when installed) on the worker, the receiver's workers and the sandbox (or ``targets``):
    samples of the threads holding the GIL only."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy is not installed; --profile ignored")
        return []
    directory.mkdir(parents=True, exist_ok=True)
    targets = targets or {"worker": stack.processes["worker"].pid,
                          **{f"sandbox-{pid}": pid for pid in descendants(stack.processes["sandbox"].pid)},
                          **{f"web-{pid}": pid for pid in descendants(stack.processes["web"].pid)}}
    return [subprocess.Popen([spy, "record", "--pid", str(pid), "--gil", "--rate", "100", "--format", "raw",
                              "--output", str(directory / f"{name}.txt")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for name, pid in targets.items()]


def stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)
    for profiler in profilers:
        profiler.wait(timeout=30)


def warm_up(stack: Stack) -> None:
    """One payment first: parts and groups cached, connections open, as on a running service."""
    driver = Driver(stack)
    wait_terminal(driver.deliver_all(driver.payments(1, "warm" + secrets.token_hex(2))), 60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=200, help="payments per run (two events each)")
    parser.add_argument("--slow-payments", type=int, default=0, help="payments for the slow-Epicor run "
                        "(default: same as --payments)")
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--profile", type=Path, help="write py-spy on-CPU samples of each process here")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the Redis (default 1)")
    args = parser.parse_args()
    print_machine()
    stack = bench_stack("end_to_end")
    results: dict[str, dict[str, Any]] = {}
    with BenchRedis() as store:
        try:
            stack.start(["sandbox"])
            bare = [run_bare(stack, store.pid(), 2 * args.payments, args.profile)]
            pinned = [run_bare(stack, store.pid(), 2 * args.payments, one_cpu=True)]
            stack.start(["web", "worker"])
            start_workers(stack, args.workers)
            warm_up(stack)
            results["service, Epicor 0 ms"] = run_real(stack, store.pid(), args.payments, 0, 170, args.profile)
            results[f"service, Epicor {args.latency_ms} ms"] = run_real(
                stack, store.pid(), args.slow_payments or args.payments, args.latency_ms, 170)
            results["service, Epicor 0 ms"]["rss"] = tree_peak_rss_mb(stack.processes["worker"].pid)
            for name in worker_names(stack):
                stop_process(stack, name)
            stop_process(stack, "web")
            pinned.append(run_bare(stack, store.pid(), 2 * args.payments, one_cpu=True))
            bare.append(run_bare(stack, store.pid(), 2 * args.payments))
        finally:
            stack.stop()
    report(combined_bare(bare), combined_bare(pinned), results, args)
    return 0


def combined_bare(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The bare runs before and after the service as one row: means, with each run's rate noted."""
    mean = {key: sum(run[key] for run in runs) / len(runs) for key in ("rate", "p50", "p99", "rss")}
    cpu = {name: sum(run["cpu"][name] for run in runs) / len(runs) for name in runs[0]["cpu"]}
    return {**runs[0], **mean, "cpu": cpu, "note": " / ".join(f"{run['rate']:.1f}" for run in runs)}


def cpu_cells(cpu: dict[str, float]) -> list[str]:
    return [f"{cpu[name]:.1f}" if name in cpu else "-" for name in PROCESSES] + [f"{sum(cpu.values()):.1f}"]


def report(bare: dict[str, Any], pinned: dict[str, Any], results: dict[str, dict[str, Any]],
           args: argparse.Namespace) -> None:
    rows = [[name, run["events"], f"{run['rate']:.1f}", f"{run['p50'] * 1000:.0f}", f"{run['p99'] * 1000:.0f}",
             f"done={run['events']}", "-", *cpu_cells(run["cpu"])]
            for name, run in (("bare chain, 5 no-op tasks, stock (mean of before/after)", bare),
                              ("bare chain kept on one CPU like the service (mean)", pinned))]
    rows += [[name, r["events"], f"{r['rate']:.1f}", f"{r['p50'] * 1000:.0f}", f"{r['p99'] * 1000:.0f}",
              " ".join(f"{k}={v}" for k, v in sorted(r["states"].items())), f"{r['epicor_calls']:.2f}",
              *cpu_cells(r["cpu"])] for name, r in results.items()]
    print_table(f"End to end ({args.payments} payments x 2 events, new customers; {args.workers} worker "
                f"process(es), each --pool threads --concurrency {worker_concurrency()})",
                ["run", "events", "events/s", "p50 ms", "p99 ms", "states", "Epicor calls/payment",
                 *(f"CPU ms/event {name}" for name in PROCESSES), "CPU ms/event total"], rows)
    fast, slow = (r["rate"] for r in results.values())
    print(f"\nbare chain events/s before / after: stock {bare['note']}; kept on one CPU {pinned['note']}")
    print(f"ratio service / bare chain (Epicor 0 ms): {fast / bare['rate']:.2f} "
          f"(target >= 0.70: {verdict(fast / bare['rate'] >= 0.7)}); "
          f"beside the bare chain kept on one CPU too: {fast / pinned['rate']:.2f}")
    print(f"ratio Epicor {args.latency_ms} ms / 0 ms: {slow / fast:.2f} "
          f"(target >= 0.50: {verdict(slow / fast >= 0.5)})")
    print(f"worker peak RSS (VmHWM of the process tree): service {results['service, Epicor 0 ms']['rss']:.0f} MiB "
          f"after both runs; bare chain {bare['rss']:.0f} MiB")


if __name__ == "__main__":
    raise SystemExit(main())
