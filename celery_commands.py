"""The ``celery`` subcommands this project adds (``dlq``, ``payouts``, ``doctor``, ``mapping``), registered
without importing it.

Celery's command line loads every ``celery.commands`` entry point of the environment when it starts,
whatever the ``-A`` app: ``celery -A some_other_app worker`` in the same environment imports them too.
Importing ``tasks`` reads the connector's settings and registers its signal handlers (which apply the
vendor patches of ``tasks/patches.py`` when a worker starts), so the entry points name these stand-ins
instead: each shows its help at once and imports its real command
group only when it is run (``celery -A tasks dlq list``). Another app's worker, and the benchmarks'
stock Celery baselines, load nothing of ``tasks``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import click


class LazyGroup(click.Group):
    """A command group that stands for ``module:attribute`` and imports it when invoked."""

    def __init__(self, name: str, target: str, help: str) -> None:  # noqa: A002 - click's own name
        super().__init__(name=name, help=help)
        self.target = target

    def real(self) -> click.Group:
        module, attribute = self.target.split(":")
        group = getattr(import_module(module), attribute)
        if not isinstance(group, click.Group):
            raise TypeError(f"{self.target} is not a click group")
        return group

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        return self.real().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self.real().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.real().get_command(ctx, cmd_name)


class LazyCommand(click.Command):
    """A single command that stands for ``module:attribute`` and imports it when invoked."""

    def __init__(self, name: str, target: str, help: str) -> None:  # noqa: A002 - click's own name
        super().__init__(name=name, help=help)
        self.target = target

    def real(self) -> click.Command:
        module, attribute = self.target.split(":")
        command = getattr(import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        return self.real().make_context(info_name, args, parent=parent, **extra)


doctor = LazyCommand("doctor", "tasks.doctor:doctor",
                     help="Pre-flight check before going live: Redis, Stripe key and webhook endpoint, Epicor, "
                          "every code the mappings name (--json, --url)")
dlq = LazyGroup("dlq", "tasks.dlq_cli:dlq",
                help="Dead-letter queue: list | show ID | retry ID | retry --all | discard ID | purge")
payouts = LazyGroup("payouts", "tasks.payouts_cli:main",
                    help="Payout reconciliation reports: list | show PO_ID | reconcile PO_ID | recheck")
mapping = LazyGroup("mapping", "tasks.mapping_cli:main",
                    help="Field mapping files: check [DIR] | preview EVT_ID [--draft FILE] (every error as "
                          "file:line: field)")
