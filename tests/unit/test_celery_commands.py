"""``celery_commands``: the ``dlq`` and ``payouts`` groups are listed without importing ``tasks`` and
run the real commands when invoked."""

from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

import celery_commands


def test_the_celery_command_line_lists_both_groups_with_their_help_without_importing_tasks():
    code = ("import sys; from celery.bin.celery import celery; "
            "print(sorted(name for name in celery.commands if name in ('dlq', 'payouts'))); "
            "print(celery.commands['dlq'].get_short_help_str(80)); "
            "print(any(m == 'tasks' or m.startswith('tasks.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    groups, short_help, imported = out.strip().splitlines()
    assert groups == "['dlq', 'payouts']"
    assert short_help.startswith("Dead-letter queue: list")
    assert imported == "False"


def test_invoking_a_stand_in_runs_the_real_group(monkeypatch):
    from tasks import dlq

    monkeypatch.setattr(dlq, "list_records", lambda: [{"id": "evt_1", "reason": "epicor.validation"}])
    root = click.Group("celery", commands={"dlq": celery_commands.dlq})
    result = CliRunner().invoke(root, ["dlq", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"id": "evt_1", "reason": "epicor.validation"}]
    assert celery_commands.dlq.list_commands(click.Context(root)) == ["discard", "list", "purge", "retry", "show"]


def test_a_stand_in_refuses_a_target_that_is_not_a_group():
    broken = celery_commands.LazyGroup("broken", "celery_commands:LazyGroup", help="not a group")
    try:
        broken.real()
    except TypeError as exc:
        assert "is not a click group" in str(exc)
    else:
        raise AssertionError("a target that is not a click group was accepted")
