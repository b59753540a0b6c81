"""Preview and dry-run of the field mappings: the documents an event would post, with nothing posted.

Policy: a person changing a mapping sees, before publishing, exactly what Epicor would receive for a real
event: the same engine, the same published versions a worker builds with, the same Epicor schemas, with
the keys Epicor assigns shown as their placeholders (``{{OrderNum}}``). Nothing is written anywhere: not
Epicor, not Stripe, not the event's record.

Where the Stripe objects come from, most faithful first:

1. the event's stored fetch output (``sec:stage:<id>:transform``): what its transform read, so a preview
   of an event already posted equals, field for field, what was posted (unless a mapping changed since);
2. when that has expired, a fresh read-only fetch from Stripe by the flow's own fetch (reads only; a payment
   whose documents are all posted finishes that fetch early, so it cannot be previewed this way);
3. a ``sample`` given by the caller (the fetch output's shape), or the flow's first shipped sample.

Every problem is returned, not the first: a draft's validation errors as ``file:line: field: message``,
then what building or checking the documents refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from tasks import store
from tasks.documents import Document
from tasks.errors import MappingError, PermanentError
from tasks.mapping import engine, shapes, versions


class PreviewRefused(MappingError):
    """A preview that cannot run: an unknown flow or event, or no Stripe objects to build from."""


@dataclass
class Preview:
    flow: str
    source: str  # "stage_input", "stripe" or "sample"
    versions: dict[str, int | str]
    documents: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    event_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"flow": self.flow, "event_id": self.event_id, "source": self.source, "versions": self.versions,
                "ok": not self.errors, "errors": self.errors, "documents": self.documents}


def preview(flow: str | None, *, event_id: str | None = None, sample: Any = None,
            drafts: Mapping[str, str] | None = None, mappings_dir: str | Path) -> Preview:
    """The documents ``flow`` would post for an event (or a sample) with the published mappings, or with
    ``drafts`` (document -> YAML) in their place."""
    flow, fetched, source = _fetched(flow, event_id, sample)
    drafts = dict(drafts or {})
    for document in drafts:
        versions.check_document(flow, document)
    texts, numbers = _texts(flow, drafts, mappings_dir)
    result = Preview(flow, source, numbers, event_id=event_id)
    result.errors = [str(p) for document, text in drafts.items()
                     for p in versions.problems_of(flow, document, text, mappings_dir)]
    if not result.errors:
        _build(result, fetched, texts, mappings_dir)
    return result


def _texts(flow: str, drafts: Mapping[str, str], mappings_dir: str | Path) -> tuple[dict[str, str],
                                                                                      dict[str, int | str]]:
    """The text of each document the preview builds with, and its version (``draft`` for a draft)."""
    texts: dict[str, str] = {}
    numbers: dict[str, int | str] = {}
    for document in shapes.FLOW_DOCUMENTS[flow]:
        found = versions.current(flow, document, mappings_dir)
        texts[document] = drafts.get(document, found.text)
        numbers[document] = "draft" if document in drafts else found.version
    return texts, numbers


def _build(result: Preview, fetched: Mapping[str, Any], texts: Mapping[str, str], mappings_dir: str | Path) -> None:
    try:
        documents = engine.build_documents(result.flow, fetched, mappings_dir, texts=texts)
    except engine.MappingFileError as exc:
        result.errors = [str(problem) for problem in exc.problems]
        return
    except MappingError as exc:
        result.errors = [exc.message]
        return
    except Exception as exc:  # noqa: BLE001 - a caller's sample is any JSON; what it breaks is shown, never a 5xx
        result.errors = [f"these Stripe objects cannot be built into documents ({type(exc).__name__}: {exc})"]
        return
    result.documents = [dict(document) for document in documents]
    result.errors = _schema_errors(result.documents)


def _schema_errors(documents: list[dict[str, Any]]) -> list[str]:
    """What the validate stage would refuse in these documents (Epicor's schemas: lengths, types, required)."""
    from tasks.epicor.schemas import validate_documents

    try:
        validate_documents([cast("Document", document) for document in documents])
    except PermanentError as exc:  # ValidationFailed, MappingError: what the validate stage would dead-letter
        return [exc.message]
    return []


# -- where the Stripe objects come from --------------------------------------------------------------
def _fetched(flow: str | None, event_id: str | None, sample: Any) -> tuple[str, Mapping[str, Any], str]:
    if event_id:
        return _of_event(flow, event_id)
    if not flow or flow not in shapes.FLOW_DOCUMENTS:
        raise PreviewRefused(f"flow must be one of {', '.join(shapes.FLOW_DOCUMENTS)}", reason="preview.flow")
    if sample is None or sample is True:
        return flow, shapes.sample_objects(flow)[0], "sample"
    if not isinstance(sample, dict):
        raise PreviewRefused("sample must be the flow's fetched objects (a JSON object)", reason="preview.sample")
    return flow, sample, "sample"


def _of_event(flow: str | None, event_id: str) -> tuple[str, Mapping[str, Any], str]:
    event = store.get_event(event_id)
    if event is None:
        raise PreviewRefused(f"event {event_id} was never received", reason="preview.unknown_event")
    event_flow = str(event.get("flow") or "")
    if flow and flow != event_flow:
        raise PreviewRefused(f"event {event_id} is of flow {event_flow or 'none'}, not {flow}", reason="preview.flow")
    if event_flow not in shapes.FLOW_DOCUMENTS:
        raise PreviewRefused(f"event {event_id}'s flow ({event_flow or 'none'}) has no field mappings",
                             reason="preview.flow")
    stored = store.client().get(store.key("stage", event_id, "transform"))
    if stored:
        return event_flow, json.loads(stored), "stage_input"
    return event_flow, fresh_fetch(event_flow, {**event, "id": event_id}), "stripe"


def fresh_fetch(flow: str, event: dict[str, Any]) -> dict[str, Any]:
    """The flow's own fetch, run here: it reads Stripe (and the journal) and writes nothing."""
    from tasks.context import context_for
    from tasks.flows import AlreadyPosted, SkipEvent, flow_named

    envelope = {"event_id": event["id"], **{k: event.get(k) for k in ("flow", "type", "source", "object_id")}}
    try:
        return flow_named(flow).fetch(context_for(event), envelope)
    except AlreadyPosted:
        raise PreviewRefused(f"event {event['id']}'s stored Stripe objects have expired and its payment is "
                             f"posted; preview it with a sample instead", reason="preview.expired") from None
    except SkipEvent as skip:
        raise PreviewRefused(f"event {event['id']} posts nothing: {skip}", reason="preview.skipped") from None
