"""Serials of what the console publishes (field mappings, lookup tables), read with each stage's first round trip.

Policy, and why: a published mapping or table must be what the *next* event is built with, on every host,
and reading whether something was published must not cost an event a round trip of its own. Each published
set lives in a Redis hash whose ``serial`` field every publish increments. A stage's first Redis call
(``tasks.store.begin_stage``, one Lua script) also reads the serials of the hashes ``keys_for`` names, and
``tasks.base`` keeps them for the stage (``seen``); a reader (``tasks.mapping.versions``,
``tasks.mapping.table_versions``) compares the serial with the one it built with and re-reads the texts
only when it moved. Outside a stage (a preview, the command line) there is no such serial and the reader
asks Redis itself.

This module only names keys and holds the stage's serials: it imports nothing of the mapping engine, so
the stages' base can use it without loading more.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from tasks import store

_seen: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("published_serials", default=None)


def mappings_key(flow: str) -> str:
    """The hash of a flow's published document mappings."""
    return store.key("mappings", flow)


def tables_key() -> str:
    """The hash of the published lookup tables."""
    return store.key("tables")


def keys_for(flow: str | None) -> list[str]:
    """The hashes whose serials a stage of ``flow`` reads with its first round trip."""
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
