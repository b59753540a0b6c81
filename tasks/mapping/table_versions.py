"""Versions of the lookup tables (parts, reason codes, currencies, countries, terms …), kept like the field mappings'.

Policy, and why (the document mappings' rules, ``tasks.mapping.versions``, applied to the table files):

* **Version 1 is the base**: the table file under ``MAPPINGS_DIR`` as deployed. A site changes a table from
  the console by *publishing* a new version of the whole file (2, 3 …). Publishing validates the text with
  the schema the worker loads it with (``tables.FILES``): a refused table is answered with every reason and
  never reaches a worker.
* **Every table file is editable except ``defaults.yaml``** (company settings, not a lookup): a file added
  to ``tables.FILES``, or registered by the module that loads it (``tables.register_table``: issue 15's
  ``payouts.yaml``, whose loader then reads ``tables.published_text`` first), is listed, edited and versioned
  with no change here.
* **Per integration pair** (``tasks.pairs``, issue 16): like the document mappings, each pair has its own
  tables: the base is the file under the pair's ``mappings_dir``, the versions are kept under the pair's
  keys (``tasks.published.key``: ``sec:pair:<pair>:tables`` for a pair other than the default), a worker
  reads those of its event's pair (``pairs.current``), and the history record names the pair.
* **Published versions live in Redis** (``sec:tables``: ``file:<name>`` is the current version, ``serial``
  counts publishes), so workers on every host see them; each version is kept in ``sec:tables:<name>:log``
  with who, when, comment and the diff, and recorded in the history (``mapping_change`` of
  ``tables/<name>``). Restoring an earlier version publishes its text again as a new version.
* **Two people publishing at once**: a publish names the version it was edited from (``base_version``);
  when someone published that table meanwhile, it is refused (``StaleVersion``). ``WATCH`` on the table's
  own log makes the check and the write one step, so publishing parts never refuses a change of reasons.
* **Workers pick a version up without a restart, cheaply**: inside a stage the serial comes with the
  stage's first round trip (``tasks.published``), so the next event after a publish is built with it at no
  cost of its own; outside a stage ``published_tables`` reads it at most once a second. The texts are read
  only when it moved; ``install`` hands this to ``tables.current_mappings``, which builds the tables again
  only then. A preview reads what is published now (``published_now``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import redis

from history import recorder
from tasks import pairs, published, store
from tasks.errors import MappingError
from tasks.mapping import payout_settings, tables  # noqa: F401 - payout_settings registers payouts.yaml
from tasks.mapping.versions import (
    BASE_VERSION,
    BASE_WHO,
    MAX_COMMENT,
    NothingToPublish,
    StaleVersion,
    Version,
    diff,
    mapping_name,
)

log = logging.getLogger(__name__)
NOT_TABLES = frozenset({"defaults.yaml"})  # company settings, edited as a file (README, "Configuration")
FLOW = "tables"  # a Version's ``flow``: its diff and history name read ``tables/parts.yaml``
READ_EVERY = 1.0  # seconds between two reads of the serial by one process


class TableRefused(MappingError):
    """A table a worker would refuse: ``problems`` lists every reason as ``key: message``."""

    def __init__(self, name: str, problems: list[str]):
        super().__init__(f"{name} is refused: " + "; ".join(problems), reason="mapping.invalid")
        self.problems = problems


def table_key() -> str:
    return published.tables_key()


def log_key(name: str) -> str:
    return published.key("tables", name, "log")


def editable() -> list[str]:
    """The table files the console edits: ``tables.FILES`` in order, then those registered by their own
    module (``tables.register_table``)."""
    return [*(name for name in tables.FILES if name not in NOT_TABLES), *tables.OTHER_TABLES]


def check_name(name: str) -> None:
    if name not in editable():
        raise MappingError(f"there is no lookup table {name!r}; the tables are {', '.join(editable())}",
                           reason="mapping.unknown")


def base(name: str, mappings_dir: str | Path) -> Version:
    path = Path(mappings_dir) / name
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    return Version(FLOW, name.removesuffix(".yaml"), BASE_VERSION, text, BASE_WHO, None, f"base: {name} as deployed")


def _decoded(name: str, raw: str | None) -> Version | None:
    if not raw:
        return None
    found = json.loads(raw)
    return Version(FLOW, name.removesuffix(".yaml"), int(found["version"]), str(found["text"]), str(found["who"]),
                   found.get("at"), str(found.get("comment") or ""), str(found.get("diff") or ""))


def _encoded(version: Version) -> str:
    return json.dumps({"version": version.version, "text": version.text, "who": version.who, "at": version.at,
                       "comment": version.comment, "diff": version.diff})


def current(name: str, mappings_dir: str | Path, client: Any = None) -> Version:
    """The version workers build with now: the published one, else the file."""
    check_name(name)
    raw = cast("str | None", (client or store.client()).hget(table_key(), f"file:{name}"))
    return _decoded(name, raw) or base(name, mappings_dir)


def history_of(name: str, mappings_dir: str | Path) -> list[Version]:
    """Every version of ``name``, oldest first: the file, then each published one."""
    check_name(name)
    raw = cast("list[str]", store.client().lrange(log_key(name), 0, -1))
    return [base(name, mappings_dir), *(v for item in raw if (v := _decoded(name, item)))]


def version_of(name: str, number: int, mappings_dir: str | Path) -> Version | None:
    return next((v for v in history_of(name, mappings_dir) if v.version == number), None)


def catalogue(mappings_dir: str | Path) -> list[dict[str, Any]]:
    """Every table with its current version, who published it and when."""
    listed = []
    for name in editable():
        now = current(name, mappings_dir)
        listed.append({"table": name, "current": now.version, "who": now.who, "at": now.at})
    return listed


# -- publishing --------------------------------------------------------------------------------------
def problems_of(name: str, text: str) -> list[str]:
    """Every reason a worker would refuse ``text`` as table ``name`` (none: valid)."""
    check_name(name)
    if name in tables.OTHER_TABLES:
        return tables.OTHER_TABLES[name](text)
    return tables.table_problems(text, tables.FILES[name])


def publish(name: str, text: str, *, who: str, comment: str, mappings_dir: str | Path,
            base_version: int | None) -> Version:
    """Validate ``text`` and make it the current version of table ``name`` on every host.

    Raises ``TableRefused`` (every reason) for a table a worker would refuse, ``StaleVersion`` when
    ``base_version`` is no longer current, ``NothingToPublish`` for the current text itself."""
    if not comment.strip():
        raise MappingError("a comment is required: say what the change is for", reason="mapping.comment")
    problems = problems_of(name, text)
    if problems:
        raise TableRefused(name, problems)
    made = _commit(name, text, who, comment.strip()[:MAX_COMMENT], mappings_dir, base_version)
    recorder.record("mapping_change", who=who, mapping=mapping_name(FLOW, name), version=str(made.version),
                    comment=made.comment, diff=made.diff, content=made.text, pair=pairs.current.get())
    log.info("table version published")
    return made


def restore(name: str, number: int, *, who: str, comment: str, mappings_dir: str | Path,
            base_version: int | None = None) -> Version:
    """Publish an earlier version's text again, as a new version (the log keeps every step)."""
    earlier = version_of(name, number, mappings_dir)
    if earlier is None:
        raise MappingError(f"{name} has no version {number}", reason="mapping.unknown")
    if not comment.strip():
        raise MappingError("a comment is required: say why the version is restored", reason="mapping.comment")
    return publish(name, earlier.text, who=who, comment=f"restore of version {number}: {comment.strip()}",
                   mappings_dir=mappings_dir, base_version=base_version)


def _commit(name: str, text: str, who: str, comment: str, mappings_dir: str | Path,
            base_version: int | None) -> Version:
    """Write the new version if the current one is still ``base_version`` (WATCH: checked and written as one)."""
    now = None
    with store.client().pipeline() as pipe:
        try:
            pipe.watch(log_key(name))
            now = current(name, mappings_dir, client=pipe)
            _check_base(now, text, base_version)
            made = Version(FLOW, now.document, now.version + 1, text, who, store.now(), comment, diff(now, text))
            pipe.multi()
            pipe.hset(table_key(), f"file:{name}", _encoded(made))
            pipe.hincrby(table_key(), "serial", 1)
            pipe.rpush(log_key(name), _encoded(made))
            pipe.execute()
        except redis.WatchError:
            raise StaleVersion(name, base_version or 0, (now.version if now else 0) + 1) from None
    return made


def _check_base(now: Version, text: str, base_version: int | None) -> None:
    name = f"{now.document}.yaml"
    if base_version is not None and base_version != now.version:
        raise StaleVersion(name, base_version, now.version)
    if text == now.text:
        raise NothingToPublish(f"{name}: the text is version {now.version}'s own; nothing to publish",
                               reason="mapping.unchanged")


# -- what a worker builds with ----------------------------------------------------------------------
class _Seen:
    """What this process last read: the serial, the published texts and when it last looked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.serial = ""
        self.texts: dict[str, str] = {}
        self.checked = float("-inf")


_seen: dict[str, _Seen] = {}  # pair -> what this process read of that pair's tables
_seen_lock = threading.Lock()


def _seen_of(pair: str) -> _Seen:
    found = _seen.get(pair)
    if found is None:
        with _seen_lock:
            found = _seen.setdefault(pair, _Seen())
    return found


def published_tables() -> tuple[str, Mapping[str, str]]:
    """(serial, {file: published text}) of the current pair; Redis is read at most once a second, the texts
    only after a publish. Redis away: what was read before stands (the stage's own Redis calls will say
    Redis is away)."""
    pair = pairs.current.get()
    seen = _seen_of(pair)
    serial = published.seen(table_key())  # read with the stage's first round trip: the next event sees a publish
    with seen.lock:
        if serial is None and time.monotonic() - seen.checked < READ_EVERY:
            return seen.serial, seen.texts
        if serial is not None and serial == seen.serial:
            return seen.serial, seen.texts
        seen.checked = time.monotonic()
        try:
            _refresh(seen)
        except redis.RedisError:
            log.warning("published tables not read: Redis unavailable; the tables read before stand")
        return seen.serial, seen.texts


def published_now() -> dict[str, str]:
    """The published table texts as Redis holds them now (file name -> YAML): what a preview builds with."""
    fields = cast("dict[str, str]", store.client().hgetall(table_key()))
    return {name[5:]: json.loads(raw)["text"] for name, raw in fields.items() if name.startswith("file:")}


def _refresh(seen: _Seen) -> None:
    serial = str(store.client().hget(table_key(), "serial") or "0")
    if serial == seen.serial:
        return
    fields = cast("dict[str, str]", store.client().hgetall(table_key()))
    seen.texts = {name[5:]: json.loads(raw)["text"] for name, raw in fields.items() if name.startswith("file:")}
    seen.serial = serial


def install() -> None:
    """Make the worker's tables the published versions (``tables.current_mappings``); called at worker start."""
    tables.published_source = published_tables


def forget() -> None:
    """Drop what this process read (tests; a Redis that was flushed)."""
    with _seen_lock:
        _seen.clear()
    tables.forget_current()
