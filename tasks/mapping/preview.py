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

An event is built by its flow's own transform (``tasks.mapping.building``), with the published mapping
texts and the drafts in their place: refunds and disputes call the engine once per refund or dispute step
with inputs the transform shapes from the fetch output, so the engine alone on that output would build
something else. A sample is one mapping directory's own input (its declared source shape) and is built by
the engine directly. A flow without mapping files, or an event its flow would skip, is refused with the
reason (never a server error).

Integration pairs (``tasks.pairs``): a preview builds with the mappings and tables of the pair being
worked for (``pairs.current``, which the console's ``pair`` or ``--pair`` sets, and ``mappings_dir``, that
pair's directory). An event of another pair is refused with its pair named: its documents would go to
another Epicor company, with other mappings.

Every problem is returned, not the first: a draft's validation errors as ``file:line: field: message``,
then what building or checking the documents refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from tasks import pairs, store
from tasks.documents import STRIPE_KINDS, Document
from tasks.errors import MappingError, PermanentError
from tasks.mapping import engine, shapes, table_versions, tables, versions
from tasks.mapping.tables import Mappings

if TYPE_CHECKING:
    from tasks.context import Context

# The flow whose transform builds each mapping directory's documents: a dispute's reversal has its own
# directory (one file per document kind) but is built by the disputes flow, with its chargeback.
TRANSFORM_OF = {"order_to_cash": "order_to_cash", "refunds": "refunds", "disputes": "disputes",
                "dispute_reversals": "disputes", "stripe_invoice": "stripe_invoice",
                "stripe_invoice_receipt": "stripe_invoice", "payment_failed": "payment_failed",
                "customer_sync": "customer_sync", "customer_standing": "customer_standing",
                "epicor_customer": "epicor_customer", "epicor_sales_order": "epicor_sales_order"}


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
    ``drafts`` (document -> YAML of ``flow``'s directory) in their place."""
    flow, fetched, source = _fetched(flow, event_id, sample)
    drafts = dict(drafts or {})
    for document in drafts:
        versions.check_document(flow, document)
    directories = _directories(flow) if source != "sample" else (flow,)
    texts, numbers = _texts(flow, directories, drafts, mappings_dir)
    result = Preview(flow, source, numbers, event_id=event_id)
    result.errors = [str(p) for document, text in drafts.items()
                     for p in versions.problems_of(flow, document, text, mappings_dir)]
    if not result.errors:
        _build(result, fetched, texts, mappings_dir)
    return result


def _directories(flow: str) -> tuple[str, ...]:
    """Every mapping directory the transform that builds ``flow`` reads, ``flow``'s own first."""
    return (flow, *(name for name, of in TRANSFORM_OF.items() if of == TRANSFORM_OF[flow] and name != flow))


def _texts(flow: str, directories: tuple[str, ...], drafts: Mapping[str, str],
           mappings_dir: str | Path) -> tuple[dict[str, dict[str, str]], dict[str, int | str]]:
    """The text of each document the preview builds with, by directory, and its version (``draft`` for a
    draft; another directory's documents as ``directory/document``)."""
    texts: dict[str, dict[str, str]] = {}
    numbers: dict[str, int | str] = {}
    for directory in directories:
        texts[directory] = {}
        for document in shapes.FLOW_DOCUMENTS[directory]:
            found = versions.current(directory, document, mappings_dir)
            drafted = directory == flow and document in drafts
            texts[directory][document] = drafts[document] if drafted else found.text
            numbers[document if directory == flow else f"{directory}/{document}"] = \
                "draft" if drafted else found.version
    return texts, numbers


@dataclass
class _Building:
    """What a flow's transform reads while previewing: the site's tables and the texts to build with. No
    Stripe or Epicor connector, so a preview cannot write anywhere, whatever a transform does."""

    settings: Any
    mappings: Mappings
    mapping_texts: dict[str, dict[str, str]]


def _build(result: Preview, fetched: Mapping[str, Any], texts: dict[str, dict[str, str]],
           mappings_dir: str | Path) -> None:
    try:
        documents = _documents(result, fetched, texts, mappings_dir)
    except engine.MappingFileError as exc:
        result.errors = [str(problem) for problem in exc.problems]
        return
    except PreviewRefused:
        raise
    except MappingError as exc:
        result.errors = [exc.message]
        return
    except Exception as exc:  # noqa: BLE001 - a caller's sample is any JSON; what it breaks is shown, never a 5xx
        result.errors = [f"these Stripe objects cannot be built into documents ({type(exc).__name__}: {exc})"]
        return
    result.documents = [dict(document) for document in documents]
    result.errors = _schema_errors(result.documents, _line_kinds(texts, mappings_dir))


def _documents(result: Preview, fetched: Mapping[str, Any], texts: dict[str, dict[str, str]],
               mappings_dir: str | Path) -> list[Document]:
    """A sample through the engine; an event through its flow's own transform, every document it would post."""
    site = tables.load_mappings(mappings_dir, table_versions.published_now())  # as the next event sees them
    if result.source == "sample":
        return engine.build_documents(result.flow, fetched, mappings_dir, tables=site, texts=texts[result.flow])
    from tasks.flows import SkipEvent, flow_named

    building = _Building(SimpleNamespace(mappings_dir=Path(mappings_dir)), site, texts)
    try:
        transformed = flow_named(TRANSFORM_OF[result.flow]).transform(cast("Context", building), dict(fetched))
    except SkipEvent as skip:
        raise PreviewRefused(f"event {result.event_id} posts nothing: {skip}", reason="preview.skipped") from None
    return list(_posted(transformed))


def _posted(stage_output: Any) -> Iterator[Document]:
    """The documents in a transform's output, in the order post creates them (the one document shape:
    lists named ``documents``, at any depth: one per order, refund or dispute step)."""
    if isinstance(stage_output, Mapping):
        for name, value in stage_output.items():
            if name == "documents" and isinstance(value, list):
                yield from value
            else:
                yield from _posted(value)
    elif isinstance(stage_output, list):
        for item in stage_output:
            yield from _posted(item)


def _line_kinds(texts: dict[str, dict[str, str]], mappings_dir: str | Path) -> dict[str, str]:
    """The line schema each document kind's mapping file names (``lines: schema:``): a Stripe invoice's AR
    invoice lines are billed lines, which may be negative, and are validated as such by their flow."""
    return {spec.kind: spec.lines.schema for directory, documents in texts.items()
            for spec in engine.load_flow(directory, mappings_dir, documents) if spec.lines is not None}


def _schema_errors(documents: list[dict[str, Any]], line_kinds: dict[str, str]) -> list[str]:
    """What the validate stage would refuse in these documents (Epicor's schemas: lengths, types, required);
    a document for Stripe (the Epicor -> Stripe flows) is checked by its flow, not by Epicor's schemas."""
    from tasks.epicor.schemas import validate_documents

    epicor = [cast("Document", document) for document in documents if document["kind"] not in STRIPE_KINDS]
    try:
        validate_documents(epicor, line_kinds)
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
    if event_flow not in TRANSFORM_OF.values():
        raise PreviewRefused(f"event {event_id}'s flow ({event_flow or 'none'}) has no field mappings",
                             reason="preview.flow")
    if flow and TRANSFORM_OF.get(flow) != event_flow:  # the flow itself, or a directory its transform reads
        raise PreviewRefused(f"event {event_id} is of flow {event_flow}, not {flow}", reason="preview.flow")
    pair, working_for = str(event.get("pair") or pairs.DEFAULT), pairs.current.get()
    if pair != working_for:  # built with one pair's mappings, it would show what another company never gets
        raise PreviewRefused(f"event {event_id} is of pair {pair}, not {working_for}: preview it with pair {pair}",
                             reason="preview.pair")
    stored = store.client().get(store.key("stage", event_id, "transform"))
    if stored:
        return flow or event_flow, json.loads(stored), "stage_input"
    return flow or event_flow, fresh_fetch(event_flow, {**event, "id": event_id}), "stripe"


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
