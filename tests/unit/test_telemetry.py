"""telemetry: bounded labels, one scrape over several processes' files, tidy-up, and the Redis gauges."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from telemetry import exposition, metrics, processes

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, metrics_dir: Path | None, **env: str) -> str:
    """``code`` in a fresh interpreter (its own pid, so its own metrics files)."""
    environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"} | env
    if metrics_dir is not None:
        environment["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def test_the_metrics_load_nothing_of_the_pipeline():
    loaded = run("import sys, telemetry.metrics, telemetry.exposition, app.metrics; "
                 "print(sorted(m for m in sys.modules if m == 'tasks' or m.startswith('tasks.')))", None)
    assert loaded.strip() == "[]"


def test_one_scrape_sums_every_process_sharing_the_directory(tmp_path):
    writer = """
        from telemetry import metrics
        metrics.event_received("stripe", "charge.succeeded", "queued")
        metrics.stage_ran("order_to_cash", "post", "ok", 0.3)
        metrics.amounts_posted("order_to_cash", [("usd", "37.50")])
        metrics.worker_started(8)
    """
    run(writer, tmp_path)
    run(writer, tmp_path)
    files = sorted(path.name for path in tmp_path.glob("*.db"))
    assert any(name.startswith("counter_") and name.endswith(".db") and f"_{processes.HOST}-" in name for name in files)
    scraped = samples(run("from telemetry.exposition import registry\n"
                          "from prometheus_client import generate_latest\n"
                          "print(generate_latest(registry()).decode())", tmp_path, REDIS_URL="redis://127.0.0.1:1/0"))
    received = ('stripe_epicor_events_received_total{outcome="queued",pair="default",reason="",source="stripe",'
                'type="charge.succeeded"}')
    assert scraped[received] == 2
    stage = 'stripe_epicor_stage_duration_seconds_count{flow="order_to_cash",outcome="ok",pair="default",stage="post"}'
    assert scraped[stage] == 2
    assert scraped['stripe_epicor_posted_amount_total{currency="USD",flow="order_to_cash",pair="default"}'] == 75.0
    assert scraped["stripe_epicor_redis_up"] == 0


def test_tidy_removes_only_this_hosts_gone_processes(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    mine = [tmp_path / f"counter_{processes.identifier_for(dead_pid)}.db",
            tmp_path / f"gauge_livesum_{processes.identifier_for(dead_pid)}.db"]
    kept = [tmp_path / f"counter_{processes.identifier_for(os.getpid())}.db",  # a live process
            tmp_path / f"counter_other-host-{dead_pid}.db",  # another host's: not ours to judge
            tmp_path / "counter_1.db"]  # not named by this package
    for path in mine + kept:
        path.write_bytes(b"")
    assert processes.tidy(str(tmp_path)) == 2
    assert [path.exists() for path in mine] == [False, False]
    assert all(path.exists() for path in kept)


def test_retire_drops_a_gone_process_live_gauges_only(tmp_path):
    pid = 4242
    live = tmp_path / f"gauge_livesum_{processes.identifier_for(pid)}.db"
    counter = tmp_path / f"counter_{processes.identifier_for(pid)}.db"
    live.write_bytes(b"")
    counter.write_bytes(b"")
    processes.retire(pid, str(tmp_path))
    assert not live.exists() and counter.exists()


def test_a_file_removed_during_the_scrape_does_not_fail_it(tmp_path, monkeypatch):
    run("from telemetry import metrics\nmetrics.event_received('stripe', 't.x', 'queued')", tmp_path)
    vanishing = tmp_path / f"counter_{processes.identifier_for(999999)}.db"
    vanishing.write_bytes(b"")
    real_merge = exposition.MultiProcessCollector.merge
    calls = []

    def merge_after_removal(files, accumulate=True):  # the file goes between the glob and the read
        calls.append(files)
        if len(calls) == 1:
            vanishing.unlink()
            raise FileNotFoundError(str(vanishing))
        return real_merge(files, accumulate)

    monkeypatch.setattr(exposition.MultiProcessCollector, "merge", staticmethod(merge_after_removal))
    found = list(exposition.ProcessFiles(str(tmp_path)).collect())
    assert len(calls) == 2 and any(metric.name == "stripe_epicor_events_received" for metric in found)


@pytest.mark.parametrize(("system", "path", "resource"), [
    ("epicor", "/Kinetic/api/v2/odata/EPIC06/Erp.BO.SalesOrderSvc/SalesOrders('EPIC06',77)", "Erp.BO.SalesOrderSvc"),
    ("epicor", "/KineticLive/api/v1/Erp.BO.CustomerSvc/Customers", "Erp.BO.CustomerSvc"),
    ("epicor", "/KineticLive/api/v2/odata/EPIC06/Evil<script>/x", "other"),
    ("stripe", "/v1/charges/ch_3MmlLrLkdIwHu7ix0snN0B15", "charges"),
    ("stripe", "/v1/invoices/in_1abc/lines", "invoices/lines"),
    ("stripe", "/v1/checkout/sessions/cs_test_a1/line_items", "checkout/sessions/line_items"),
    ("stripe", "/v1/customers/cus_lowercaseonly", "customers"),
    ("stripe", "/v2/unknown_thing/x", "other"),
])
def test_resources_are_named_without_ids(system, path, resource):
    assert metrics.resource_of(system, path) == resource


def test_label_values_are_bounded():
    assert metrics.label("charge.succeeded") == "charge.succeeded"
    assert metrics.label("a" * 200) == "other"
    assert metrics.label("ap@acme.example") == "other"
    assert metrics.label(None) == "other"
    assert metrics.rejection_reason(400, "No signature matches the payload") == "signature"
    assert metrics.rejection_reason(400, "body is not valid JSON") == "malformed"
    assert metrics.rejection_reason(503, "event queue unavailable") == "queue_unavailable"


def test_the_money_of_a_post_stage_is_read_from_its_documents():
    payment = {"documents": {"currency": "USD", "amount": "37.00", "customer": {}}}
    refunds = {"refunds": [{"currency": "EUR", "amount": "-5.00"}, {"currency": "EUR", "amount": "-2.50"}]}
    assert metrics.documents_posted(payment) == [("USD", "37.00")]
    assert metrics.documents_posted(refunds) == [("EUR", "-5.00"), ("EUR", "-2.50")]
    assert metrics.documents_posted({"keys": {}}) == []
    assert metrics.documents_posted(None) == []


def test_a_metric_update_never_raises():
    metrics.amounts_posted("order_to_cash", [("USD", "not a number"), ("US Dollar", "1"), ("USD", "NaN")])
    metrics.event_finished("order_to_cash", "done", received_at="garbage")
    metrics.api_request("stripe", "GET", "/v1/charges/ch_1", "2xx", -1.0)


def test_redis_gauges_are_read_at_scrape(fake_redis):
    import celeryconfig
    from tasks.broker import queue_keys

    fake_redis.zadd(exposition.DLQ_INDEX_KEY, {"evt_1": 1.0, "evt_2": 2.0})
    fake_redis.zadd(exposition.INFLIGHT_KEY, {"evt_3": 1000.0, "evt_4": 1090.0})
    fake_redis.rpush(queue_keys("pipeline")[0], "m1", "m2")
    fake_redis.rpush(queue_keys("pipeline")[-1], "m3")
    figures = exposition.read_redis_state()
    queues = {queue.name: 3 if queue.name == "pipeline" else 0 for queue in celeryconfig.task_queues}
    assert figures == {"queues": queues, "dead_letters": 2, "unfinished": 2, "oldest_progress": 1000.0}
    families = {family.name: family for family in exposition.redis_families(figures, now=1100.0)}
    assert families["stripe_epicor_unfinished_oldest_idle_seconds"].samples[0].value == 100.0
    assert families["stripe_epicor_dead_letters"].samples[0].value == 2


def test_redis_away_is_a_gauge_not_a_failed_scrape(monkeypatch):
    from tasks import store

    monkeypatch.setattr(store, "client", lambda: redis.Redis(port=1, socket_connect_timeout=0.2))
    found = {family.name: family for family in exposition.RedisState().collect()}
    assert found["stripe_epicor_redis_up"].samples[0].value == 0
    assert "stripe_epicor_dead_letters" not in found


def test_posted_amount_of_documents_in_the_one_shape_is_the_cash_receipts():
    import json

    from tests.fixtures import FIXTURES_DIR

    expected = json.loads((FIXTURES_DIR / "expected_documents" / "order_to_cash.json").read_text())
    assert metrics.documents_posted({"documents": expected["payment_kwd_checkout"]}) == [("KWD", "12.500")]
