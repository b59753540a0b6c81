"""The benchmarks' baselines are stock Flask and Celery: they load none of the product's modules, so
the product's own changes to the libraries (``tasks/patches.py``) never make a baseline faster or
slower than what it stands for."""

from __future__ import annotations

import subprocess
import sys


def probe(code: str) -> str:
    """Run ``code`` in a fresh interpreter (importing ``bench`` points REDIS_URL at a bench Redis)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PATH": "", "BENCH_REDIS_URL": "redis://127.0.0.1:1/0"})
    return done.stdout.strip()


def test_the_bare_receiver_and_bare_chain_load_nothing_of_the_pipeline():
    loaded = probe("import sys, bench.bare_receiver, bench.bare_chain; "
                   "print(sorted(m for m in sys.modules if m == 'tasks' or m.startswith('tasks.')))")
    assert loaded == "[]"


def test_the_celery_command_line_loads_nothing_of_the_pipeline_for_another_app():
    """Celery loads every ``celery.commands`` plugin at start, whatever ``-A`` names: ours are stand-ins
    (``celery_commands``), so ``celery -A bench.bare_chain worker`` runs stock kombu."""
    loaded = probe("import sys, celery.bin.celery, bench.bare_chain; "
                   "print(sorted(m for m in sys.modules if m == 'tasks' or m.startswith('tasks.')))")
    assert loaded == "[]"


def test_the_bare_celery_app_imports_no_task_modules_of_the_product():
    conf = probe("from bench.bare_chain import app; "
                 "print(tuple(app.conf.imports), dict(app.conf.beat_schedule), app.conf.task_default_queue)")
    assert conf == "() {} bench-bare"


def test_the_bare_receiver_runs_under_stock_gunicorn_without_the_product_s_hooks():
    out = probe("from pathlib import Path; from bench.common import web_command; "
                "from sandbox.stack import Ports, Stack; "
                "stack = Stack(ports=Ports.free(), redis_url='redis://127.0.0.1:1/0', data_dir=Path('unused')); "
                "bare = web_command(stack, 'bench.bare_receiver:create_app()', 1); "
                "print('python:gunicorn_conf' in stack.commands()['web'], '-c' in bare, bare[1:3])")
    assert out == "True False ['bench.bare_receiver:create_app()', '--bind']"
