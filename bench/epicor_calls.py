"""Round trips per payment: Epicor calls (the sandbox's ``/stats``) and Stripe calls (its request log).

``python -m bench.epicor_calls`` runs the stack on ``BENCH_REDIS_URL``, sends one warm-up payment (parts
and today's groups cached, as on a running service), then for each scenario resets the counters,
makes one one-line payment, delivers both of its events (``charge.succeeded`` and
``payment_intent.succeeded``) and counts. Target: at most 8 Epicor calls for a returning customer's
payment with both events delivered (the contract's floor is one look-up and six writes).
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from bench.common import BenchRedis, bench_stack, print_machine, print_table, verdict
from bench.end_to_end import Driver, wait_terminal
from sandbox.stack import Stack


def stripe_requests(driver: Driver) -> list[dict[str, Any]]:
    response = driver.http.get(f"{driver.stack.sandbox_url}/_sandbox/stripe/requests", timeout=10)
    response.raise_for_status()
    return response.json()["requests"]


def measure(driver: Driver, customer: Any, deliveries: int = 1) -> dict[str, Any]:
    """Counts for one payment of ``customer`` (a spec for a new one, or an existing ``cus_`` id)."""
    stripe_before = len(stripe_requests(driver))
    payment = driver.payment(customer)
    driver.epicor("stats/reset", "POST")
    stripe_made = len(stripe_requests(driver)) - stripe_before
    event_ids: list[str] = []
    for _ in range(deliveries):
        event_ids = driver.deliver_all([payment])
    rows = wait_terminal(event_ids, 60)
    stats = driver.epicor("stats")
    stripe_calls = len(stripe_requests(driver)) - stripe_before - stripe_made
    return {"payment": payment, "epicor": stats["total"], "calls": stats["calls"], "stripe": stripe_calls,
            "states": sorted({row["state"] for row in rows})}


def new_customer(tag: str) -> dict[str, Any]:
    return {"name": f"Calls Customer {tag}", "email": f"calls-{tag}@example.com",
            "address": {"line1": "1 Market St", "city": "San Francisco", "postal_code": "94105", "country": "US"}}


def run(stack: Stack) -> dict[str, dict[str, Any]]:
    driver = Driver(stack)
    tag = secrets.token_hex(3)
    measure(driver, new_customer(tag + "warm"))
    first = measure(driver, new_customer(tag))
    customer_id = first["payment"]["customer"]["id"]
    return {
        "new customer, both events": first,
        "returning customer, both events": measure(driver, customer_id),
        "returning customer, both events delivered 3 times": measure(driver, customer_id, deliveries=3),
        "guest (no Stripe customer), both events": measure(driver, None),
    }


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print_machine()
    stack = bench_stack("epicor_calls")
    with BenchRedis():
        try:
            stack.start(["sandbox", "web", "worker"])
            results = run(stack)
        finally:
            stack.stop()
    rows = [[name, r["epicor"], r["stripe"], ",".join(r["states"]),
             " ".join(f"{call}={count}" for call, count in r["calls"].items())] for name, r in results.items()]
    print_table("Round trips per one-line payment (caches warm)",
                ["scenario", "Epicor calls", "Stripe calls", "states", "Epicor calls by kind"], rows)
    returning = results["returning customer, both events"]["epicor"]
    print(f"\nreturning customer, both events: {returning} Epicor calls (target <= 8: {verdict(returning <= 8)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
