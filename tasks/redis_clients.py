"""Every Redis client of the project is built here: one plain server (``REDIS_URL``), or the primary
that Redis Sentinel names (``REDIS_SENTINELS`` + ``REDIS_SENTINEL_MASTER``).

With Sentinel:

- A client asks the sentinels for the primary's address when it opens a connection, so after a
  failover its next connection reaches the promoted replica. A command that meets the failover (the
  old primary gone, or demoted and answering READONLY) is retried with a growing pause for up to
  ``REDIS_FAILOVER_TIMEOUT`` seconds, long enough for the sentinels to agree on a new primary; only
  then does the caller see ``redis.ConnectionError``, which the pipeline treats as "Redis away, retry
  later" (``tasks.errors.classify``), never as a reason to dead-letter an event.
- Celery's broker uses kombu's ``sentinel://`` transport with the same sentinels, master name,
  database and passwords (``broker_settings``); Flower reads them from the Celery configuration.
- One ``redis.sentinel.Sentinel`` per process and settings: its connections to the sentinels are shared
  by the threads, each of which keeps its own client to the primary (``tasks.store.client``).

A configuration the sentinels cannot serve (none answers, or none knows the master) is a start-up
fault: ``sentinel_problems`` says why, and ``tasks.preflight`` stops the worker and beat with it.
Passwords never appear in a message, a URL printed, or a record.
"""

from __future__ import annotations

import threading
from typing import Any, cast
from urllib.parse import quote

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from tasks.settings import RedisSettings, redis_url_without_password

# Pauses between tries of a command that met a failover: 0.1 s, doubling, at most 1 s each.
BACKOFF_BASE = 0.1
BACKOFF_CAP = 1.0
SENTINEL_TIMEOUT = 2.0  # a sentinel that does not answer within this is skipped for the next one

_sentinels: dict[RedisSettings, Sentinel] = {}
_lock = threading.Lock()


def failover_retry(seconds: float) -> Retry:
    """Retries that keep trying for about ``seconds`` on a lost connection, a timeout or READONLY."""
    retries, waited, pause = 0, 0.0, BACKOFF_BASE
    while waited < seconds:
        waited += min(pause, BACKOFF_CAP)
        pause *= 2
        retries += 1
    return Retry(ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE), retries,
                 supported_errors=(redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                                   redis.exceptions.ReadOnlyError, redis.exceptions.MasterDownError))


def _sentinel_options(settings: RedisSettings) -> dict[str, Any]:
    options: dict[str, Any] = {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}
    if settings.sentinel_password:
        options["password"] = settings.sentinel_password
    return options


def sentinel(settings: RedisSettings) -> Sentinel:
    """This process's ``Sentinel`` for ``settings`` (shared by its threads)."""
    with _lock:
        found = _sentinels.get(settings)
        if found is None:
            found = _sentinels[settings] = Sentinel(list(settings.sentinels),
                                                    sentinel_kwargs=_sentinel_options(settings))
        return found


def connect(settings: RedisSettings, *, decode_responses: bool = True, socket_timeout: float = 5.0,
            socket_connect_timeout: float = 3.0, **options: Any) -> redis.Redis:
    """A client of Redis as ``settings`` say: the Sentinel-named primary, or ``REDIS_URL``'s server."""
    options.update(decode_responses=decode_responses, socket_timeout=socket_timeout,
                   socket_connect_timeout=socket_connect_timeout)
    if not settings.uses_sentinel:
        if settings.password and not redis.connection.parse_url(settings.url).get("password"):
            options["password"] = settings.password  # REDIS_PASSWORD beside a URL without one
        return redis.Redis.from_url(settings.url, **options)
    options.setdefault("retry", failover_retry(settings.failover_timeout))
    return sentinel(settings).master_for(settings.sentinel_master, redis_class=redis.Redis, db=settings.db,
                                         password=settings.password or None, **options)


def broker_settings(settings: RedisSettings) -> dict[str, Any]:
    """``broker_url``, ``broker_password`` and the Sentinel transport options for Celery (``celeryconfig``).

    With Sentinel, the Redis password is in each ``sentinel://`` address: kombu treats them as failover
    alternates too, and when it switches to the next one after a lost connection it takes the password
    from that URL only (kombu 5.7 drops a ``broker_password`` there). Celery and kombu print broker URLs
    with the password masked; this project never prints one."""
    if not settings.uses_sentinel:
        return {"broker_url": settings.url, "broker_password": settings.password or None, "transport_options": {}}
    auth = f":{quote(settings.password, safe='')}@" if settings.password else ""
    url = ";".join(f"sentinel://{auth}{_url_host(host)}:{port}/{settings.db}" for host, port in settings.sentinels)
    return {"broker_url": url, "broker_password": None,
            "transport_options": {"master_name": settings.sentinel_master,
                                  "sentinel_kwargs": _sentinel_options(settings)}}


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def describe(settings: RedisSettings) -> str:
    """Where Redis is, for a person (no password)."""
    if not settings.uses_sentinel:
        return redis_url_without_password(settings.url)
    sentinels = ", ".join(f"{host}:{port}" for host, port in settings.sentinels)
    return f"Sentinel master '{settings.sentinel_master}' (db {settings.db}) via {sentinels}"


def sentinel_problems(settings: RedisSettings) -> list[str]:
    """Why the sentinels cannot name a primary, one line; [] when they can (or Sentinel is not used).

    Asks each sentinel in turn, as a client would: none answering, a refused password, or no sentinel
    knowing ``REDIS_SENTINEL_MASTER`` are configuration faults the operator must fix."""
    if not settings.uses_sentinel:
        return []
    refused: list[str] = []
    for host, port in settings.sentinels:
        client = redis.Redis(host=host, port=port, decode_responses=True, retry=Retry(NoBackoff(), 0),
                             **_sentinel_options(settings))  # one try each: a refusal is an answer here
        try:
            masters = cast("dict[str, Any]", client.sentinel_masters())  # name -> state
        except redis.exceptions.AuthenticationError:
            refused.append(f"{host}:{port} refused REDIS_SENTINEL_PASSWORD" if settings.sentinel_password
                           else f"{host}:{port} asks for a password: set REDIS_SENTINEL_PASSWORD")
            continue
        except redis.exceptions.ResponseError as exc:
            refused.append(f"{host}:{port} {_auth_or_reply(exc)}")
            continue
        except redis.exceptions.RedisError:
            refused.append(f"{host}:{port} does not answer")
            continue
        finally:
            client.close()
        if settings.sentinel_master in masters:
            return []
        known = ", ".join(sorted(masters)) or "none"
        return [f"Redis Sentinel at {host}:{port} knows no master named '{settings.sentinel_master}' "
                f"(REDIS_SENTINEL_MASTER; it knows: {known})"]
    return [f"no sentinel of REDIS_SENTINELS can name the Redis primary: {'; '.join(refused)}"]


def _auth_or_reply(exc: redis.exceptions.ResponseError) -> str:
    text = str(exc)
    if "NOAUTH" in text or "AUTH" in text.upper():
        return "asks for a password: set REDIS_SENTINEL_PASSWORD"
    return f"answered an error ({type(exc).__name__})"
