"""Serials of what the console publishes (field mappings, lookup tables), read with each stage's first round trip.

Policy, and why: a published mapping or table must be what the *next* event is built with, on every host,
and reading whether something was published must not cost an event a round trip of its own. Each published
set lives in a Redis hash whose ``serial`` field every publish increments. A stage's first Redis call
(``tasks.store.begin_stage``, one Lua script) also reads the serials of the hashes ``keys_for`` names, and
``tasks.base`` keeps them for the stage (``seen``); a reader (``tasks.mapping.versions``,
``tasks.mapping.table_versions``) compares the serial with the one it built with and re-reads the texts
only when it moved. Outside a stage (a preview, the command line) there is no such serial and the reader
asks Redis itself.

Per integration pair (``tasks.pairs``, issue 16): each pair has its own mappings, so what the console
publishes for a pair lives under that pair's keys (``key``: ``sec:pair:<pair>:mappings:<flow>``; the default
pair's keys are as they always were) and a stage reads the serials of its event's pair (``keys_for`` reads
``pairs.current``, which the stage sets from the envelope before its first round trip). A mapping published
for one pair therefore never changes what another pair's events are built with.

This module only names keys and holds the stage's serials: it imports nothing of the mapping engine, so
the stages' base can use it without loading more.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from tasks import pairs, store

_seen: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("published_serials", default=None)


def pair_of(pair: str | None = None) -> str:
    """``pair``, else the pair being worked for (``pairs.current``)."""
    return pair or pairs.current.get()


def key(*parts: str, pair: str | None = None) -> str:
    """A key of what is published for ``pair`` (default: the current pair): the default pair's keys are
    ``sec:<parts>`` as before pairs existed, another pair's ``sec:pair:<pair>:<parts>``."""
    name = pair_of(pair)
    if name == pairs.DEFAULT:
        return ":".join((store.PREFIX, *parts))
    return ":".join((store.PREFIX, "pair", name, *parts))


def mappings_key(flow: str, pair: str | None = None) -> str:
    """The hash of a flow's published document mappings, for ``pair`` (default: the current pair)."""
    return key("mappings", flow, pair=pair)


def tables_key(pair: str | None = None) -> str:
    """The hash of the published lookup tables, for ``pair`` (default: the current pair)."""
    return key("tables", pair=pair)


def keys_for(flow: str | None) -> list[str]:
    """The hashes whose serials a stage of ``flow`` reads with its first round trip: its event's pair's
    (the stage sets ``pairs.current`` first), as many keys for every pair, so no pair pays a round trip."""
    return [tables_key(), *([mappings_key(flow)] if flow else [])]


@contextmanager
def stage_serials(serials: dict[str, str]) -> Iterator[None]:
    """Inside: ``seen(key)`` answers the serial read at the start of the stage."""
    token = _seen.set(serials)
    try:
        yield
    finally:
        _seen.reset(token)


def seen(key: str) -> str | None:
    """The serial of ``key`` read with this stage's first round trip; None outside a stage."""
    found = _seen.get()
    return None if found is None else found.get(key)
