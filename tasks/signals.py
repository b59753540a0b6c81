"""Worker and beat start-up checks: a configuration they can run with, and a Redis that keeps what it is given.

A configuration the worker cannot run with (a missing credential, a plain-http Epicor address, a
mapping file that fails validation) stops the worker and beat before they take or send a message,
with the reason on one line and a non-zero exit (``tasks.preflight``): events stay queued until the
operator fixes it, instead of each being dead-lettered.

A Redis that evicts keys or keeps nothing on disk can lose queued events, dead-letter records and
journals. The worker does not refuse to start (a laptop demo runs without persistence) but warns
loudly, naming the setting to change.
"""

from __future__ import annotations

import logging
import os
from typing import Any, cast

from celery.signals import after_setup_logger, beat_init, heartbeat_sent, worker_init, worker_ready, worker_shutdown

from tasks import preflight, store
from telemetry import metrics, processes

log = logging.getLogger(__name__)


def redis_durability_warnings(config: dict[str, str]) -> list[str]:
    warnings = []
    if config.get("maxmemory-policy", "noeviction") != "noeviction":
        warnings.append(f"Redis maxmemory-policy is {config.get('maxmemory-policy')}; set it to noeviction")
    if config.get("appendonly", "no") != "yes" and not config.get("save"):
        warnings.append("Redis persists nothing (appendonly no, no save points); turn on appendonly yes")
    return warnings


@worker_init.connect
def apply_vendor_patches(**_: Any) -> None:
    """Before the consumer connects: the vendor patches the worker runs with (``tasks.patches``)."""
    from tasks import patches  # imported here: a web process that loads this module applies none

    patches.apply_all("worker")


@beat_init.connect
def apply_vendor_patches_beat(**_: Any) -> None:
    from tasks import patches

    patches.apply_all("beat")


@worker_init.connect
def refuse_bad_configuration(**_: Any) -> None:
    """Before the consumer starts: ``SystemExit`` is not an ``Exception``, so it ends the worker."""
    preflight.enforce("worker")


@worker_init.connect
def build_with_published_mappings(**_: Any) -> None:
    """Field mappings published from the console (Redis) override the files, from each event on."""
    from tasks.mapping import table_versions, versions

    versions.install()
    table_versions.install()  # and the lookup tables published from the console


@beat_init.connect
def refuse_bad_configuration_beat(**_: Any) -> None:
    preflight.enforce("beat")


@worker_ready.connect
def check_redis(**_: Any) -> None:
    try:
        # redis-py types the reply for any client; this one decodes (decode_responses=True): str to str.
        config = cast("dict[str, str]", store.client().config_get("*"))
    except Exception:  # noqa: BLE001 - managed Redis may forbid CONFIG
        log.info("could not read Redis configuration; durability not checked")
        return
    for warning in redis_durability_warnings(config):
        log.warning(warning)


@after_setup_logger.connect
def add_context_filter(logger: logging.Logger, **_: Any) -> None:
    from tasks.base import ContextFilter

    for handler in logger.handlers:
        handler.addFilter(ContextFilter())


@after_setup_logger.connect
def quiet_stripe_sdk(**_: Any) -> None:
    """stripe-python logs two INFO lines per API call; the worker logs its own outcome per event
    instead. ``STRIPE_LOG=info`` (the SDK's own switch) brings them back."""
    if not os.environ.get("STRIPE_LOG"):
        logging.getLogger("stripe").setLevel(logging.WARNING)


_placement: list[tuple[int, str]] = []  # said once the worker's logging is set up (worker_ready)


@worker_init.connect
def keep_worker_on_one_cpu(sender: Any = None, **_: Any) -> None:
    """``WORKER_CPU_AFFINITY`` (cpu_affinity.py), before the pool's threads start."""
    import cpu_affinity

    pool = getattr(sender, "pool_cls", None) or os.environ.get("WORKER_POOL", "threads")
    placed = cpu_affinity.place("WORKER_CPU_AFFINITY", pool)
    if placed:
        _placement.append((placed[0], f"worker {placed[1]}"))


@worker_ready.connect
def report_placement(**_: Any) -> None:
    while _placement:
        level, message = _placement.pop(0)
        log.log(level, message)


@worker_init.connect
def prepare_metrics(**_: Any) -> None:
    """Remove the metrics files of this host's gone processes (``telemetry.processes``); publish the
    worker's Epicor concurrency limit."""
    from tasks.settings import get_settings

    processes.tidy()
    metrics.worker_started(get_settings().epicor_max_concurrency)


@worker_init.connect
def share_call_budgets(sender: Any = None, **_: Any) -> None:
    """The Epicor and Stripe budgets shared by every worker of the deployment (``tasks.budget``). A
    thread-pool worker leases its Epicor permits now (its first call waits for nothing); a prefork
    child leases its own on first use."""
    from tasks import budget
    from tasks.settings import get_settings

    budget.enable()
    if "prefork" not in str(getattr(sender, "pool_cls", None) or os.environ.get("WORKER_POOL", "threads")):
        budget.epicor_permits(get_settings())


@worker_shutdown.connect
def give_back_call_budgets(**_: Any) -> None:
    """A stopping worker's Epicor permits are free for the others at once, not after its lease lapses."""
    from tasks import budget

    budget.shutdown()


@heartbeat_sent.connect
def note_heartbeat(**_: Any) -> None:
    """Every few seconds (Celery's worker heartbeat): the "no worker" alert watches this time."""
    metrics.worker_heartbeat()


@worker_shutdown.connect
def retire_metrics(**_: Any) -> None:
    processes.retire(os.getpid())
