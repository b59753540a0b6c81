"""The worker's drainer child (``python -m history follow``) on a real Redis and a real SQLite file:
it writes what the pipeline recorded, drains once more when stopped, and leaves when its parent dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import redis

from history import db, queries, recorder
from sandbox.stack import ROOT


def follow(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "history", "follow", "--interval", "0.1", *args], cwd=ROOT,
                            env=env)


def until(check, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def an_event(client: redis.Redis, event_id: str) -> None:
    client.xadd(recorder.STREAM, {"r": recorder.entry("event", id=event_id, type="charge.succeeded",
                                                      flow="order_to_cash", source="stripe", state="received")})


def test_the_drainer_process_writes_records_and_drains_once_more_when_stopped(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    env = {**os.environ, "DATABASE_URL": url}
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.delete(recorder.STREAM, "sec:lock:history-drain")
    db.dispose_engines()
    db.migrate()
    child = follow(env)
    try:
        an_event(client, "evt_follow_1")
        assert until(lambda: queries.event_detail("evt_follow_1") is not None)
        child.send_signal(signal.SIGSTOP)  # a record made while it sleeps is written by its last drain
        an_event(client, "evt_follow_2")
        child.send_signal(signal.SIGTERM)
        child.send_signal(signal.SIGCONT)
        assert child.wait(timeout=20) == 0
        assert queries.event_detail("evt_follow_2") is not None and client.xlen(recorder.STREAM) == 0
    finally:
        child.kill()
        db.dispose_engines()


def test_a_drainer_whose_worker_is_gone_leaves(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'history.sqlite3'}"}
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        child = follow(env, "--parent", str(parent.pid))  # not its parent: as if the worker had died
        assert child.wait(timeout=20) == 0
    finally:
        parent.kill()
        parent.wait()
