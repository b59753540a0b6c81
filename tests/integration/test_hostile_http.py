"""Hostile requests over HTTP against the receiver under its real gunicorn command (bench/hostile.py):
every refused kind a 4xx (no 5xx, no dropped connection) storing nothing, including signature headers
of arbitrary bytes over raw sockets and signed adversarial JSON; every legal event with odd text a 200,
recorded, queued and finished by the real worker: nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys

from sandbox.stack import ROOT


def test_hostile_requests_get_their_expected_answers_and_nothing_is_lost():
    requests = os.environ.get("HOSTILE_REQUESTS", "2000")
    env = {key: value for key, value in os.environ.items() if key != "BENCH_REDIS_URL"}  # its own redis-server
    done = subprocess.run([sys.executable, "-m", "bench.hostile", "--requests", requests], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "nothing lost, nothing else stored: met" in done.stdout
    assert "'event records not acknowledged': 0, 'queued messages': 0" in done.stdout
    acknowledged = next(line for line in done.stdout.splitlines() if line.startswith("acknowledged (200):"))
    assert int(acknowledged.split()[2]) > 0 and "'dead'" in acknowledged  # odd text queued, then finished
    for kind in ("header: raw non-UTF-8 bytes", "signed: lone surrogate in the id",
                 "signed: surrogates, NUL, controls in text"):
        assert kind in done.stdout
