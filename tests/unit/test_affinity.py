"""WORKER_CPU_AFFINITY: which CPU a thread-pool worker keeps to, and that every thread of it does."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

import cpu_affinity as affinity


def test_cpu_lists_are_read_as_the_kernel_writes_them():
    assert affinity.parse_cpu_list("0-2,5") == {0, 1, 2, 5}
    assert affinity.parse_cpu_list(" 3 ") == {3}
    for bad in ("", "a", "2-1", "-1", "1-x"):
        with pytest.raises(affinity.AffinityError):
            affinity.parse_cpu_list(bad)


def fake_proc(root: Path, processes: dict[int, tuple[bytes, str]]) -> Path:
    for pid, (cmdline, cpus) in processes.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "cmdline").write_bytes(cmdline)
        (root / str(pid) / "status").write_text(f"Name:\tx\nCpus_allowed:\tff\nCpus_allowed_list:\t{cpus}\n")
    (root / "self").mkdir()
    (root / "meminfo").write_text("")
    return root


def test_only_other_user_processes_pinned_to_one_cpu_are_counted(tmp_path):
    proc = fake_proc(tmp_path, {
        10: (b"celery\0-A\0tasks\0worker\0", "1"),
        11: (b"celery\0-A\0tasks\0worker\0", "1"),
        12: (b"redis-server\0", "0"),
        13: (b"python\0", "0-1"),       # free to move: not counted
        14: (b"", "0"),                  # a kernel thread (no command line)
        15: (b"celery\0", "1"),          # the worker itself
    })
    assert affinity.pinned_elsewhere(proc, own_pid=15) == Counter({1: 2, 0: 1})


def test_auto_picks_the_least_taken_cpu_and_the_highest_on_a_tie():
    assert affinity.choose_cpu({0, 1, 2, 3}, Counter({3: 1, 2: 1})) == 1
    assert affinity.choose_cpu({0, 1}, Counter()) == 1
    assert affinity.target_cpus("auto", {0, 1}, Counter({1: 1})) == {0}
    assert affinity.target_cpus("", {0, 1}, Counter()) == {1}


def test_off_a_single_cpu_machine_and_explicit_lists():
    assert affinity.target_cpus("off", {0, 1}) is None
    assert affinity.target_cpus("auto", {3}) is None  # nothing to choose
    # A list names the CPUs to choose the one from, among those the process may use.
    assert affinity.target_cpus("0-3", {1, 2}, Counter()) == {2}
    assert affinity.target_cpus("0-3", {1, 2}, Counter({2: 1})) == {1}
    assert affinity.target_cpus("0", {0, 1}, Counter({0: 5})) == {0}
    with pytest.raises(affinity.AffinityError, match="names none of the CPUs"):
        affinity.target_cpus("7", {0, 1})


def test_only_single_interpreter_pools_are_placed():
    assert affinity.pool_name("threads") == "threads"
    assert affinity.pool_name("celery.concurrency.thread:TaskPool") == "thread"
    from celery.concurrency import prefork, thread

    assert affinity.pool_name(thread.TaskPool) == "thread"
    assert affinity.pool_name(prefork.TaskPool) == "prefork"
    before = os.sched_getaffinity(0)
    assert affinity.apply("0", "prefork") is None
    assert os.sched_getaffinity(0) == before


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs a platform that sets affinity and two CPUs")
def test_every_thread_of_the_process_and_every_later_one_is_kept_on_the_chosen_cpu():
    # In a child interpreter, so the test process itself stays unpinned.
    code = textwrap.dedent("""
        import os, threading, time
        import cpu_affinity as affinity
        stop = threading.Event()
        early = threading.Thread(target=stop.wait); early.start()
        chosen = affinity.apply("auto", "threads")
        late = threading.Thread(target=stop.wait); late.start()
        seen = set()
        tasks = os.listdir("/proc/self/task")  # while all three threads run
        for task in tasks:
            for line in open(f"/proc/self/task/{task}/status"):
                if line.startswith("Cpus_allowed_list:"):
                    seen.add(line.split(":")[1].strip())
        stop.set()
        print(sorted(chosen), sorted(seen), len(tasks))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    chosen, seen = out[0], out[1]
    assert len(chosen.strip("[]").split(",")) == 1
    assert seen == f"['{chosen.strip('[]')}']"  # all three threads, on that one CPU
    assert int(out[2]) == 3


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs a platform that sets affinity and two CPUs")
def test_processes_that_start_together_take_different_cpus(tmp_path):
    # Four child interpreters place themselves at the same moment (a barrier file), as gunicorn's
    # workers do after one fork after another; the lock makes them choose one at a time.
    go = tmp_path / "go"
    code = textwrap.dedent(f"""
        import os, time
        import cpu_affinity as affinity
        pin = affinity.pin_process
        def slow_pin(cpus):  # widens the window between choosing a CPU and taking it
            time.sleep(0.2)
            pin(cpus)
        affinity.pin_process = slow_pin
        while not os.path.exists({str(go)!r}):
            time.sleep(0.005)
        print(sorted(affinity.keep_on_one_cpu("auto"))[0], flush=True)
        time.sleep(3)  # stay pinned while the others choose
    """)
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
                for _ in range(4)]
    go.touch()
    chosen = [int(child.stdout.readline()) for child in children]
    for child in children:
        child.kill()
        child.wait()
    allowed = sorted(os.sched_getaffinity(0))
    counts = Counter(chosen)
    assert set(chosen) <= set(allowed)
    assert max(counts.values()) - min(counts.get(cpu, 0) for cpu in allowed) <= 1 + sum(
        affinity.pinned_elsewhere().values())  # spread out, unless other pinned processes skew it


def test_what_a_process_says_about_its_placement(monkeypatch):
    import logging

    monkeypatch.setenv("WEB_CPU_AFFINITY", "off")
    assert affinity.place("WEB_CPU_AFFINITY") is None
    monkeypatch.setenv("WEB_CPU_AFFINITY", "4096")
    level, text = affinity.place("WEB_CPU_AFFINITY")
    assert level == logging.WARNING and "names none of the CPUs" in text
    monkeypatch.setenv("WORKER_CPU_AFFINITY", "auto")
    assert affinity.place("WORKER_CPU_AFFINITY", "prefork") is None  # before anything is tried
