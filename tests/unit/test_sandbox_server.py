"""`python -m sandbox serve`: one process tree serving both emulators over kept-alive connections, with
injected latency delaying each request on its own, and a clean stop on SIGTERM."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.stack import spawn

ROOT = Path(__file__).resolve().parents[2]
EPICOR = {"Authorization": "Basic " + base64.b64encode(b"manager:manager").decode(), "x-api-key": "sandbox-api-key"}
PARTS = "/KineticSandbox/api/v2/odata/EPIC06/Erp.BO.PartSvc/Parts"


class Sandbox:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
        connection = self.connection()
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None,
                               headers={"Content-Type": "application/json", **(headers or {})})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()


@pytest.fixture
def sandbox(tmp_path) -> Iterator[Sandbox]:
    process = spawn(  # dies with the test run even when that is SIGKILLed
        [sys.executable, "-m", "sandbox", "serve", "--host", "127.0.0.1", "--port", "0",
         "--data-dir", str(tmp_path / "data"), "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    banner = process.stdout.readline() if process.stdout else ""
    assert banner.startswith("sandbox on http://127.0.0.1:"), banner
    running = Sandbox(process, int(banner.split("http://127.0.0.1:")[1].split()[0]))
    deadline = time.monotonic() + 30
    while True:
        try:
            if running.call("GET", "/_sandbox/healthz")[0] == 200:
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield running
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def test_connections_are_kept_alive_across_requests(sandbox):
    connection = sandbox.connection()
    try:
        connection.request("GET", "/_sandbox/healthz")
        first = connection.getresponse()
        assert first.status == 200 and json.loads(first.read()) == {"status": "ok"}
        assert not first.will_close
        socket_used = connection.sock
        connection.request("GET", PARTS, headers=EPICOR)
        second = connection.getresponse()
        assert second.status == 200 and len(json.loads(second.read())["value"]) == 4
        assert connection.sock is socket_used
    finally:
        connection.close()


def test_injected_latency_delays_each_request_on_its_own(sandbox):
    assert sandbox.call("PUT", "/_sandbox/epicor/faults", {"latency_ms": 400})[0] == 200
    statuses: list[int] = []

    def one() -> None:
        statuses.append(sandbox.call("GET", PARTS, headers=EPICOR)[0])

    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    elapsed = time.monotonic() - started
    assert statuses == [200] * 64
    assert elapsed < 6, f"64 requests of 400 ms took {elapsed:.1f} s: they were not served concurrently"
    assert sandbox.call("GET", "/_sandbox/epicor/stats")[1]["total"] == 64


def test_sigterm_stops_the_server(sandbox):
    os.killpg(sandbox.process.pid, signal.SIGTERM)
    assert sandbox.process.wait(15) == 0
    assert "sandbox stopped" in (sandbox.process.stdout.read() if sandbox.process.stdout else "")
