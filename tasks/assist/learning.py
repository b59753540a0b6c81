"""What this site accepted and rejected: a Redis hash per target field, read by the ranker.

Policy: every accept or reject a person gives in the designer is one verdict on a (target, source) pair,
kept in ``sec:assist:verdicts:<target>`` as ``source -> accepted minus rejected``. The ranker raises a pair
accepted before ("accepted at this site before") and lowers one rejected, so the suggestions follow the
site's own choices. Who gave the verdict and when is recorded in the history as an operator action
(``service.record_feedback``); this hash holds only the tally the ranker needs.

Reading never fails a suggestion: with Redis away the ranker simply learns nothing this time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def verdict_key(target: str) -> str:
    from tasks import store

    return store.key("assist", "verdicts", target)


class RedisLearned:
    """The site's verdicts, read from Redis once per target and remembered for the request."""

    def __init__(self, client: Any | None = None):
        self._client = client
        self._read: dict[str, dict[str, int]] = {}
        self._away = False

    def _redis(self) -> Any:
        if self._client is None:
            from tasks import store

            self._client = store.client()
        return self._client

    def verdicts(self, target: str) -> Mapping[str, int]:
        if target not in self._read:
            self._read[target] = {} if self._away else self._fetch(target)
        return self._read[target]

    def _fetch(self, target: str) -> dict[str, int]:
        try:
            raw = self._redis().hgetall(verdict_key(target))
        except Exception as exc:  # noqa: BLE001 - learning is a bonus; never a reason to fail
            self._away = True
            log.warning("site verdicts not read: %s", type(exc).__name__)
            return {}
        return {str(source): int(value) for source, value in raw.items() if str(value).lstrip("-").isdigit()}


def remember(target: str, source: str, accepted: bool, client: Any | None = None) -> int:
    """Add one verdict; the pair's new tally."""
    if client is None:
        from tasks import store

        client = store.client()
    return int(client.hincrby(verdict_key(target), source, 1 if accepted else -1))
