"""What the command line and the web call: a suggestion request checked, scoped, ranked and answered.

Policy: every request is scoped to one source object and one target table (a document's header and line
tables are two scopes). A request that cannot be read is refused with ``SuggestRefused`` naming what is
wrong, never half-answered. Learning reads Redis when it can (``learning``); the optional provider adds
what it adds (``provider``). A person's accept or reject is counted for the ranker and recorded in the
history as an operator action, with who and when, like every change an operator makes.

The web imports this module lazily through its blueprint, and it loads no stage, flow or connector.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import IO, Any

from tasks.assist import catalogue, provider
from tasks.assist.learning import RedisLearned, remember
from tasks.assist.rank import Candidate, Learned, Source, Suggestion, Target, rank, sources_from

log = logging.getLogger(__name__)
MAX_FIELDS = 3000
MAX_PATH = 300
MAX_REQUEST_CHARS = 4_000_000  # a whole Stripe object with samples is well under 1 MB
MAX_SAMPLES = 20  # per source field: a few events' worth is all the detectors need
MAX_SAMPLE_CHARS = 1000  # a sample's text beyond this says nothing more about its kind


class SuggestRefused(ValueError):  # noqa: N818 - the refusal is the answer
    """A request the suggester cannot answer; the message says why."""


# --- the command line's document: {"source": {...}, "target": {...}} ---------------------------------


def read_request(stream: IO[str]) -> Any:
    """The request read from ``stream`` (standard input): bounded in size, JSON, or refused with the reason."""
    try:
        text = stream.read(MAX_REQUEST_CHARS + 1)
    except UnicodeDecodeError:
        raise SuggestRefused("the request is not UTF-8 text") from None
    if len(text) > MAX_REQUEST_CHARS:
        raise SuggestRefused(f"the request is larger than {MAX_REQUEST_CHARS} characters")
    try:
        return json.loads(text or "null")
    except RecursionError:
        raise SuggestRefused("the request nests too deeply to be a suggestion request") from None
    except ValueError as exc:  # a syntax error, or an integer too long to read
        raise SuggestRefused(f"the request is not JSON: {exc}") from None


def suggest_document(request: Any, *, learned: Learned | None = None) -> dict[str, Any]:
    """``{"suggestions": [...]}`` for ``{"source": {"object", "fields"}, "target": {"table", "fields"}}``."""
    source_part, target_part = _part(request, "source"), _part(request, "target")
    scope = _text(source_part.get("object"), "source.object")
    table = _text(target_part.get("table"), "target.table")
    side = "epicor" if catalogue.is_epicor_table(scope) else "stripe"
    sources = _sources(source_part.get("fields"), scope, side)
    targets = _targets(target_part.get("fields"), table, side)
    found = rank(sources, targets, source_side=side, learned=learned, scope=scope)
    return {"suggestions": [suggestion.as_json() for suggestion in with_provider(found, sources)]}


def _part(request: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(request, Mapping):
        raise SuggestRefused("the request must be a JSON object with source and target")
    part = request.get(name)
    if not isinstance(part, Mapping):
        raise SuggestRefused(f"{name} is required: an object")
    return part


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_PATH:
        raise SuggestRefused(f"{name} is required: a name (text)")
    return value.strip()


def _sources(fields: Any, scope: str, side: str) -> list[Source]:
    if fields is None:
        return _all_of(scope, side)
    if not isinstance(fields, list) or len(fields) > MAX_FIELDS:
        raise SuggestRefused(f"source.fields must be a list of at most {MAX_FIELDS} fields")
    entries = [_source_entry(entry, number) for number, entry in enumerate(fields, start=1)]
    return sources_from(entries)


def _source_entry(entry: Any, number: int) -> dict[str, Any]:
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, Mapping):
        raise SuggestRefused(f"source.fields[{number}] must be an object with a path (or a path)")
    _text(entry.get("path"), f"source.fields[{number}].path")
    found = dict(entry)
    if "sample" in found:
        found["sample"] = _bounded(found["sample"])
    if isinstance(found.get("samples"), list):
        found["samples"] = [_bounded(sample) for sample in found["samples"][:MAX_SAMPLES]]
    return found


def _bounded(sample: Any) -> Any:
    """A sample cut to what its kind needs: long text shortened, a nested value only as its shape."""
    if isinstance(sample, str):
        return sample[:MAX_SAMPLE_CHARS]
    if isinstance(sample, Mapping):
        return {}
    if isinstance(sample, list):
        return []
    return sample


def _all_of(scope: str, side: str) -> list[Source]:
    try:
        if side == "epicor":
            return [Source(target.name, (), _declared(target.type)) for target in catalogue.table_targets(scope)]
        return catalogue.object_sources(scope)
    except catalogue.UnknownScope as exc:
        raise SuggestRefused(str(exc)) from None


def _declared(kind: str) -> str | None:
    return {"string": "text", "number": "decimal", "integer": "integer", "boolean": "boolean"}.get(kind)


def _targets(fields: Any, table: str, side: str) -> list[Target]:
    if fields is not None and (not isinstance(fields, list) or len(fields) > MAX_FIELDS
                               or not all(isinstance(name, str) and 0 < len(name) <= MAX_PATH for name in fields)):
        raise SuggestRefused(f"target.fields must be a list of at most {MAX_FIELDS} field names")
    try:
        if side == "epicor":
            return catalogue.object_targets(table, fields)
        return catalogue.table_targets(table, [_qualified(name, table) for name in fields] if fields else None)
    except catalogue.UnknownScope as exc:
        raise SuggestRefused(str(exc)) from None


def _qualified(name: str, table: str) -> str:
    if "." in name and name.split(".", 1)[0] != table:
        raise SuggestRefused(f"target field {name} is not a field of {table} (one table per request)")
    return name if "." in name else f"{table}.{name}"


# --- the optional provider ---------------------------------------------------------------------------


def with_provider(found: list[Suggestion], sources: Sequence[Source]) -> list[Suggestion]:
    """The offline suggestions, with the configured provider's picks merged in (never required)."""
    if not provider.configured():
        return found
    picks = provider.picks([source.path for source in sources], [suggestion.target for suggestion in found])
    for suggestion in found:
        _merge_picks(suggestion, picks.get(suggestion.target, []))
    return found


def _merge_picks(suggestion: Suggestion, picked: list[str]) -> None:
    by_source = {candidate.source: candidate for candidate in suggestion.candidates}
    for rank_number, source in enumerate(picked):
        bonus = provider.WEIGHT * (1 - 0.2 * rank_number)
        found = by_source.get(source)
        if found is None:
            found = by_source[source] = Candidate(source, None, 0.0, [])
        found.confidence = min(1.0, found.confidence + bonus * (0.3 if found.confidence else 1.0))
        found.reasons.append(provider.REASON)
    ordered = sorted(by_source.values(), key=lambda candidate: -candidate.confidence)
    suggestion.candidates = ordered[:3]


# --- a flow's document (the designer) ---------------------------------------------------------------


def suggest_mapping(flow: str, document: str, targets: list[str] | None = None,
                    *, learned: Learned | None = None) -> dict[str, Any]:
    """Suggestions for a flow's document: its header and line tables, sources from the flow's declared shape
    and this site's recent events."""
    tables = document_tables(flow, document)
    wanted = _document_targets(tables, targets)
    sources = catalogue.flow_sources(flow, catalogue.site_events(flow))
    learned = learned or RedisLearned()
    found: list[Suggestion] = []
    for table_targets in wanted.values():
        found.extend(rank(sources, table_targets, learned=learned))
    return {"flow": flow, "document": document, "tables": list(tables),
            "suggestions": [suggestion.as_json() for suggestion in with_provider(found, sources)]}


def document_tables(flow: str, document: str) -> dict[str, list[str]]:
    """``{table: [the columns the connector's schema declares]}`` for the document's header and lines."""
    from tasks.documents import DOCUMENT_KINDS
    from tasks.mapping import shapes

    if flow not in shapes.FLOW_DOCUMENTS:
        raise SuggestRefused(f"flow must be one of {', '.join(shapes.FLOW_DOCUMENTS)}")
    if document not in shapes.FLOW_DOCUMENTS[flow]:
        raise SuggestRefused(f"{flow} has no document {document} ({', '.join(shapes.FLOW_DOCUMENTS[flow])})")
    tables: dict[str, list[str]] = {}
    for schema_kind in DOCUMENT_KINDS[document]:
        if schema_kind:
            declared = shapes._epicor_fields()["documents"][schema_kind]  # noqa: SLF001 - shipped schema data
            tables.setdefault(declared["table"], []).extend(declared["fields"])
    return tables


def _document_targets(tables: dict[str, list[str]], targets: list[str] | None) -> dict[str, list[Target]]:
    if not targets:
        return {table: catalogue.table_targets(table, columns) for table, columns in tables.items()}
    wanted: dict[str, list[str]] = {}
    for name in targets:
        table, _, column = name.rpartition(".")
        if table not in tables or column not in catalogue.epicor_tables()[table]:
            raise SuggestRefused(f"{name} is not a field of this document's tables ({', '.join(tables)}); "
                                 f"write it as Table.Field")
        wanted.setdefault(table, []).append(column)
    return {table: catalogue.table_targets(table, columns) for table, columns in wanted.items()}


def record_feedback(flow: str, document: str, target: str, source: str, accepted: bool, *, who: str) -> dict[str, Any]:
    """Count one verdict for the ranker and record who gave it, when, in the history."""
    document_tables(flow, document)
    tally = remember(target, source, accepted)
    action = "mapping.suggestion." + ("accepted" if accepted else "rejected")
    _audit(who=who, action=action, target=f"{flow}/{document}:{target}", comment=f"source {source}")
    return {"flow": flow, "document": document, "target": target, "source": source, "accepted": accepted,
            "tally": tally}


def _audit(*, who: str, action: str, target: str, comment: str) -> None:
    try:
        from history.recorder import record
    except ImportError:  # the history package is optional; the log keeps the fact
        log.info("operator action %s on %s by %s (no history store)", action, target, who)
        return
    record("operator_action", who=who, action=action, target=target, comment=comment, result="ok")
