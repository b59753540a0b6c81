"""Versions of the field mappings: a change is a draft until it is published; every host takes it at once.

Policy, and why:

* **Version 1 is the base**: the shipped file, or the site's copy under ``MAPPINGS_DIR``. A site changes a
  document mapping from the console by *publishing* a new version of it (2, 3 …). Publishing validates the
  text exactly as the worker would load it (``engine.load_text``): a refused draft is answered with every
  error as ``file:line: field: message`` and never reaches a worker.
* **Per integration pair** (``tasks.pairs``, issue 16): each pair has its own mappings. Everything here
  works for the pair being worked for (``pairs.current``: the event's in a stage, the one the console or
  the command line names otherwise): its base is read from that pair's ``mappings_dir``, its versions are
  kept under its keys (``tasks.published.key``), and its history records name it. A version published for
  one pair changes nothing another pair builds.
* **Published versions live in Redis** (``sec:mappings:<flow>``; ``sec:pair:<pair>:mappings:<flow>``
  for a pair other than the default), not on disk, because a site runs workers
  on several hosts: a file edited on one host is not seen by the others, a Redis key is. Each version is
  kept (``sec:mappings:<flow>:<document>:log``) with who, when, comment and the diff from the one before,
  and is recorded in the history (``mapping_change``), so any earlier version can be restored, as a new
  version (the log only grows: what was posted with version 3 stays explainable).
* **Two people publishing at once**: a publish names the version it was edited from (``base_version``);
  when another publish got there first, the second is refused (``StaleVersion``) instead of silently
  overwriting a change its author never saw. Redis ``WATCH`` makes the check and the write one step.
* **Workers pick a version up without a restart, cheaply**: each flow's hash carries a ``serial`` that
  every publish increments. A stage reads that counter with its own first round trip (``tasks.published``),
  and ``published_for`` reads the published texts only when it moved: the next event after a publish is
  built with it, and an event pays no round trip for it. The
  versions an event is built with are written to its record and history by the transform stage's own
  closing round trip (``tasks.base``, ``history.recorder.note``). A worker installs this with ``install``.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import redis

from history import recorder
from tasks import pairs, published, store
from tasks.errors import MappingError
from tasks.mapping import engine, shapes

log = logging.getLogger(__name__)
BASE_VERSION = 1
BASE_WHO = "mapping files"
MAX_COMMENT = 1000


class StaleVersion(MappingError):
    """The version a change was made from is no longer the current one: someone published meanwhile."""

    def __init__(self, mapping: str, base: int, current: int):
        super().__init__(f"{mapping}: your change was made from version {base}, but version {current} was "
                         f"published meanwhile; reload it and apply your change again", reason="mapping.stale")
        self.current = current


class NothingToPublish(MappingError):
    """The text is the current version's own: publishing it would make a version that changes nothing."""


@dataclass(frozen=True)
class Version:
    """One version of one document mapping."""

    flow: str
    document: str
    version: int
    text: str
    who: str
    at: float | None
    comment: str
    diff: str = ""

    def summary(self) -> dict[str, Any]:
        """What a list of versions shows (no text, no diff)."""
        return {"version": self.version, "who": self.who, "at": self.at, "comment": self.comment}


def flow_key(flow: str) -> str:
    return published.mappings_key(flow)


def log_key(flow: str, document: str) -> str:
    return published.key("mappings", flow, document, "log")


def mapping_name(flow: str, document: str) -> str:
    """How the history names a document mapping: ``flow/document``, prefixed ``<pair>:`` for a pair other
    than the default (as its event ids are), so a change is never taken for another pair's."""
    pair = pairs.current.get()
    return f"{flow}/{document}" if pair == pairs.DEFAULT else f"{pair}:{flow}/{document}"


def pair_mappings_dir(pair: str | None = None) -> Path:
    """The mappings directory of ``pair`` (default: the current pair): where its base versions are read.
    ``ConfigError`` for a pair the deployment does not declare."""
    return pairs.settings_for(pair or pairs.current.get()).mappings_dir


def check_document(flow: str, document: str) -> None:
    """A flow and document a mapping exists for; anything else is a ``MappingError`` naming them."""
    if document not in shapes.FLOW_DOCUMENTS.get(flow, ()):
        known = ", ".join(f"{name}/{doc}" for name, docs in shapes.FLOW_DOCUMENTS.items() for doc in docs)
        raise MappingError(f"no document mapping {flow}/{document} (known: {known})", reason="mapping.unknown")


# -- reading -----------------------------------------------------------------------------------------
def base(flow: str, document: str, mappings_dir: str | Path) -> Version:
    """Version 1: the file a worker on ``mappings_dir`` reads when nothing is published."""
    path = engine.document_path(flow, document, mappings_dir)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    return Version(flow, document, BASE_VERSION, text, BASE_WHO, None, f"base: {path.name} as deployed")


def _decoded(flow: str, document: str, raw: str | None) -> Version | None:
    if not raw:
        return None
    found = json.loads(raw)
    return Version(flow=flow, document=document, version=int(found["version"]), text=str(found["text"]),
                   who=str(found["who"]), at=found.get("at"), comment=str(found.get("comment") or ""),
                   diff=str(found.get("diff") or ""))


def current(flow: str, document: str, mappings_dir: str | Path, client: Any = None) -> Version:
    """The version a worker builds ``document`` with now: the published one, else the base."""
    check_document(flow, document)
    raw = cast("str | None", (client or store.client()).hget(flow_key(flow), f"doc:{document}"))
    return _decoded(flow, document, raw) or base(flow, document, mappings_dir)


def history_of(flow: str, document: str, mappings_dir: str | Path) -> list[Version]:
    """Every version of ``document``, oldest first: the base, then each published one."""
    check_document(flow, document)
    raw = cast("list[str]", store.client().lrange(log_key(flow, document), 0, -1))
    return [base(flow, document, mappings_dir), *(v for item in raw if (v := _decoded(flow, document, item)))]


def version_of(flow: str, document: str, number: int, mappings_dir: str | Path) -> Version | None:
    return next((v for v in history_of(flow, document, mappings_dir) if v.version == number), None)


def catalogue(mappings_dir: str | Path) -> list[dict[str, Any]]:
    """Every document mapping with its current version and every version's who, when and comment."""
    listed = []
    for flow, documents in shapes.FLOW_DOCUMENTS.items():
        for document in documents:
            versions = history_of(flow, document, mappings_dir)
            listed.append({"flow": flow, "document": document, "current": versions[-1].version,
                           "versions": [v.summary() for v in versions]})
    return listed


# -- publishing --------------------------------------------------------------------------------------
def problems_of(flow: str, document: str, text: str, mappings_dir: str | Path) -> list[engine.Problem]:
    """Every error a worker would refuse ``text`` with, as ``file:line: field`` problems (none: valid)."""
    check_document(flow, document)
    try:
        engine.load_text(flow, document, text, mappings_dir)
    except engine.MappingFileError as exc:
        return exc.problems
    return []


def diff(before: Version, text: str) -> str:
    name = f"{before.flow}/{before.document}.yaml"
    return "".join(difflib.unified_diff(before.text.splitlines(keepends=True), text.splitlines(keepends=True),
                                        f"{name} (version {before.version})", f"{name} (new)"))


def publish(flow: str, document: str, text: str, *, who: str, comment: str, mappings_dir: str | Path,
            base_version: int | None) -> Version:
    """Validate ``text`` and make it the new current version of ``document`` on every host.

    Raises ``engine.MappingFileError`` (every problem) for a text a worker would refuse, ``StaleVersion``
    when ``base_version`` is no longer current, ``NothingToPublish`` for the current text itself."""
    if not comment.strip():
        raise MappingError("a comment is required: say what the change is for", reason="mapping.comment")
    problems = problems_of(flow, document, text, mappings_dir)
    if problems:
        raise engine.MappingFileError(problems)
    made = _commit(flow, document, text, who, comment.strip()[:MAX_COMMENT], mappings_dir, base_version)
    recorder.record("mapping_change", who=who, mapping=mapping_name(flow, document), version=str(made.version),
                    comment=made.comment, diff=made.diff, content=made.text, pair=pairs.current.get())
    log.info("mapping version published")
    return made


def restore(flow: str, document: str, number: int, *, who: str, comment: str, mappings_dir: str | Path,
            base_version: int | None = None) -> Version:
    """Publish an earlier version's text again, as a new version (the log keeps every step)."""
    earlier = version_of(flow, document, number, mappings_dir)
    if earlier is None:
        raise MappingError(f"{flow}/{document} has no version {number}", reason="mapping.unknown")
    note = f"restore of version {number}" + (f": {comment.strip()}" if comment.strip() else "")
    return publish(flow, document, earlier.text, who=who, comment=note if comment.strip() else "",
                   mappings_dir=mappings_dir, base_version=base_version)


def _commit(flow: str, document: str, text: str, who: str, comment: str, mappings_dir: str | Path,
            base_version: int | None) -> Version:
    """Write the new version if the current one is still ``base_version`` (WATCH: checked and written as one)."""
    with store.client().pipeline() as pipe:
        try:
            pipe.watch(flow_key(flow))
            now = current(flow, document, mappings_dir, client=pipe)
            _check_base(now, text, base_version)
            made = Version(flow, document, now.version + 1, text, who, store.now(), comment, diff(now, text))
            versions = _versions_after(pipe, flow, document, made.version)
            pipe.multi()
            pipe.hset(flow_key(flow), mapping={f"doc:{document}": _encoded(made), "versions": json.dumps(versions)})
            pipe.hincrby(flow_key(flow), "serial", 1)
            pipe.rpush(log_key(flow, document), _encoded(made))
            pipe.execute()
        except redis.WatchError:
            raise StaleVersion(f"{flow}/{document}", base_version or 0, now.version + 1) from None
    return made


def _check_base(now: Version, text: str, base_version: int | None) -> None:
    if base_version is not None and base_version != now.version:
        raise StaleVersion(f"{now.flow}/{now.document}", base_version, now.version)
    if text == now.text:
        raise NothingToPublish(f"{now.flow}/{now.document}: the text is version {now.version}'s own; "
                               f"nothing to publish", reason="mapping.unchanged")


def _versions_after(pipe: Any, flow: str, document: str, number: int) -> dict[str, int]:
    raw = pipe.hget(flow_key(flow), "versions")
    versions = json.loads(raw) if raw else base_versions(flow)
    return {**base_versions(flow), **versions, document: number}


def base_versions(flow: str) -> dict[str, int]:
    return {document: BASE_VERSION for document in shapes.FLOW_DOCUMENTS.get(flow, ())}


def _encoded(version: Version) -> str:
    return json.dumps({k: v for k, v in asdict(version).items() if k not in ("flow", "document")})


# -- what a worker builds with ----------------------------------------------------------------------
@dataclass
class _Published:
    serial: str
    texts: dict[str, str]  # document -> published YAML
    versions: dict[str, int]  # document -> version number, base versions included


_seen: dict[tuple[str, str], _Published] = {}  # (pair, flow) -> what this process read


def published_for(flow: str) -> Mapping[str, str]:
    """The published texts of ``flow`` for the current pair (document -> YAML), re-read only when its
    serial moved. Inside a stage (``recorder.working_on``) the versions built with are noted for the
    stage's closing round trip to write to the event's record and history."""
    held = (pairs.current.get(), flow)
    seen = _seen.get(held)
    serial = published.seen(flow_key(flow))  # read with the stage's first round trip
    if serial is None:  # outside a stage (a preview, the command line): ask
        serial = str(store.client().hget(flow_key(flow), "serial") or "0")
    if seen is None or seen.serial != serial:
        fields = cast("dict[str, str]", store.client().hgetall(flow_key(flow)))
        texts = {name[4:]: json.loads(raw)["text"] for name, raw in fields.items() if name.startswith("doc:")}
        versions = {**base_versions(flow), **json.loads(fields.get("versions") or "{}")}
        seen = _seen[held] = _Published(str(fields.get("serial") or "0"), texts, versions)
    recorder.note(mapping_version=seen.versions)
    return seen.texts


def install() -> None:
    """Make the engine build with the published versions (a worker calls this at start)."""
    engine.published_source = published_for


def forget() -> None:
    """Drop what this process read (tests; a Redis that was flushed)."""
    _seen.clear()
