"""One Redis client per broker channel for kombu's own commands, instead of one per command.

kombu 5.7's Redis transport builds a new ``redis.Redis`` object (over the channel's shared connection
pool) for every command it sends outside the consumer's BRPOP: each publish, each task-sent or
task-succeeded event, each acknowledgement. With redis-py 8 that constructor copies some 170
response callbacks into a fresh dict, and profiles of the worker and the receiver showed it at
about a tenth of their CPU. A ``redis.Redis`` over a connection pool is safe to share between threads
(each command takes its own connection from the pool; pipelines are made per use), so each channel
now keeps one and hands it out; a channel whose pool was replaced (after a reconnect) builds a new
one. Nothing else about the transport changes: same pool, same connections, same commands.

Applied when ``tasks`` is imported, so in the worker, the receiver and every CLI; skipped (with the
transport's own behaviour kept) if kombu's internals are not the ones this was written against.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


def reuse_channel_clients() -> bool:
    """Patch ``Channel.conn_or_acquire`` once; True when the patch is in place."""
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


reuse_channel_clients()


def queue_keys(queue: str) -> list[str]:
    """The Redis lists holding ``queue``'s messages: one per priority step (kombu's naming)."""
    import celeryconfig

    return [f"{queue}{kombu_redis.Channel.sep}{step}" if step else queue for step in celeryconfig.PRIORITY_STEPS]


def queue_depth(client: Any, queue: str) -> int:
    """Messages waiting in ``queue``, at every priority."""
    pipe = client.pipeline(transaction=False)
    for key in queue_keys(queue):
        pipe.llen(key)
    return sum(pipe.execute())
