"""The web receiver imports only the enqueue API: building the app loads no stage, flow, connector or
vendor patch, so the web process does not carry the worker (STYLE.md point 1), and chains are queued
by task name."""

from __future__ import annotations

import subprocess
import sys

WORKER_ONLY = ("tasks.stages", "tasks.flows", "tasks.connectors", "tasks.base", "tasks.context", "tasks.recovery",
               "tasks.patches")  # the vendor patches: applied by gunicorn_conf at start, never by an import


def loaded_after(code: str) -> list[str]:
    """The ``tasks`` modules a fresh interpreter holds after running ``code``."""
    done = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                           "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('tasks'))))"],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


def worker_only(modules: list[str]) -> list[str]:
    return [name for name in modules if name.startswith(WORKER_ONLY)]


def test_importing_the_receiver_and_building_it_loads_no_worker_module():
    loaded = loaded_after("import app\napp.create_app()")
    assert "tasks.api" in loaded
    assert worker_only(loaded) == []


def test_queueing_an_event_s_chain_needs_no_stage_task():
    loaded = loaded_after("from tasks.chains import build_chain\n"
                          "assert build_chain({'event_id': 'evt_1', 'flow': 'order_to_cash'}).task == 'pipeline.fetch'")
    assert worker_only(loaded) == []


def test_a_worker_registers_the_stage_tasks_and_the_sweeper_at_start():
    loaded = loaded_after("from tasks import celery_app\ncelery_app.loader.import_default_modules()\n"
                          "assert {'pipeline.fetch', 'pipeline.post'} <= set(celery_app.tasks)")
    assert {"tasks.stages.fetch", "tasks.stages.status_update", "tasks.recovery"} <= set(loaded)
