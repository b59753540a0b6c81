"""The stack's thread-pool worker keeps to one CPU (WORKER_CPU_AFFINITY=auto), every thread of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.stack import Stack

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                                reason="needs Linux and two CPUs")


def cpus_of_threads(pid: int) -> set[str]:
    seen = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                seen.add(line.split(":", 1)[1].strip())
    return seen


def test_the_worker_and_all_its_threads_run_on_the_cpu_it_announced(stack: Stack, harness):
    payment = harness.create_payment(amount=1500, currency="usd")
    for event in payment["events"]:
        assert harness.deliver(event).status_code == 200
    assert {record["state"] for record in harness.wait(*(event["id"] for event in payment["events"]))} == {"done"}
    log = (stack.log_dir / "worker.log").read_text(errors="replace")
    announced = [line for line in log.splitlines() if "worker kept on CPU" in line]
    assert announced, "the worker did not say where it runs"
    cpu = announced[-1].split("worker kept on CPU ", 1)[1].split(" ", 1)[0]
    threads = cpus_of_threads(stack.processes["worker"].pid)
    assert threads == {cpu}
    assert len(list(Path(f"/proc/{stack.processes['worker'].pid}/task").iterdir())) > 2  # pool threads too


def test_each_receiver_worker_keeps_to_one_cpu(stack: Stack, harness):
    master = stack.processes["web"].pid
    workers = [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    assert len(workers) == 2  # the Procfile's --workers 2
    placed = [cpus_of_threads(pid) for pid in workers]
    assert all(len(cpus) == 1 and "-" not in next(iter(cpus)) and "," not in next(iter(cpus)) for cpus in placed)
    # Which CPUs depends on what else is pinned on the machine (tests/unit/test_affinity.py checks
    # that processes starting together spread out); here: each worker on exactly one.
    payment = harness.create_payment(amount=700, currency="usd")
    assert all(harness.deliver(event).status_code == 200 for event in payment["events"])
    assert [cpus_of_threads(pid) for pid in workers] == placed  # request threads started since, same CPU
