"""Scaling: the service with 1, then 2 (``--workers 1,2``) worker processes, side by side on one stack.

``python -m bench.scaling`` starts the sandbox, the receiver and one worker on the bench's Redis, runs
``--payments`` payments of new customers (two events each) through them as ``bench.end_to_end`` does,
then starts the next worker process (``-n worker2@…``, the README's Scaling recipe) and runs the same
again, and so on. Per run: events per second and p50/p99 from receipt to done; Epicor calls per
payment and the most Epicor calls the sandbox served at once (never above ``EPICOR_MAX_CONCURRENCY``,
which holds for the deployment); Redis commands per payment from ``INFO commandstats`` (all, and the
EVALSHA among them, which is where the shared Epicor budget's lease renewals show), and the CPU per
event of the workers together. The scaling is each run's rate over the first's.

On a machine with fewer free cores than worker processes, a second worker only adds contention: the
figure to read there is that the per-payment costs stay the same.
"""

from __future__ import annotations

import argparse

from bench.common import BenchRedis, bench_stack, print_machine, print_table, worker_concurrency
from bench.end_to_end import run_real, start_workers, warm_up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100, help="payments per run (two events each)")
    parser.add_argument("--workers", default="1,2", help="worker process counts, in increasing order")
    parser.add_argument("--latency-ms", type=int, default=0, help="Epicor's answer time in the sandbox")
    args = parser.parse_args()
    counts = sorted({int(part) for part in args.workers.split(",") if part.strip()})
    print_machine()
    stack = bench_stack("scaling")
    results = {}
    with BenchRedis() as store:
        try:
            stack.start(["sandbox", "web", "worker"])
            warm_up(stack)
            for count in counts:
                start_workers(stack, count)
                warm_up(stack)  # the new worker's connections and caches, as on a running service
                results[count] = run_real(stack, store.pid(), args.payments, args.latency_ms, 300)
        finally:
            stack.stop()
    report(results, args)
    return 0


def report(results: dict[int, dict], args: argparse.Namespace) -> None:
    first = results[min(results)]["rate"]
    rows = [[count, run["events"], f"{run['rate']:.1f}", f"{run['rate'] / first:.2f}", f"{run['p50'] * 1000:.0f}",
             f"{run['p99'] * 1000:.0f}", " ".join(f"{k}={v}" for k, v in sorted(run["states"].items())),
             f"{run['epicor_calls']:.2f}", run["epicor_peak"],
             f"{sum(run['redis_per_payment'].values()):.1f}", f"{run['redis_per_payment'].get('evalsha', 0):.2f}",
             f"{run['cpu']['worker']:.1f}"] for count, run in sorted(results.items())]
    print_table(f"Scaling ({args.payments} payments x 2 events per run, Epicor {args.latency_ms} ms; each worker "
                f"--pool threads --concurrency {worker_concurrency()})",
                ["workers", "events", "events/s", "scaling", "p50 ms", "p99 ms", "states", "Epicor calls/payment",
                 "Epicor most in flight", "Redis commands/payment", "of which EVALSHA", "CPU ms/event workers"],
                rows)


if __name__ == "__main__":
    raise SystemExit(main())
