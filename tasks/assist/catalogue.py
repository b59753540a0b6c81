"""The two sides' field lists: Epicor tables, Stripe objects, and the sources a flow's document can read.

Policy: a target table's fields come from the Epicor schema the package ships (``data/epicor_tables.json``,
every column with its type, from the project's Epicor reference) narrowed by the connector's own document
schemas where they say more (length, required: ``tasks.mapping.shapes.palette``); a Stripe object's fields
(the target when Epicor feeds Stripe) from ``data/stripe_objects.json``. The sources offered for a flow's
document are its declared source shape (``tasks.mapping.shapes``: real fetch outputs of several API
versions) plus the keys seen in this site's own recent events, metadata included, because a site's
metadata keys are exactly what no shipped shape can know.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from tasks.assist.rank import Source, Target

log = logging.getLogger(__name__)
DATA_DIR = Path(__file__).resolve().parent / "data"
STRIPE_OBJECTS = ("charge", "customer", "payment_intent", "invoice", "refund", "dispute", "payout",
                  "balance_transaction", "checkout.session", "price", "product", "subscription")
MAX_SITE_EVENTS = 50  # recent stored events read for their keys; enough for metadata, bounded for speed
MAX_SAMPLES = 5


class UnknownScope(ValueError):  # noqa: N818 - the message is the answer
    """A table or object the catalogue does not have."""


@lru_cache(maxsize=1)
def epicor_tables() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = json.loads((DATA_DIR / "epicor_tables.json").read_text("utf-8"))["tables"]
    return tables


@lru_cache(maxsize=1)
def stripe_objects() -> dict[str, dict[str, str]]:
    objects: dict[str, dict[str, str]] = json.loads((DATA_DIR / "stripe_objects.json").read_text("utf-8"))["objects"]
    return objects


def is_epicor_table(name: str) -> bool:
    return name in epicor_tables()


def table_targets(table: str, only: list[str] | None = None) -> list[Target]:
    """The target fields of an Epicor table (every column, or ``only`` these, qualified ``Table.Field``)."""
    columns = epicor_tables().get(table)
    if columns is None:
        raise UnknownScope(f"{table} is not an Epicor table this connector knows")
    lengths = _schema_lengths(table)
    names = [name.split(".", 1)[-1] for name in only] if only else [c for c in columns if c != "Company"]
    unknown = [name for name in names if name not in columns and not name.endswith("_c")]
    if unknown:  # a site's own user-defined columns (…_c) are its to declare; any other name is a typo
        raise UnknownScope(f"{', '.join(unknown[:5])} {'is not a column' if len(unknown) == 1 else 'are not columns'}"
                           f" of {table}")
    return [Target(f"{table}.{name}", columns.get(name, "string"), lengths.get(name)) for name in names]


@lru_cache(maxsize=64)
def _schema_lengths(table: str) -> dict[str, int]:
    """Column lengths the connector's document schemas declare for ``table`` (Name is 50, Zip 10 …)."""
    from tasks.mapping import shapes

    lengths: dict[str, int] = {}
    for kind, document in shapes._epicor_fields()["documents"].items():  # noqa: SLF001 - the shipped schema data
        if document["table"] == table:
            for name, target in shapes.palette(kind).items():
                if target.length:
                    lengths[name] = target.length
    return lengths


def object_targets(stripe_object: str, only: list[str] | None = None) -> list[Target]:
    """The fields of a Stripe object as targets (Epicor -> Stripe)."""
    fields = stripe_objects().get(stripe_object)
    if fields is None:
        raise UnknownScope(f"{stripe_object} is not a Stripe object this connector knows")
    types = {"integer": "integer", "number": "number", "boolean": "boolean", "list": "list"}
    names = only or [path for path in fields if not path.endswith((".object", ".livemode"))]
    return [Target(name, types.get(fields.get(name, "string"), "string")) for name in names]


def object_sources(stripe_object: str) -> list[Source]:
    """Every field of a Stripe object, without samples (when a caller names the object only)."""
    fields = stripe_objects().get(stripe_object)
    if fields is None:
        raise UnknownScope(f"{stripe_object} is not a Stripe object this connector knows")
    return [Source(path, (), _shape_type(kind)) for path, kind in fields.items()]


def _shape_type(kind: str) -> str | None:
    return {"string": "text", "integer": "integer", "number": "decimal", "boolean": "boolean",
            "list": "list"}.get(kind)


# --- a flow's sources --------------------------------------------------------------------------------


def flow_sources(flow: str, site_events: Sequence[Mapping[str, Any]] | None = None) -> list[Source]:
    """The sources a flow's document may read: its declared shape plus the keys of ``site_events``
    (fetched objects of this site's recent events), each with up to ``MAX_SAMPLES`` sample values."""
    from tasks.mapping import shapes

    seen: dict[str, list[Any]] = {}
    declared: dict[str, str] = {}
    for path, kind, sample in shapes.walk(shapes.source_shape(list(shapes.sample_objects(flow)))):
        declared[path] = kind
        _note(seen, path, sample)
    for fetched in site_events or []:
        for path, value in leaves(fetched):
            _note(seen, path, value)
    return [Source(path, tuple(samples), declared.get(path)) for path, samples in seen.items()
            if declared.get(path) not in ("object", "list") or not _has_children(path, seen)]


def _note(seen: dict[str, list[Any]], path: str, value: Any) -> None:
    found = seen.setdefault(path, [])
    if value is not None and not isinstance(value, (dict, list)) and len(found) < MAX_SAMPLES:
        found.append(value)


def _has_children(path: str, seen: Mapping[str, Any]) -> bool:
    return any(other.startswith(path + ".") or other.startswith(path + "[]") for other in seen)


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, value)`` of every scalar below ``value`` (list items as ``[]``)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value[:MAX_SAMPLES]:
            yield from leaves(item, f"{path}[]")
    elif path:
        yield path, value


def site_events(flow: str, limit: int = MAX_SITE_EVENTS) -> list[dict[str, Any]]:
    """The fetched objects of this site's recent events of ``flow`` (stored transform inputs in Redis);
    empty when Redis cannot be read: suggestions then come from the declared shape alone."""
    from tasks import store

    found: list[dict[str, Any]] = []
    try:
        client = store.client()
        for key in client.scan_iter(match=store.key("stage", "*", "transform"), count=200):
            event_id = str(key).split(":")[2]
            event = store.get_event(event_id) or {}
            if event.get("flow") == flow and (stored := client.get(key)):
                found.append(json.loads(stored))
            if len(found) >= limit:
                break
    except Exception as exc:  # noqa: BLE001 - site keys are a bonus; the declared shape still answers
        log.warning("site events not read for suggestions: %s", type(exc).__name__)
    return [event for event in found if isinstance(event, dict)]
