"""The broker's Redis layout as kombu's Redis transport writes it: which lists hold a queue's messages.

The patch that makes kombu keep one Redis client per channel lives with the other vendor patches in
``tasks.patches``.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


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
