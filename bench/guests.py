"""Guests without an e-mail beside ordinary payments: a burst of each, and the lock retries they cost.

``python -m bench.guests`` starts a stack on a fresh sandbox (whose Epicor has no catch-all customer
yet), posts one ordinary payment to warm the caches, then delivers at once:

1. ``N`` guest payments with neither a Stripe customer nor a billing e-mail: all of them go to the one
   catch-all customer of ``mappings/defaults.yaml``, which the first of them creates;
2. ``N`` ordinary payments of new customers with an e-mail.

Each payment sends its ``charge.succeeded`` and ``payment_intent.succeeded``. For each burst it prints
events per second, p50/p99 from receipt to done, the final states, the Epicor calls per payment and
the number of stage retries whose reason was ``pipeline.lock_busy`` (counted in the worker's log,
where every retry is logged with its reason). Then it checks exactly-once in Epicor: one catch-all
customer, and one sales order, AR invoice and cash receipt per payment.

Run it on a commit before "guests do not queue behind one lock" (e.g. from a ``git archive`` of it) to
get the figures of the old per-customer lock beside the new per-payment one; ``--catch-all-exists``
creates the catch-all customer over Epicor's REST API first, as the old code needed it to post at all.
"""

from __future__ import annotations

import argparse
import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.common import BenchRedis, bench_stack, percentile, print_machine, print_table, worker_concurrency
from bench.end_to_end import Driver, wait_terminal, warm_up
from sandbox.stack import Stack

LOCK_BUSY = b"pipeline.lock_busy"
GUEST_BILLING = {"name": None, "email": None, "phone": None,
                 "address": {"line1": None, "city": None, "state": None, "postal_code": "94105", "country": "US"}}


def guest_payment(driver: Driver, index: int) -> dict[str, Any]:
    response = driver.http.post(f"{driver.stack.sandbox_url}/_sandbox/stripe/payments", timeout=30, json={
        "amount": 2500 + index, "currency": "usd", "customer": None, "billing_details": GUEST_BILLING})
    response.raise_for_status()
    return response.json()


def guest_payments(driver: Driver, count: int) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda index: guest_payment(driver, index), range(count)))


def create_catch_all(stack: Stack, cust_id: str) -> None:
    """The catch-all customer made as an Epicor user would, over the REST API (contract §4)."""
    env = stack.env()
    url = f"{env['EPICOR_BASE_URL']}/api/v2/odata/{env['EPICOR_COMPANY']}/Erp.BO.CustomerSvc/Customers"
    response = requests.post(url, json={"CustID": cust_id, "Name": "Stripe guest payments"}, timeout=10,
                             auth=(env["EPICOR_USERNAME"], env["EPICOR_PASSWORD"]),
                             headers={"x-api-key": env["EPICOR_API_KEY"]})
    response.raise_for_status()


def lock_busy_count(stack: Stack) -> int:
    """Stage retries for a busy lock so far: the worker logs each retry with its reason."""
    return (stack.log_dir / "worker.log").read_bytes().count(LOCK_BUSY)


def burst(stack: Stack, payments: list[dict[str, Any]], timeout: float) -> dict[str, Any]:
    """Deliver every event of ``payments`` at once and wait until each is finished."""
    driver = Driver(stack)
    driver.epicor("stats/reset", "POST")
    busy_before = lock_busy_count(stack)
    rows = wait_terminal(driver.deliver_all(payments), timeout)
    received = [float(row["received_at"]) for row in rows]
    finished = [float(row["finished_at"] or row["updated_at"]) for row in rows]
    latencies = [end - start for start, end in zip(received, finished)]
    return {"events": len(rows), "rate": len(rows) / (max(finished) - min(received)),
            "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "states": Counter(row["state"] for row in rows), "lock_busy": lock_busy_count(stack) - busy_before,
            "epicor_calls": driver.epicor("stats")["total"] / len(payments)}


def exactly_once(driver: Driver, payments: list[dict[str, Any]], catch_all: str) -> list[str]:
    """Problems found in Epicor: anything but one catch-all and one order, invoice and receipt per payment."""
    dump = driver.epicor("dump")
    problems = []
    catch_alls = [row for row in dump["Customers"] if row["CustID"] == catch_all]
    if len(catch_alls) != 1:
        problems.append(f"{len(catch_alls)} catch-all customers {catch_all}")
    orders = Counter(row["IntExternalKey"] for row in dump["SalesOrders"])
    invoices = Counter(row["ExternalID"] for row in dump["ARInvoices"])
    receipts = Counter(row["ExternalID"] for row in dump["CashRecs"])
    for payment in payments:
        intent, charge = payment["payment_intent"]["id"], payment["charge"]["id"]
        counts = (orders[intent], invoices[charge], receipts[charge])
        if counts != (1, 1, 1):
            problems.append(f"{intent}: orders/invoices/receipts {counts}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=200, help="payments per burst (two events each)")
    parser.add_argument("--latency-ms", type=int, default=20, help="every Epicor call takes this long")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--catch-all-exists", action="store_true", help="create the catch-all customer first")
    args = parser.parse_args()
    print_machine()
    stack = bench_stack("guests")
    with BenchRedis():
        try:
            stack.start(["sandbox", "web", "worker"])
            warm_up(stack)
            if args.catch_all_exists:
                create_catch_all(stack, "STRIPEGUES")
            driver = Driver(stack)
            driver.epicor("faults", "PUT", latency_ms=args.latency_ms)
            guests = guest_payments(driver, args.payments)
            ordinary = driver.payments(args.payments, secrets.token_hex(3))
            results = {"guests without e-mail (one catch-all)": burst(stack, guests, args.timeout),
                       "ordinary payments (new customers)": burst(stack, ordinary, args.timeout)}
            problems = exactly_once(driver, guests + ordinary, "STRIPEGUES")
        finally:
            stack.stop()
    report(results, problems, args)
    return 1 if problems else 0


def report(results: dict[str, dict[str, Any]], problems: list[str], args: argparse.Namespace) -> None:
    rows = [[name, r["events"], f"{r['rate']:.1f}", f"{r['p50'] * 1000:.0f}", f"{r['p99'] * 1000:.0f}",
             " ".join(f"{k}={v}" for k, v in sorted(r["states"].items())), r["lock_busy"], f"{r['epicor_calls']:.2f}"]
            for name, r in results.items()]
    print_table(f"Guests beside ordinary payments ({args.payments} payments x 2 events per burst, Epicor "
                f"{args.latency_ms} ms per call; worker --pool threads --concurrency {worker_concurrency()})",
                ["burst", "events", "events/s", "p50 ms", "p99 ms", "states", "pipeline.lock_busy retries",
                 "Epicor calls/payment"], rows)
    guests, ordinary = (r["rate"] for r in results.values())
    print(f"\nguests / ordinary events/s: {guests / ordinary:.2f}")
    print("exactly once in Epicor: " + ("yes (one catch-all; one order, invoice, receipt per payment)"
                                        if not problems else "NO: " + "; ".join(problems[:10])))


if __name__ == "__main__":
    raise SystemExit(main())
