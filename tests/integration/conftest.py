"""A real stack for the integration tier: Redis, the sandbox over HTTP, gunicorn and a Celery worker.

The processes are the ones `make run` starts (``sandbox.stack``), on free ports and a Redis database
of their own, so nothing here is eager or mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from sandbox.signing import sign_payload
from sandbox.stack import DEMO_SECRET, Ports, Stack, start_private_redis, stop_processes

INTEGRATION_REDIS_URL = os.environ.get("INTEGRATION_REDIS_URL", "redis://127.0.0.1:6379/13")
TERMINAL = ("done", "dead", "ignored")


class ReceiverAuth(requests.auth.AuthBase):
    """The stack's console user on requests to the receiver only. A session-wide HTTPBasicAuth would
    also replace the ``Authorization: Bearer`` a test sends to the sandbox's Stripe API."""

    def __init__(self, stack: Stack):
        self.web_url = stack.web_url + "/"
        self.basic = requests.auth.HTTPBasicAuth(*stack.api_auth) if stack.api_auth else None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.basic and (request.url or "").startswith(self.web_url):
            return self.basic(request)
        return request


class Harness:
    """What a test does to the stack: make payments, deliver events, read Epicor and Stripe."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.http = requests.Session()
        self.http.auth = ReceiverAuth(stack)  # /api/* needs a console user: the stack's demo operator

    def create_payment(self, **spec: Any) -> dict[str, Any]:
        response = self.http.post(f"{self.stack.sandbox_url}/_sandbox/stripe/payments", json=spec, timeout=10)
        response.raise_for_status()
        return response.json()

    def deliver(self, event: dict[str, Any], secret: str = DEMO_SECRET) -> requests.Response:
        body = json.dumps(event).encode()
        headers = {"Stripe-Signature": sign_payload(body, [secret]), "Content-Type": "application/json"}
        return self.http.post(f"{self.stack.web_url}/webhooks/stripe", data=body, headers=headers, timeout=10)

    def event(self, event_id: str) -> dict[str, Any]:
        return self.http.get(f"{self.stack.web_url}/api/events/{event_id}", timeout=5).json()

    def wait(self, *event_ids: str, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        records = []
        for event_id in event_ids:
            while True:
                record = self.event(event_id)
                if record.get("state") in TERMINAL:
                    records.append(record)
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"{event_id} stuck in {record.get('state')}: {record.get('last_error')}")
                time.sleep(0.1)
        return records

    def wait_for_error(self, event_id: str, reason: str, timeout: float = 30) -> dict[str, Any]:
        """The event's record once its last error has ``reason`` (it is being retried, not finished)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = self.event(event_id)
            if (record.get("last_error") or {}).get("reason") == reason:
                return record
            time.sleep(0.1)
        raise AssertionError(f"{event_id} never failed with {reason}: {self.event(event_id)}")

    def epicor(self) -> dict[str, list[dict[str, Any]]]:
        return self.http.get(f"{self.stack.sandbox_url}/_sandbox/epicor/dump", timeout=10).json()

    def stripe_dump(self) -> dict[str, Any]:
        return self.http.get(f"{self.stack.sandbox_url}/_sandbox/stripe/dump", timeout=10).json()

    def epicor_faults(self, **faults: Any) -> dict[str, Any]:
        return self.http.put(f"{self.stack.sandbox_url}/_sandbox/epicor/faults", json=faults, timeout=5).json()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("stack")
    redis.Redis.from_url(INTEGRATION_REDIS_URL).flushdb()
    running = Stack(ports=Ports.free(), redis_url=INTEGRATION_REDIS_URL, data_dir=base / "sandbox",
                    log_dir=base / "logs", worker_concurrency=4)
    try:
        running.start()
    except BaseException as failure:  # an interrupted start (Ctrl-C, SIGTERM) stops what it started too
        if isinstance(failure, Exception):
            _dump_logs(base / "logs")
        running.stop()
        raise
    yield running
    running.stop()
    keep = os.environ.get("KEEP_STACK_LOGS")
    if keep:
        shutil.copytree(base / "logs", Path(keep), dirs_exist_ok=True)


def _dump_logs(log_dir: Path) -> None:
    for log in sorted(log_dir.glob("*.log")):
        print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="session")
def harness(stack: Stack) -> Harness:
    return Harness(stack)


@contextmanager
def own_stack(base: Path, extra_env: dict[str, str] | None = None,
              names: tuple[str, ...] = ("sandbox", "web", "worker"), **options: Any) -> Iterator[Stack]:
    """A stack of a test module's own, on a private redis-server: for a site of its own (mappings,
    users) beside the session's stack, whose worker must not take its events. Started with ``names``;
    the caller may start the rest later. Its logs are printed if it cannot start."""
    redis_url, redis_process = start_private_redis(base / "redis")
    running = Stack(ports=Ports.free(), redis_url=redis_url, data_dir=base / "sandbox", log_dir=base / "logs",
                    worker_concurrency=4, extra_env=extra_env or {}, **options)
    try:
        running.start(names)
        yield running
    except Exception:
        _dump_logs(base / "logs")
        raise
    finally:
        running.stop()
        stop_processes([redis_process])
