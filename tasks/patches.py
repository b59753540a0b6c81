"""Every change this project makes to a vendor library's internals, in one place, applied explicitly.

Policy: a patch of a library's private internals is an upgrade risk, so each one here

- says what it changes and why, and the vendor versions it was written and tested against;
- is applied only when a process asks for it at start (``apply_all(role)``: the worker and beat from
  ``tasks.signals``, the web server from ``gunicorn_conf``), never as a side effect of an import, so the
  receiver's modules and the benchmarks' stock baselines run the libraries as shipped;
- is skipped, with a warning naming the library and version, when the installed version is outside
  that range or the internals it replaces are not there: the library's own behaviour is kept (each
  patch is a saving or a hardening, none is needed for correct results), and someone re-checks it;
- is idempotent (applying twice changes nothing) and has a unit test (tests/unit/test_patches.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Patch:
    name: str
    package: str  # the distribution whose version is checked
    supported: tuple[tuple[int, int], tuple[int, int]]  # (lowest major.minor, first major.minor not supported)
    apply: Callable[[], bool]  # True once the patch is in place; False when the internals are not there
    roles: tuple[str, ...] = ("worker", "beat", "web")  # the processes it serves


def version_of(package: str) -> tuple[int, int] | None:
    """(major, minor) of an installed distribution; None when it is absent or its version is unusual."""
    try:
        parts = metadata.version(package).split(".")
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (metadata.PackageNotFoundError, ValueError, IndexError):
        return None


def supported(patch: Patch, installed: tuple[int, int] | None) -> bool:
    low, high = patch.supported
    return installed is not None and low <= installed < high


# -- kombu: one Redis client per broker channel ----------------------------------------------------
def reuse_channel_clients() -> bool:
    """kombu 5.7's Redis transport builds a new ``redis.Redis`` (over the channel's shared pool) for every
    command it sends outside the consumer's BRPOP: each publish, event and acknowledgement. With
    redis-py 8 that constructor copies some 170 response callbacks, and profiles of the worker and the
    receiver showed it at about a tenth of their CPU. A client over a pool is thread-safe, so each
    channel now keeps one; a channel whose pool was replaced (a reconnect) builds a new one. Same pool,
    same connections, same commands."""
    from kombu.transport import redis as kombu_redis

    channel = kombu_redis.Channel
    original = getattr(channel, "conn_or_acquire", None)
    if original is None or not hasattr(channel, "_create_client") or not hasattr(channel, "pool"):
        return False
    if getattr(original, "reuses_client", False):
        return True

    @contextmanager
    def conn_or_acquire(self: Any, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool
        cached = self.__dict__.get("_shared_sync_client")
        if cached is None or cached.connection_pool is not pool:
            cached = self.__dict__["_shared_sync_client"] = self._create_client()
        yield cached

    conn_or_acquire.reuses_client = True  # type: ignore[attr-defined]
    channel.conn_or_acquire = conn_or_acquire  # type: ignore[method-assign]
    return True


# -- kombu: a broker restart at the wrong instant is a connection error -----------------------------
def guard_closed_broker_channel() -> bool:
    """With kombu 5.7, when Redis goes away while the worker is collecting a broken connection, closing
    the consumer's channel a second time reads the broker address from a transport already released and
    raises ``AttributeError``; Celery treats that as unrecoverable and the worker exits. Raising the
    connection error it really is lets Celery reconnect as usual; the channel's unacknowledged messages
    are handed out again after the visibility timeout."""
    import redis
    from kombu.transport import redis as kombu_redis

    original = getattr(kombu_redis.Channel, "_connparams", None)
    if original is None:
        return False
    if getattr(original, "guarded", False):
        return True

    def connparams(self: Any, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("broker connection already released")
        return original(self, asynchronous)

    connparams.guarded = True  # type: ignore[attr-defined]
    kombu_redis.Channel._connparams = connparams  # type: ignore[method-assign]
    return True


# -- stripe-python: per-call log lines formatted only when someone would see them -------------------
def heard_only(sdk_log: Callable[..., None], level: int) -> Callable[..., None]:
    """``sdk_log`` (stripe's ``log_info``/``log_debug``), skipped when nobody would see the line.

    stripe-python formats every line, the whole response body included, before its logger decides to
    drop it; this asks first, with the SDK's own rules: its ``stripe`` logger, or ``stripe.log`` /
    ``STRIPE_LOG`` printing to stderr."""
    from stripe import _util as sdk_util

    def log_when_heard(message: str, **params: Any) -> None:
        console = sdk_util._console_log_level()
        if console == "debug" or (console == "info" and level >= logging.INFO) \
                or sdk_util.logger.isEnabledFor(level):
            sdk_log(message, **params)

    log_when_heard.__wrapped__ = sdk_log  # type: ignore[attr-defined]
    return log_when_heard


def quiet_stripe_sdk_logging() -> bool:
    from stripe import _api_requestor as sdk_requestor
    from stripe import _util as sdk_util

    if not all(hasattr(module, name) for module, name in (
            (sdk_requestor, "log_info"), (sdk_requestor, "log_debug"), (sdk_util, "_console_log_level"))):
        return False
    if not hasattr(sdk_requestor.log_info, "__wrapped__"):
        sdk_requestor.log_info = heard_only(sdk_requestor.log_info, logging.INFO)
        sdk_requestor.log_debug = heard_only(sdk_requestor.log_debug, logging.DEBUG)
    return True


PATCHES = (
    Patch("kombu: one Redis client per broker channel", "kombu", ((5, 7), (5, 8)), reuse_channel_clients),
    Patch("kombu: closed broker channel is a connection error", "kombu", ((5, 7), (5, 8)),
          guard_closed_broker_channel),
    Patch("stripe: SDK log lines formatted only when shown", "stripe", ((16, 0), (17, 0)), quiet_stripe_sdk_logging,
          roles=("worker",)),  # only the worker calls Stripe that often; the receiver never does
)


def apply(patch: Patch) -> bool:
    """Apply one patch if its library's version is one it was written for; True when it is in place."""
    installed = version_of(patch.package)
    if not supported(patch, installed):
        log.warning("vendor patch not applied (%s %s, written for %s.%s up to %s.%s): %s", patch.package,
                    ".".join(map(str, installed or ())) or "not installed", *patch.supported[0], *patch.supported[1],
                    patch.name)
        return False
    if not patch.apply():
        log.warning("vendor patch not applied (%s internals changed): %s", patch.package, patch.name)
        return False
    return True


def apply_all(role: str) -> dict[str, bool]:
    """Apply every patch that serves ``role`` (``worker``, ``beat``, ``web``), at the start of that
    process; which ones are in place, by name."""
    return {patch.name: apply(patch) for patch in PATCHES if role in patch.roles}
