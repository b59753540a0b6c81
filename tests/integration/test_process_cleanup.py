"""Nothing outlives its parent: every way of stopping `make run`, the stack or a test run stops every process.

Each test starts the real thing as a person or a process manager would (``python -m sandbox.stack``,
``make run``, a pytest session holding the integration tier's ``stack`` fixture), on free ports and a
private ``redis-server`` of its own (``REDIS_URL`` names a port where nothing answers, so the stack
starts one, which must be stopped too), waits until it is up, takes the process tree it started from
``/proc``, stops it with one signal and checks that every process of that tree is gone. A process is
identified by its pid and start time, so a recycled pid is never mistaken for a survivor.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.stack import PID_FILE, ROOT, free_port, spawn, start_private_redis, stop_processes

pytestmark = pytest.mark.integration
STOP_WITHIN = 20  # seconds: SIGTERM, then the stack's 10 s grace before SIGKILL, then a margin
Process = tuple[int, str]  # pid, start time (clock ticks since boot)


# -- the process tree, from /proc ------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from the state on; the name may hold spaces


def tree(root: int) -> dict[Process, str]:
    """``root``'s descendants (not itself), each with its command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields:
            parents[int(entry.name)] = int(fields[1])
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid in (p for p, pp in parents.items() if pp == parent):
            fields = _stat(pid)
            if fields:
                found[(pid, fields[19])] = _cmdline(pid)
                frontier.append(pid)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def running(process: Process) -> bool:
    """Still running: the same pid with the same start time, and not a zombie (which runs nothing)."""
    fields = _stat(process[0])
    return bool(fields) and fields[19] == process[1] and fields[0] != "Z"


def survivors(processes: dict[Process, str], within: float = STOP_WITHIN) -> dict[Process, str]:
    deadline = time.monotonic() + within
    while True:
        left = {process: command for process, command in processes.items() if running(process)}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def kill_left_over(processes: dict[Process, str]) -> None:
    """A failed test must not itself leave its stack behind."""
    for process in processes:
        if running(process):
            os.kill(process[0], signal.SIGKILL)


# -- starting things -------------------------------------------------------------------------------
def stack_env(run_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in ("STRIPE_WEBHOOK_SECRET",)}
    env.update({"STACK_RUN_DIR": str(run_dir), "SANDBOX_PORT": str(free_port()), "PORT": str(free_port()),
                "FLOWER_PORT": str(free_port()), "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    return env


def wait_for_line(output: Path, text: str, process: subprocess.Popen, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = output.read_text(errors="replace") if output.exists() else ""
        if text in shown:
            return shown
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"never printed {text!r}:\n{output.read_text(errors='replace')[-6000:]}")


class Started:
    """One started command: its process, its output file, and the tree it started once it was up."""

    def __init__(self, command: list[str], env: dict[str, str], output: Path, **options: object) -> None:
        self.output = output
        with output.open("wb") as sink:
            self.process = spawn(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, **options)
        self.processes: dict[Process, str] = {}

    def wait_until_up(self, text: str = "Stack up in") -> str:
        shown = wait_for_line(self.output, text, self.process)
        self.processes = tree(self.process.pid)
        return shown

    def stop_and_check(self, signum: int, *, group: bool = False, pid: int | None = None) -> None:
        """Send ``signum`` to our process (or ``pid``), or to its whole group as a terminal does; nothing may remain."""
        (os.killpg if group else os.kill)(pid or self.process.pid, signum)
        try:
            self.process.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{shlex.join(self.process.args)} did not exit after "
                                 f"{signal.Signals(signum).name}:\n{self.output.read_text()[-4000:]}") from None
        left = survivors(self.processes)
        assert not left, f"left running after {signal.Signals(signum).name}: {sorted(left.values())}"

    def close(self) -> None:
        stop_processes([self.process], grace=2)
        kill_left_over(self.processes)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Started]]:
    running_now: list[Started] = []
    yield running_now
    for each in running_now:
        each.close()


def start_stack(started: list[Started], run_dir: Path, *, background: bool = False) -> Started:
    """``python -m sandbox.stack``; ``background``: as ``cmd &`` in a script runs it, with SIGINT ignored."""
    command = [sys.executable, "-m", "sandbox.stack"]
    if background:
        command = ["sh", "-c", 'exec "$@" & wait', "sh", *command]
    each = Started(command, stack_env(run_dir), run_dir.parent / f"{run_dir.name}.out")
    started.append(each)
    return each


def supervisor_pids(run_dir: Path) -> dict[str, int]:
    return json.loads((run_dir / PID_FILE).read_text())


def assert_whole_stack(each: Started, run_dir: Path) -> None:
    """The tree taken holds every process the stack says it started, gunicorn's workers included."""
    pids = {pid for pid, _ in each.processes}
    named = supervisor_pids(run_dir)
    assert set(named) >= {"redis", "sandbox", "web", "worker", "flower"}
    assert {pid for name, pid in named.items() if name != "supervisor"} <= pids
    assert len(pids) >= 8, sorted(each.processes.values())  # redis, 2 sandbox, 3 web, worker, flower


# -- the stack -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("signum", "group"), [(signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["SIGTERM", "Ctrl-C"])
def test_a_stopped_stack_leaves_no_process(started, tmp_path, signum, group):
    run_dir = tmp_path / "run"
    stack = start_stack(started, run_dir)
    stack.wait_until_up()
    assert_whole_stack(stack, run_dir)
    stack.stop_and_check(signum, group=group)
    assert stack.process.returncode == 0
    assert "Stopped." in stack.output.read_text()
    assert not (run_dir / "demo.env").exists() and not (run_dir / PID_FILE).exists()


def test_a_background_stack_stops_on_sigint_although_it_started_with_sigint_ignored(started, tmp_path):
    run_dir = tmp_path / "run"
    stack = start_stack(started, run_dir, background=True)
    stack.wait_until_up()
    stack.stop_and_check(signal.SIGINT, pid=supervisor_pids(run_dir)["supervisor"])
    assert "SIGINT received." in stack.output.read_text()


def test_a_background_job_starts_with_sigint_ignored():
    """What the test above relies on: the shell really starts its background job with SIGINT ignored."""
    probe = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"]
    shown = subprocess.run(["sh", "-c", '"$@" & wait', "sh", *probe], capture_output=True, text=True, timeout=30)
    assert shown.stdout.strip() == "True"


def test_closing_the_terminal_stops_the_stack_and_its_payment_command_works_before(started, tmp_path):
    run_dir = tmp_path / "run"
    stack = start_stack(started, run_dir)
    shown = stack.wait_until_up("Stop it")
    command = next(line for line in shown.splitlines() if "Send another payment" in line).split("payment  ", 1)[1]
    env = {name: value for name, value in os.environ.items() if name != "STRIPE_WEBHOOK_SECRET"}
    sent = subprocess.run(shlex.split(command), cwd=ROOT, env={**env, "STACK_RUN_DIR": str(run_dir)},
                          capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.count("delivery 1: 200") == sent.stdout.count("delivery 1:") >= 2, sent.stdout
    stack.stop_and_check(signal.SIGHUP, group=True)
    assert stack.process.returncode == 0


def test_a_killed_stack_takes_its_children_with_it(started, tmp_path):
    """SIGKILL runs no clean-up at all: the parent-death signal is the backstop."""
    run_dir = tmp_path / "run"
    stack = start_stack(started, run_dir)
    stack.wait_until_up()
    assert_whole_stack(stack, run_dir)
    stack.stop_and_check(signal.SIGKILL)


# -- make run --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("signum", "group"), [(signal.SIGTERM, False), (signal.SIGHUP, True)],
                         ids=["SIGTERM-to-make", "terminal-closed"])
def test_make_run_leaves_no_process(started, tmp_path, signum, group):
    """A process manager signals make alone (make passes SIGTERM on); a closing terminal signals the group."""
    run_dir = tmp_path / "run"
    # -o: take the virtualenv as installed (no pip run in a test); the recipe is the one a user runs.
    make = Started(["make", "--no-print-directory", "-o", ".venv/.installed", "run"], stack_env(run_dir),
                   tmp_path / "make.out")
    started.append(make)
    make.wait_until_up()
    assert_whole_stack(make, run_dir)
    make.stop_and_check(signum, group=group)


# -- an interrupted test run -----------------------------------------------------------------------
INNER_TEST = '''
import os, pathlib, time

def test_holds_the_stack(stack):
    pathlib.Path(os.environ["INNER_UP"]).write_text(str(os.getpid()))
    time.sleep(600)
'''


@pytest.mark.parametrize(("signum", "group"), [(signal.SIGINT, True), (signal.SIGTERM, False),
                                               (signal.SIGKILL, False)], ids=["Ctrl-C", "SIGTERM", "SIGKILL"])
def test_an_interrupted_test_run_leaves_no_process(started, tmp_path, signum, group):
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pytest.ini").write_text("[pytest]\n")
    (inner / "test_inner.py").write_text(INNER_TEST)
    redis_url, redis_process = start_private_redis(tmp_path / "redis")  # the inner run's own Redis
    try:
        env = {**os.environ, "INTEGRATION_REDIS_URL": redis_url, "INNER_UP": str(tmp_path / "up")}
        run = Started([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                       "-p", "tests.integration.conftest", str(inner / "test_inner.py")], env, tmp_path / "inner.out")
        started.append(run)
        _wait_for_file(tmp_path / "up", run)
        run.processes = tree(run.process.pid)
        assert any("celery" in command and " worker " in command for command in run.processes.values())
        assert any("gunicorn" in command for command in run.processes.values())
        run.stop_and_check(signum, group=group)
        if signum != signal.SIGKILL:
            assert "KeyboardInterrupt" in run.output.read_text()
    finally:
        stop_processes([redis_process])


def _wait_for_file(path: Path, run: Started, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if run.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the inner run never held its stack:\n{run.output.read_text()[-6000:]}")
        time.sleep(0.2)
