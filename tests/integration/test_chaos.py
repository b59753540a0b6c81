"""Chaos: 200+ payments, duplicate concurrent deliveries, Epicor faults, a worker killed with SIGKILL
and a Redis restart mid-run, and a few payments that can only fail. Run again with three worker
processes on one Redis (issue 16, point 5; fewer payments, so it stays under three minutes), two of
them killed with SIGKILL at once and restarted, under the same faults and the same Redis restart.

Expected, as the accountant checks it: exactly one customer per Stripe customer (and per guest e-mail),
one order, invoice and applied receipt per payment, receipts summing to the payments to the cent per
currency; the injected permanent errors (payments naming a part that does not exist) dead-lettered
with their reason and nothing else; `celery -A tasks dlq retry --all` completing them once the parts
exist. The stack runs on a private Redis with short timeouts and backoff (``Stack.extra_env``), not on
production defaults. Figures of the run are printed (``pytest -s``) and written to the stack's logs.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tasks.broker import queue_depth
from tasks.mapping.currency import minor_to_decimal
from tests.integration.conftest import Harness
from tests.integration.test_global_budget import ready, start_worker
from tests.integration.test_order_to_cash import assert_one_set, documents_for
from tests.integration.test_resilience import AlertReceiver, dlq_cli, private_stack

pytestmark = pytest.mark.integration

PAYMENTS = 204
PAYMENTS_WITH_THREE_WORKERS = 120
EXTRA_WORKERS = ("worker2", "worker3")  # beside the stack's own "worker": three processes, one Redis
INJECTED = 6
CURRENCIES = ("usd", "jpy", "kwd")
PARTS = (("WIDGET-100", "Widget"), ("GADGET-200", "Gadget"))
FAULTS = {"error_rate": 0.1, "commit_then_timeout_rate": 0.03, "timeout_seconds": 3, "license_burst": 25,
          "seed": 20240611}
ALERT_LIMIT = 5
CHAOS_ENV = {
    "EPICOR_TIMEOUT": "2",                 # below the sandbox's 3 s hold: a committed create times out
    "RETRY_MAX": "60", "RETRY_BACKOFF_BASE": "0.5", "RETRY_BACKOFF_MAX": "3",
    "BROKER_VISIBILITY_TIMEOUT": "30", "BROKER_RESTORE_INTERVAL": "2",   # the killed worker's tasks return
    "MAX_RETRY_COUNTDOWN": "5", "LOCK_TIMEOUT_SECONDS": "15",   # a lock held by the killed worker expires
    "STALL_SECONDS": "40", "STALL_SWEEP_INTERVAL": "5",  # a message the broker lost is re-queued
    "ALERT_MAX_PER_WINDOW": str(ALERT_LIMIT), "ALERT_DLQ_THRESHOLD": "1000",
}


@pytest.fixture(scope="module")
def alerts_hook() -> Iterator[AlertReceiver]:
    receiver = AlertReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def chaos(tmp_path_factory, alerts_hook):
    env = {**CHAOS_ENV, "ALERT_WEBHOOK_URL": alerts_hook.url}
    with private_stack(tmp_path_factory.mktemp("chaos"), env, worker_concurrency=16) as (stack, private):
        yield stack, private, Harness(stack)


@pytest.fixture(scope="module")
def three_worker_alerts() -> Iterator[AlertReceiver]:
    receiver = AlertReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def three_worker_chaos(tmp_path_factory, three_worker_alerts):
    """The chaos stack with two more worker processes (named apart) on the same private Redis."""
    env = {**CHAOS_ENV, "ALERT_WEBHOOK_URL": three_worker_alerts.url}
    with private_stack(tmp_path_factory.mktemp("chaos3"), env, worker_concurrency=8) as (stack, private):
        for name in EXTRA_WORKERS:
            start_worker(stack, name)
        wait_ready(stack, EXTRA_WORKERS)
        yield stack, private, Harness(stack)


def wait_ready(stack, names: tuple[str, ...], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not all(ready(stack, name) for name in names):
        assert time.monotonic() < deadline, f"{names} did not start"
        time.sleep(0.2)


def kill_and_restart(stack, names: tuple[str, ...]) -> dict[str, str]:
    """SIGKILL each named worker's process group at once, then start them again; their logs so far."""
    logs = {}
    for name in names:
        os.killpg(stack.processes[name].pid, signal.SIGKILL)
    for name in names:
        stack.processes[name].wait()
        log = stack.log_dir / f"{name}.log"
        logs[name] = log.read_text(errors="replace")
        log.write_bytes(b"")  # so "ready." below is the new process's
    time.sleep(1)
    for name in names:
        if name == "worker":
            stack.start_process("worker", stack.commands()["worker"])
        else:
            start_worker(stack, name)
    wait_ready(stack, names)
    return logs


# -- the payments -----------------------------------------------------------------------------------
class Plan:
    """The payments of the run and what each must become in Epicor."""

    def __init__(self, harness: Harness, rng: random.Random, run: str, count: int = PAYMENTS):
        self.harness, self.rng, self.run, self.count = harness, rng, run, count
        self.payments: list[dict[str, Any]] = []
        self.expected: dict[str, tuple[Decimal, str]] = {}
        self.injected: dict[str, str] = {}
        self.stripe_customers: list[str] = []
        self.injected_customers: list[str] = []
        self.guest_emails = [f"guest{n}.{run}@chaos.example" for n in range(8)]

    def make(self) -> None:
        for n in range(self.count):
            self._add(self._spec(n))
        for n in range(INJECTED):
            part = f"CHAOS-{self.run}-{n}"
            payment = self._add({"amount": 1000 + n, "currency": "usd", "metadata": {"epicor_part_num": part},
                                 "customer": self._new_customer(f"missing{n}")}, returning=False)
            self.injected[payment["payment_intent"]["id"]] = part
            self.injected_customers.append(payment["customer"]["id"])

    def _spec(self, n: int) -> dict[str, Any]:
        currency = CURRENCIES[n % 3]
        kind = self.rng.choices(("new", "returning", "guest"), weights=(4, 4, 2))[0]
        if kind == "returning" and self.stripe_customers:
            customer: Any = self.rng.choice(self.stripe_customers)
        elif kind == "guest":
            customer = None
        else:
            customer = self._new_customer(str(n))
        spec: dict[str, Any] = {"currency": currency, "customer": customer}
        if customer is None:
            spec["billing_details"] = {"name": "Chaos Guest", "email": self.rng.choice(self.guest_emails),
                                       "address": {"line1": "1 Chaos Way", "city": "Austin", "state": "TX",
                                                   "postal_code": "73301", "country": "US"}}
        if self.rng.random() < 0.4:
            spec.update(checkout=True, line_items=[
                {"product_name": name, "product_metadata": {"epicor_part_num": part},
                 "unit_amount": self.rng.randint(1, 500) * 25, "quantity": self.rng.randint(1, 3)}
                for part, name in self.rng.sample(PARTS, self.rng.randint(1, 2))])
        else:
            spec["amount"] = self.rng.randint(50, 90_000)
        return spec

    def _new_customer(self, tag: str) -> dict[str, Any]:
        return {"name": f"Chaos Buyer {tag} {self.run}", "email": f"buyer{tag}.{self.run}@chaos.example",
                "address": {"line1": "2 Market Street", "city": "San Francisco", "state": "CA",
                            "postal_code": "94105", "country": "US"}}

    def _add(self, spec: dict[str, Any], returning: bool = True) -> dict[str, Any]:
        payment = self.harness.create_payment(**spec)
        if isinstance(spec["customer"], dict) and returning:
            self.stripe_customers.append(payment["customer"]["id"])
        self.payments.append(payment)
        amount = payment["payment_intent"]["amount"]
        self.expected[payment["payment_intent"]["id"]] = (minor_to_decimal(amount, spec["currency"]),
                                                          spec["currency"].upper())
        return payment

    def events(self) -> list[dict[str, Any]]:
        return [event for payment in self.payments for event in payment["events"]]

    def injected_event_ids(self) -> set[str]:
        return {e["id"] for p in self.payments if p["payment_intent"]["id"] in self.injected for e in p["events"]}


# -- deliveries -------------------------------------------------------------------------------------
class Deliverer:
    """Stripe's side: every event 1–3 times, the copies at the same moment; a refused one is resent."""

    def __init__(self, harness: Harness, events: list[dict[str, Any]], rng: random.Random):
        self.harness = Harness(harness.stack)
        self.harness.http.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64))
        self.batches = [[event] * rng.randint(1, 3) for event in events]
        rng.shuffle(self.batches)
        self.sent = 0
        self.refused = 0
        self.done = 0
        self.lock = threading.Lock()

    @property
    def deliveries(self) -> int:
        return sum(len(batch) for batch in self.batches)

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=12) as pool:
            list(pool.map(self._batch, self.batches))

    def _batch(self, batch: list[dict[str, Any]]) -> None:
        time.sleep(0.25)  # events arrive over some seconds, so the Redis restart falls among deliveries
        start = threading.Barrier(len(batch))
        threads = [threading.Thread(target=self._deliver, args=(event, start)) for event in batch]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with self.lock:
            self.done += 1

    def _deliver(self, event: dict[str, Any], start: threading.Barrier) -> None:
        start.wait()
        for _ in range(240):
            try:
                status = self.harness.deliver(event).status_code
            except OSError:
                status = 0
            with self.lock:
                self.sent += 1
                self.refused += status != 200
            if status == 200:
                return
            time.sleep(0.5)
        raise AssertionError(f"{event['id']} was never accepted")

    def wait_until(self, fraction: float) -> None:
        while self.done < fraction * len(self.batches):
            time.sleep(0.2)


def broker_state(url: str) -> str:
    """What Redis holds for the broker, to tell a lost message from a slow one when the test fails."""
    client = redis.Redis.from_url(url, decode_responses=True)
    stuck = [k for k in client.scan_iter("sec:event:*") if client.hget(k, "state") in ("received", "processing")]
    return json.dumps({
        "queues": {q: queue_depth(client, q) for q in ("pipeline", "dead_letter")},
        "unacked": client.hlen("unacked"), "unacked_index": client.zcard("unacked_index"),
        "oldest_unacked_age": round(
            time.time() - (client.zrange("unacked_index", 0, 0, withscores=True) or [("", time.time())])[0][1], 1),
        "unacked_mutex_ttl": client.ttl("unacked_mutex"),
        "stuck_events": {k: client.hgetall(k) for k in stuck[:5]},
    }, indent=2, default=str)


def cpu_seconds(stack) -> dict[str, float]:
    """CPU time used so far by each process group of the stack (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for name, process in stack.processes.items():
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == process.pid:  # process group id
                total += int(fields[11]) + int(fields[12])
        used[name] = round(total / ticks, 1)
    return used


def retries_by_reason(worker_log: str) -> Counter[str]:
    return Counter(re.findall(r"stage failed, retrying in \d+ s: ([\w.]+)", worker_log))


# -- the tests --------------------------------------------------------------------------------------
def test_chaos_nothing_lost_nothing_posted_twice(chaos, alerts_hook):
    stack, private, harness = chaos
    run_chaos(stack, private, harness, alerts_hook, payments=PAYMENTS, killed=("worker",))


def test_chaos_with_three_worker_processes_posts_everything_exactly_once(three_worker_chaos, three_worker_alerts):
    stack, private, harness = three_worker_chaos
    before_kill = run_chaos(stack, private, harness, three_worker_alerts, payments=PAYMENTS_WITH_THREE_WORKERS,
                            killed=("worker", "worker2"))
    posted_by = {name for name in ("worker", *EXTRA_WORKERS)
                 if "pipeline.post" in before_kill.get(name, "") + (stack.log_dir / f"{name}.log").read_text()}
    assert posted_by == {"worker", *EXTRA_WORKERS}  # the load really was spread over three processes


def run_chaos(stack, private, harness: Harness, hook: AlertReceiver, *, payments: int,
              killed: tuple[str, ...]) -> dict[str, str]:
    """The run: deliveries under faults, ``killed`` workers SIGKILLed at 30 %, Redis restarted at 60 %,
    then every check to the cent and the dead letters replayed; the killed workers' logs."""
    started = time.monotonic()
    phases: dict[str, float] = {}
    rng = random.Random(FAULTS["seed"])
    plan = Plan(harness, rng, run=f"{int(time.time()) % 100000}", count=payments)
    plan.make()
    deliverer = Deliverer(harness, plan.events(), rng)
    harness.epicor_faults(**FAULTS)
    worker_log = ""

    feeding = threading.Thread(target=deliverer.run)
    feeding.start()
    phases["plan_made"] = time.monotonic() - started
    deliverer.wait_until(0.3)
    phases["worker_killed"] = time.monotonic() - started
    killed_logs = kill_and_restart(stack, killed)         # SIGKILL mid-chain
    worker_log += "".join(killed_logs.values())
    deliverer.wait_until(0.6)
    harness.epicor_faults(license_burst=25)
    phases["redis_stopped"] = time.monotonic() - started
    private.stop()                                         # Redis restart: 503s, then recovery
    time.sleep(2)
    private.start()
    feeding.join(timeout=240)
    assert not feeding.is_alive()
    delivered_at = time.monotonic()

    try:
        records = {r["id"]: r for r in harness.wait(*(e["id"] for e in plan.events()), timeout=180)}
    except AssertionError:
        print(phases, broker_state(private.url))
        raise
    settled_at = time.monotonic()
    faults_seen = harness.epicor_faults()
    harness.epicor_faults(error_rate=0.0, commit_then_timeout_rate=0.0, license_burst=0)
    worker_log += "".join((stack.log_dir / f"{name}.log").read_text(errors="replace")
                          for name in stack.processes if name.startswith("worker"))

    dead = {eid for eid, r in records.items() if r["state"] == "dead"}
    assert dead == plan.injected_event_ids(), {eid: records[eid].get("last_error")
                                               for eid in dead ^ plan.injected_event_ids()}
    assert {r["state"] for eid, r in records.items() if eid not in dead} == {"done"}

    dump = harness.epicor()
    check_one_set_each(dump, plan, exclude_injected=True)
    check_customers(dump, plan, plan.stripe_customers)
    check_totals(dump, plan, exclude_injected=True)
    check_dead_letters(stack, plan)
    check_alerts(hook, plan)

    for part in plan.injected.values():
        added = harness.http.post(f"{stack.sandbox_url}/_sandbox/epicor/parts", timeout=5, json={
            "PartNum": part, "PartDescription": "Added after the alert", "IUM": "EA", "SalesUM": "EA"})
        assert added.status_code == 201
    retried = dlq_cli(stack, "retry", "--all", "--json")
    assert retried.returncode == 0, retried.stderr
    assert set(json.loads(retried.stdout)["retried"]) == plan.injected_event_ids()
    assert {r["state"] for r in harness.wait(*plan.injected_event_ids(), timeout=60)} == {"done"}
    dump = harness.epicor()
    check_one_set_each(dump, plan, exclude_injected=False)
    check_customers(dump, plan, plan.stripe_customers + plan.injected_customers)
    check_totals(dump, plan, exclude_injected=False)
    assert json.loads(dlq_cli(stack, "list", "--json").stdout) == []

    phases["all_settled"] = settled_at - started
    phases["replayed_and_checked"] = time.monotonic() - started
    report(stack, plan, deliverer, faults_seen, worker_log, started, delivered_at, phases, len(killed))
    return killed_logs


def check_one_set_each(dump: dict[str, Any], plan: Plan, *, exclude_injected: bool) -> None:
    for payment in plan.payments:
        intent = payment["payment_intent"]["id"]
        if exclude_injected and intent in plan.injected:
            assert documents_for(dump, payment)["orders"] == []
            continue
        amount, currency = plan.expected[intent]
        assert_one_set(documents_for(dump, payment), str(amount), currency)


def check_customers(dump: dict[str, Any], plan: Plan, stripe_customers: list[str]) -> None:
    by_external = Counter(c["ExternalID"] for c in dump["Customers"])
    assert {cus: by_external[cus] for cus in set(stripe_customers)} == {cus: 1 for cus in set(stripe_customers)}
    by_email = Counter(c["EMailAddress"] for c in dump["Customers"])
    used = {p["charge"]["billing_details"]["email"] for p in plan.payments if not p.get("customer")}
    assert used and {email: by_email[email] for email in used} == {email: 1 for email in used}


def check_totals(dump: dict[str, Any], plan: Plan, *, exclude_injected: bool) -> None:
    charges = {p["charge"]["id"]: p["payment_intent"]["id"] for p in plan.payments
               if not (exclude_injected and p["payment_intent"]["id"] in plan.injected)}
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for intent in charges.values():
        amount, currency = plan.expected[intent]
        paid[currency] += amount
    received: dict[str, Decimal] = defaultdict(Decimal)
    for receipt in (r for r in dump["CashRecs"] if r["ExternalID"] in charges):
        received[receipt["CurrencyCode"]] += Decimal(str(receipt["DocTranAmt"]))
    assert received == paid


def check_dead_letters(stack, plan: Plan) -> None:
    listed = dlq_cli(stack, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert {r["id"] for r in records} == plan.injected_event_ids()
    parts = set(plan.injected.values())
    for record in records:
        assert (record["stage"], record["reason"]) == ("validate", "reference.missing_part")
        assert any(part in record["message"] for part in parts)
    secrets = [stack.env()[name] for name in ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "EPICOR_API_KEY")]
    assert not [s for s in secrets if s in listed.stdout]


def check_alerts(hook: AlertReceiver, plan: Plan) -> None:
    """Twelve dead letters, a limit of five: five alerts and one 'held back' notice, no more."""
    texts = hook.texts()
    assert len(plan.injected_event_ids()) > ALERT_LIMIT
    assert len(texts) == ALERT_LIMIT + 1, texts
    assert all(t.startswith("Dead-lettered") and "reference.missing_part" in t for t in texts[:ALERT_LIMIT])
    assert texts[-1].startswith("Alert limit reached")


def report(stack, plan: Plan, deliverer: Deliverer, faults: dict[str, Any], worker_log: str,
           started: float, delivered_at: float, phases: dict[str, float], kills: int) -> None:
    retries = retries_by_reason(worker_log)
    figures = {
        "payments": len(plan.payments), "injected_permanent": len(plan.injected),
        "events": len(plan.events()), "deliveries": deliverer.deliveries,
        "http_posts_incl_resends": deliverer.sent, "refused_503_during_redis_restart": deliverer.refused,
        "currencies": dict(Counter(c for _, c in plan.expected.values())),
        "faults": {k: faults.get(k) for k in ("error_rate", "commit_then_timeout_rate", "timeout_seconds")},
        "celery_retries_by_reason": dict(retries.most_common()),
        "lost_messages_requeued_by_sweep": worker_log.count("stalled event re-queued"),
        "worker_processes": sum(name.startswith("worker") for name in stack.processes),
        "worker_kills": kills, "redis_restarts": 1,
        "seconds_to_deliver": round(delivered_at - started, 1),
        "phases_s": {name: round(at, 1) for name, at in phases.items()},
        "cpu_seconds_by_process": cpu_seconds(stack),
    }
    text = json.dumps(figures, indent=2)
    (stack.log_dir / "chaos-figures.json").write_text(text)
    print("\nchaos run figures:\n" + text)
