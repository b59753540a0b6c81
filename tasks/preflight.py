"""The start-up check: every setting and mapping file a stage needs, checked before any event runs.

Policy: a configuration the worker cannot run with must never reach an event. Found at run time, it
would fail every event the same way, and each would end in the dead-letter queue for one setting.
So the worker (``worker_init``) and beat (``beat_init``) run ``configuration_problems`` before they
consume or send anything; with any problem they print the reason on one line and exit non-zero
(``EXIT_CONFIG``, sysexits' EX_CONFIG). The web keeps acknowledging and queueing events all the same
(Stripe must never be told to stop sending), so events wait in the queue until the operator fixes
the configuration and restarts the worker, then run normally.

The fault is also written to Redis (``FAULT_KEY``, a hash of role -> {reason, at, host}) so that the
web's ``/readyz`` answers 503 with the reason even when the web's own environment is fine; a role
that starts healthy clears its entry. Several workers with different environments share one entry:
the last to start wins, which is what an operator who just restarted one wants to see.

Checks are local (environment, files): no network call, so a start is never slowed or blocked by
Stripe or Epicor being away. ``tasks.doctor`` is the pre-flight check that also asks them.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import redis

from tasks import redis_clients
from tasks.errors import PipelineError
from tasks.settings import ConfigError, RedisSettings, Settings, env_value, load_redis_settings, load_settings  # noqa: F401  env_value: tests read REDIS_URL through it

log = logging.getLogger(__name__)

FAULT_KEY = "sec:config_fault"
EXIT_CONFIG = 78  # sysexits.h EX_CONFIG: a supervisor (systemd, compose) can tell it from a crash
ROLES = ("worker", "beat")


def configuration_problems(role: str = "worker") -> list[str]:
    """Every reason the configuration cannot run ``role`` (``worker``, ``beat`` or ``web``), one line each."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        return [str(exc)]
    checks: list[Callable[[Settings], None]] = [_stripe, _epicor, _mappings, _payouts, _retry_policies]
    if role == "web":  # the receiver verifies signatures; it shares the worker's environment otherwise
        checks.append(_webhook_secrets)
    problems = [problem for check in checks for problem in _problem(check, settings)]
    return problems + _pair_problems(checks, settings)


def _pair_problems(checks: list[Callable[[Settings], None]], base: Settings) -> list[str]:
    """``PAIRS_FILE`` (``tasks.pairs``): the file itself, then each pair's settings checked as the
    default pair's are, each problem named with its pair. Nothing to do without the file."""
    if not env_value("PAIRS_FILE"):
        return []
    from tasks.pairs import DEFAULT, load_pairs

    try:
        pairs = load_pairs(base)
    except ConfigError as exc:
        return [str(exc)]
    return [f"pair {name}: {problem}" for name in pairs.names() if name != DEFAULT
            for check in checks
            for problem in _problem(check, pairs.by_name[name].settings)]


def pair_problems() -> list[str]:
    """What is wrong with ``PAIRS_FILE`` and the pairs it declares (nothing without the file). The web runs
    this check alone at start: a receiver that cannot tell the pairs apart must not take their events."""
    if not env_value("PAIRS_FILE"):
        return []
    try:
        settings = load_settings()
    except ConfigError:
        return []  # the environment's own fault: the worker names it, the web keeps queueing
    return _pair_problems([_stripe, _epicor, _webhook_secrets], settings)


def enforce_pairs(role: str) -> None:
    """``pair_problems`` at the start of ``role`` (the web): exit with ``EXIT_CONFIG`` and the reason."""
    problems = pair_problems()
    if env_value("PAIRS_FILE"):
        record_fault(role, problems)
    if problems:
        print(f"configuration error, {role} not started: {'; '.join(problems)}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CONFIG)


def _problem(check: Callable[[Settings], None], settings: Settings) -> list[str]:
    try:
        check(settings)
    except ConfigError as exc:
        return [str(exc)]
    except PipelineError as exc:  # a mapping file: MappingError names the file and the key
        return [exc.message]
    return []


def _stripe(settings: Settings) -> None:
    settings.require_stripe()


def _epicor(settings: Settings) -> None:
    settings.require_epicor()


def _mappings(settings: Settings) -> None:
    from tasks.mapping.tables import load_mappings

    if not settings.mappings_dir.is_dir():
        raise ConfigError(f"MAPPINGS_DIR {settings.mappings_dir} is not a directory")
    load_mappings(settings.mappings_dir)
    _document_mappings(settings)


def _document_mappings(settings: Settings) -> None:
    """The field mapping files (mappings/documents/): a refused one stops the worker, every error listed."""
    from tasks.mapping.engine import check_directory

    problems = check_directory(settings.mappings_dir)
    if problems:
        raise ConfigError("field mappings refused: " + "; ".join(str(problem) for problem in problems))


def _payouts(settings: Settings) -> None:
    """mappings/payouts.yaml (how payouts are posted): every problem named with its key."""
    from tasks.mapping.payout_settings import load_payout_settings
    from tasks.mapping.tables import load_mappings

    try:
        tables = load_mappings(settings.mappings_dir)
    except PipelineError:
        return  # the tables themselves are refused: _mappings names why
    load_payout_settings(settings.mappings_dir, tables.bank_account, tables.cash_group_prefix)  # its prefix too


def _retry_policies(_: Settings) -> None:
    """``RETRY_*`` overrides of every flow an event can be routed to."""
    from tasks.flows import EPICOR_EVENT_FLOWS, EVENT_FLOWS, flow_named

    for name in sorted({*EVENT_FLOWS.values(), *(name for name in EPICOR_EVENT_FLOWS.values() if name)}):
        flow_named(name).retry.configured(name)


def _webhook_secrets(settings: Settings) -> None:
    if not settings.stripe_webhook_secrets:
        raise ConfigError("STRIPE_WEBHOOK_SECRET is not set: every Stripe delivery would be refused")


# -- the fault as the web sees it ------------------------------------------------------------------
_clients: dict[RedisSettings, redis.Redis] = {}


def _redis() -> redis.Redis:
    """A client from the Redis settings alone (the settings as a whole may be what is broken): ``REDIS_URL``
    or Sentinel's primary (``tasks.redis_clients``); one per address."""
    where = load_redis_settings()
    if where not in _clients:
        _clients[where] = redis_clients.connect(where, decode_responses=True, socket_timeout=2,
                                                socket_connect_timeout=2,  # best effort: never wait long
                                                retry=redis_clients.failover_retry(2.0))
    return _clients[where]


def sentinel_problems() -> list[str]:
    """With ``REDIS_SENTINELS``: the one check that asks the network, because a process whose sentinels
    cannot name the primary (none answers, a wrong password, an unknown ``REDIS_SENTINEL_MASTER``)
    could not take or record a single event. Run at start only (``enforce``), after the local checks."""
    try:
        return redis_clients.sentinel_problems(load_redis_settings())
    except ConfigError as exc:
        return [str(exc)]


def record_fault(role: str, problems: list[str]) -> None:
    """Write (problems) or clear (no problems) ``role``'s entry; best effort, never raises."""
    try:
        client = _redis()
        if problems:
            entry = {"reason": "; ".join(problems), "at": time.time(), "host": socket.gethostname()}
            client.hset(FAULT_KEY, role, json.dumps(entry))
        else:
            client.hdel(FAULT_KEY, role)
    except (redis.exceptions.RedisError, ConfigError, ValueError, OSError):
        log.warning("could not record the configuration check in Redis")


def recorded_faults() -> dict[str, dict[str, Any]]:
    """Role -> {reason, at, host} of every process that refused to start; raises ``redis.RedisError``."""
    raw = cast("dict[str, str]", _redis().hgetall(FAULT_KEY))
    faults = {}
    for role, value in raw.items():
        try:
            faults[role] = json.loads(value)
        except ValueError:
            faults[role] = {"reason": value}
    return faults


def enforce(role: str) -> None:
    """Run the check for ``role``; exit with ``EXIT_CONFIG`` and the reason when it fails."""
    problems = configuration_problems(role) or sentinel_problems()
    record_fault(role, problems)
    if not problems:
        log.info("configuration checked: %s can run", role)
        return
    reason = "; ".join(problems)
    if logging.getLogger().handlers:
        log.critical("configuration error, %s not started: %s", role, reason)
    else:  # celery sets its logging up after worker_init: this is the line the operator reads
        print(f"configuration error, {role} not started: {reason}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_CONFIG)
