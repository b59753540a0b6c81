"""Redis high availability: the whole stack through Redis Sentinel, the primary killed mid-run.

A primary, a replica and three sentinels (quorum 2), real ``redis-server`` processes with passwords on
the servers and on the sentinels. The web, the worker and the CLI are given only the sentinels
(``REDIS_URL`` names a port nothing answers on), so every client, the Celery broker included, finds
Redis through Sentinel. Payments are delivered as Stripe does (resent after a refusal); a third of
the way through, the primary is SIGKILLed; the sentinels promote the replica and the service (web, worker,
Flower) carries on. Then the catch-up runs, as beat does every 15 minutes, for what the failover lost after it was
acknowledged (asynchronous replication), and the stall sweep re-queues chains whose messages were lost.
At the end every payment is in the sandbox's Epicor exactly once: one order, invoice and receipt each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from sandbox.stack import ROOT, Ports, Stack
from tasks.mapping.currency import minor_to_decimal
from tests.integration.conftest import Harness, _dump_logs
from tests.integration.test_order_to_cash import assert_one_set, documents_for
from tests.sentinel_cluster import SentinelCluster, redis_server_installed

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not redis_server_installed(), reason="redis-server is not installed")]

PAYMENTS = 24
SENTINEL_ENV = {
    "REDIS_FAILOVER_TIMEOUT": "15",     # a command waits this long for the new primary
    "BROKER_VISIBILITY_TIMEOUT": "20", "BROKER_RESTORE_INTERVAL": "2",
    "MAX_RETRY_COUNTDOWN": "5", "RETRY_BACKOFF_BASE": "0.5", "RETRY_BACKOFF_MAX": "3",
    "LOCK_TIMEOUT_SECONDS": "10",
    "STALL_SECONDS": "15", "STALL_SWEEP_INTERVAL": "2",  # a chain message the failover lost is re-queued
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelCluster]:
    running = SentinelCluster(tmp_path_factory.mktemp("sentinel"), password="primary-secret-8h",
                              sentinel_password="sentinel-secret-8h", down_after_ms=1000)
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def stack(cluster: SentinelCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("sentinel-stack")
    env = {**SENTINEL_ENV, **cluster.env(db=2)}
    running = Stack(ports=Ports.free(), redis_url=env["REDIS_URL"], data_dir=base / "sandbox",
                    log_dir=base / "logs", worker_concurrency=4, extra_env=env)
    try:
        running.start(("sandbox", "web", "worker", "flower"))
        yield running
    except Exception:
        _dump_logs(base / "logs")
        raise
    finally:
        running.stop()


def _payment_spec(n: int, run: str) -> dict[str, Any]:
    return {"amount": 1000 + 37 * n, "currency": ("usd", "jpy")[n % 2],
            "customer": {"name": f"Failover Buyer {n} {run}", "email": f"buyer{n}.{run}@sentinel.example",
                         "address": {"line1": "1 Quorum Way", "city": "Austin", "state": "TX",
                                     "postal_code": "73301", "country": "US"}}}


class Stripe:
    """Stripe's side: each event delivered, and resent every half second until the receiver takes it."""

    def __init__(self, harness: Harness, events: list[dict[str, Any]]):
        self.harness, self.events = harness, events
        self.done = 0
        self.refused = 0
        self.lock = threading.Lock()

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(self._deliver, self.events))

    def _deliver(self, event: dict[str, Any]) -> None:
        time.sleep(0.2)  # the deliveries spread over some seconds, so the failover falls among them
        for _ in range(120):
            try:
                status = self.harness.deliver(event).status_code
            except OSError:
                status = 0
            if status == 200:
                with self.lock:
                    self.done += 1
                return
            with self.lock:
                self.refused += 1
            time.sleep(0.5)
        raise AssertionError(f"{event['id']} was never accepted")

    def wait_until(self, fraction: float) -> None:
        deadline = time.monotonic() + 60
        while self.done < fraction * len(self.events) and time.monotonic() < deadline:
            time.sleep(0.1)


def run_catchup(stack: Stack) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "tasks.catchup", "--json", "--days", "1"], cwd=ROOT,
                          env=stack.env(), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_primary_killed_mid_run_every_payment_posted_exactly_once(cluster: SentinelCluster, stack: Stack):
    harness = Harness(stack)
    run = f"{int(time.time()) % 100000}"
    payments = [harness.create_payment(**_payment_spec(n, run)) for n in range(PAYMENTS)]
    events = [event for payment in payments for event in payment["events"]]
    stripe = Stripe(harness, events)
    feeding = threading.Thread(target=stripe.run)
    feeding.start()

    stripe.wait_until(0.35)
    old_primary = cluster.kill_primary()                 # SIGKILL: no shutdown, nothing flushed
    new_primary = cluster.wait_promoted(old_primary)     # the sentinels promote the replica
    feeding.join(timeout=120)
    assert not feeding.is_alive()
    assert new_primary != old_primary

    caught_up = run_catchup(stack)                       # what the failover lost after Stripe was answered
    records = harness.wait(*(event["id"] for event in events), timeout=90)
    assert {record["state"] for record in records} == {"done"}, [
        (r["id"], r.get("state"), r.get("last_error")) for r in records if r.get("state") != "done"]

    dump = harness.epicor()
    for payment in payments:
        intent = payment["payment_intent"]
        assert_one_set(documents_for(dump, payment), str(minor_to_decimal(intent["amount"], intent["currency"])),
                       intent["currency"].upper())
    charges = {payment["charge"]["id"] for payment in payments}
    assert sum(Decimal(str(r["DocTranAmt"])) for r in dump["CashRecs"] if r["ExternalID"] in charges) == \
        sum(minor_to_decimal(p["payment_intent"]["amount"], p["payment_intent"]["currency"]) for p in payments)

    promoted = redis.Redis(port=new_primary, db=2, password=cluster.password, decode_responses=True)
    assert all(promoted.hget(f"sec:event:{event['id']}", "state") == "done" for event in events)  # REDIS_DB

    for name in ("web", "worker", "flower"):             # the service carried on: nothing restarted
        assert stack.processes[name].poll() is None, f"{name} exited"
    user, password = stack.env()["FLOWER_BASIC_AUTH"].split(",")[0].split(":", 1)
    flower = requests.get(f"{stack.flower_url}/api/queues/length", auth=(user, password), timeout=10)
    assert flower.status_code == 200, flower.text  # Flower's broker view, through the sentinels too
    worker_log = (stack.log_dir / "worker.log").read_text(errors="replace")
    assert "dead-lettered" not in worker_log.lower()
    for secret in (cluster.password, cluster.sentinel_password):
        assert secret not in worker_log
        assert secret not in (stack.log_dir / "web.log").read_text(errors="replace")
    print(f"\nsentinel failover: primary {old_primary} -> {new_primary}; {stripe.refused} deliveries refused "
          f"and resent; catch-up queued {caught_up.get('queued')}; "
          f"{worker_log.count('stalled event re-queued')} chains re-queued by the stall sweep")


def test_worker_refuses_to_start_when_the_sentinels_know_no_such_master(cluster: SentinelCluster,
                                                                        stack: Stack):
    """A configuration fault stops the process at start with its reason (exit 78), before any event."""
    env = {**stack.env(), "REDIS_SENTINEL_MASTER": "no-such-primary"}
    done = subprocess.run([str(Path(sys.executable).parent / "celery"), "-A", "tasks", "worker", "--pool", "solo",
                           "--without-gossip", "--without-mingle"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 78, done.stderr[-2000:]
    assert "knows no master named 'no-such-primary'" in done.stderr
    assert cluster.password not in done.stderr and cluster.sentinel_password not in done.stderr
