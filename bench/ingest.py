"""Ingest benchmark: the real receiver beside a bare one, same gunicorn, same Redis, same run.

``python -m bench.ingest`` starts gunicorn servers with the Procfile's settings (2 workers ×
8 threads): the real receiver (``app:create_app()``, whose workers keep to one CPU each through
``gunicorn_conf.py``) and ``bench.bare_receiver`` (verify the signature, enqueue one no-op task) on
stock gunicorn, twice: as it is, and with its workers kept on one CPU each like the real one's. No
worker runs, so only acknowledgement is measured. For each of ``--rounds`` interleaved rounds and
each server: a closed loop at saturation (requests/s), then an open loop at ``--rate`` requests/s
(p50/p99 latency from each request's scheduled send time). Every request is a distinct, validly
signed ``charge.succeeded`` snapshot event of realistic size.
Targets: real ≥ 0.8 × bare at saturation, and p99 ≤ 50 ms at 300 requests/s.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time

from bench import loadgen
from bench.common import (
    BenchRedis,
    bench_redis,
    bench_stack,
    cpu_seconds,
    descendants,
    keep_on_one_cpu,
    median,
    percentile,
    print_machine,
    print_table,
    stop_process,
    verdict,
    wait_until,
    web_command,
)
from sandbox.signing import sign_payload
from sandbox.stack import DEMO_SECRET, free_port, http_ok

PATH = "/webhooks/stripe"


def charge_event(event_id: str, charge_id: str) -> dict:
    """A snapshot ``charge.succeeded`` of the size Stripe sends (about 2.5 kB)."""
    charge = {
        "id": charge_id, "object": "charge", "amount": 4900, "amount_captured": 4900, "amount_refunded": 0,
        "balance_transaction": "txn_" + charge_id[3:], "captured": True, "created": int(time.time()),
        "currency": "usd", "customer": "cus_Bench0001", "description": "Order from the web shop",
        "livemode": False, "metadata": {"order_ref": "WEB-1042"}, "paid": True,
        "payment_intent": "pi_" + charge_id[3:], "payment_method": "pm_" + charge_id[3:], "status": "succeeded",
        "billing_details": {"name": "Jenny Rosen", "email": "jenny.rosen@example.com", "phone": None,
                            "address": {"line1": "510 Townsend St", "line2": None, "city": "San Francisco",
                                        "state": "CA", "postal_code": "94103", "country": "US"}},
        "outcome": {"network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                    "risk_score": 32, "seller_message": "Payment complete.", "type": "authorized"},
        "payment_method_details": {"type": "card", "card": {
            "brand": "visa", "country": "US", "exp_month": 8, "exp_year": 2030, "fingerprint": "Xt5EWLLDS7FJjR1c",
            "funding": "credit", "last4": "4242", "network": "visa", "three_d_secure": None,
            "checks": {"address_line1_check": "pass", "address_postal_code_check": "pass", "cvc_check": "pass"}}},
        "receipt_email": "jenny.rosen@example.com", "receipt_url": "https://pay.stripe.com/receipts/" + charge_id,
        "refunded": False, "refunds": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                                       "url": f"/v1/charges/{charge_id}/refunds"},
        "shipping": None, "source": None, "statement_descriptor": None, "transfer_data": None,
    }
    return {"id": event_id, "object": "event", "api_version": "2024-06-20", "created": int(time.time()),
            "data": {"object": charge}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": "req_" + event_id[4:], "idempotency_key": None}, "type": "charge.succeeded"}


def request_maker(prefix: str):  # type: ignore[no-untyped-def]
    def make(index: int) -> loadgen.Request:
        body = json.dumps(charge_event(f"evt_{prefix}{index:09d}", f"ch_{prefix}{index:09d}")).encode()
        return body, {"Content-Type": "application/json", "Stripe-Signature": sign_payload(body, [DEMO_SECRET])}
    return make


def measure(name: str, port: int, pids: dict[str, int | None], args: argparse.Namespace) -> dict[str, float]:
    target = ("127.0.0.1", port, PATH)
    before = {process: cpu_seconds([pid]) for process, pid in pids.items()}
    saturated = loadgen.closed_loop(*target, request_maker(secrets.token_hex(4)), concurrency=args.connections,
                                    duration=args.saturation_seconds)
    cpu = {process: (cpu_seconds([pid]) - before[process]) * 1000 / max(1, saturated.completed)
           for process, pid in pids.items()}
    bench_redis().flushdb()
    paced = loadgen.open_loop(*target, request_maker(secrets.token_hex(4)), rate=args.rate, duration=args.seconds)
    bench_redis().flushdb()
    return {"rps": saturated.rate, "sat_p99": percentile(saturated.latencies, 0.99) * 1000,
            "p50": percentile(paced.latencies, 0.50) * 1000, "p99": percentile(paced.latencies, 0.99) * 1000,
            "errors": saturated.failures + paced.failures, "paced_rate": paced.rate,
            "cpu_web": cpu["web"], "cpu_redis": cpu["redis"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each fixed-rate phase")
    parser.add_argument("--saturation-seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=32, help="closed-loop connections at saturation")
    args = parser.parse_args()
    print_machine()
    stack = bench_stack("ingest")
    bare_port = free_port()
    pinned_port = free_port()
    results: dict[str, list[dict[str, float]]] = {"bare": [], "bare, one CPU per worker": [], "real": []}
    with BenchRedis() as store:
        try:
            stack.start(["web"])
            stack.start_process("bare", web_command(stack, "bench.bare_receiver:create_app()", bare_port))
            stack.start_process("bare_pinned", web_command(stack, "bench.bare_receiver:create_app()", pinned_port))
            for port in (bare_port, pinned_port):
                wait_until(lambda port=port: http_ok(f"http://127.0.0.1:{port}/healthz"), 60, "the bare receivers")
            for worker in descendants(stack.processes["bare_pinned"].pid):  # as gunicorn_conf.py does
                keep_on_one_cpu(worker)
            servers = {"bare": (bare_port, stack.processes["bare"].pid),
                       "bare, one CPU per worker": (pinned_port, stack.processes["bare_pinned"].pid),
                       "real": (stack.ports.web, stack.processes["web"].pid)}
            for port, _ in servers.values():  # warm both: imports, broker connections, keep-alive
                loadgen.open_loop("127.0.0.1", port, PATH, request_maker("warm" + secrets.token_hex(2)),
                                  rate=100, duration=2)
            bench_redis().flushdb()
            for _ in range(args.rounds):
                for name, (port, pid) in servers.items():
                    results[name].append(measure(name, port, {"web": pid, "redis": store.pid()}, args))
        finally:
            stop_process(stack, "bare")
            stop_process(stack, "bare_pinned")
            stack.stop()
    report(results, args)
    return 0


def report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    summary = {name: {key: median([run[key] for run in runs]) for key in runs[0]} for name, runs in results.items()}
    rows = [[name, f"{s['rps']:.0f}", f"{s['sat_p99']:.1f}", f"{s['paced_rate']:.0f}", f"{s['p50']:.1f}",
             f"{s['p99']:.1f}", int(sum(run["errors"] for run in results[name])), f"{s['cpu_web']:.2f}",
             f"{s['cpu_redis']:.2f}"] for name, s in summary.items()]
    print_table(f"Ingest (median of {args.rounds} interleaved rounds; {args.connections} connections at "
                f"saturation, open loop at {args.rate:.0f} req/s for {args.seconds:.0f} s)",
                ["receiver", "req/s at saturation", "p99 ms at saturation", f"achieved req/s @{args.rate:.0f}",
                 f"p50 ms @{args.rate:.0f}", f"p99 ms @{args.rate:.0f}", "non-200", "CPU ms/req gunicorn",
                 "CPU ms/req redis"], rows)
    ratio = summary["real"]["rps"] / summary["bare"]["rps"] if summary["bare"]["rps"] else 0.0
    pinned = summary["bare, one CPU per worker"]["rps"]
    print("\nper round (req/s bare/bare one CPU per worker/real): " + ", ".join(
        f"{b['rps']:.0f}/{p['rps']:.0f}/{r['rps']:.0f}"
        for b, p, r in zip(results["bare"], results["bare, one CPU per worker"], results["real"])))
    print(f"ratio real/bare at saturation: {ratio:.2f} (target >= 0.80: {verdict(ratio >= 0.8)}); "
          f"beside the bare receiver with its workers kept on one CPU each too: "
          f"{summary['real']['rps'] / pinned if pinned else 0.0:.2f}")
    cpu_ratio = summary["bare"]["cpu_web"] / summary["real"]["cpu_web"] if summary["real"]["cpu_web"] else 0.0
    print(f"ratio of CPU per request bare/real (the same comparison, less sensitive to other load): {cpu_ratio:.2f}")
    p99 = summary["real"]["p99"]
    print(f"real p99 at {args.rate:.0f} req/s: {p99:.1f} ms (target <= 50 ms: {verdict(p99 <= 50)}); "
          f"p99 ratio real/bare: {p99 / summary['bare']['p99']:.2f}" if summary["bare"]["p99"] else "")


if __name__ == "__main__":
    raise SystemExit(main())
