"""Hostile requests over HTTP against the receiver under its real gunicorn command (bench/hostile.py):
only 4xx answers (no 5xx, no dropped connection) and nothing stored or queued."""

from __future__ import annotations

import os
import subprocess
import sys

from sandbox.stack import ROOT


def test_malformed_oversized_forged_and_stale_requests_get_only_4xx_and_store_nothing():
    requests = os.environ.get("HOSTILE_REQUESTS", "2000")
    env = {key: value for key, value in os.environ.items() if key != "BENCH_REDIS_URL"}  # its own redis-server
    done = subprocess.run([sys.executable, "-m", "bench.hostile", "--requests", requests], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "only 4xx, nothing stored or queued: met" in done.stdout
    assert "stored afterwards: {'event records': 0, 'queued messages': 0, 'keys': 0}" in done.stdout
