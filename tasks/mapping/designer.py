"""What the mapping designer page (``/console/mappings``) reads and how it edits a mapping's YAML text.

Policy: the designer edits a document mapping *structurally* (a field's source and transforms), but what
it publishes is the YAML text every other tool reads, so a person who opens the file later finds their
comments, their layout and every key they wrote. An edit therefore changes the text of the one field it
touches and leaves every other byte alone; when it cannot (an unusual layout), it falls back to dumping the
whole mapping, which keeps every field but not the comments. Either way the result is checked by loading
it back: the text returned always says exactly what the edit meant.

It also gathers what the page shows beside the targets: the target palette of each section (Epicor's
columns with type, length and whether required), the flow's source fields with the values of a real event
(its stored fetch output) or of the shipped samples, the transform registry with its help, and what an
event actually posted (its post stage's input: the documents as validated, placeholders included, with the
keys Epicor assigned). Nothing here writes anywhere.

Integration pairs (``tasks.pairs``): the page edits one pair's mappings (``pairs.current``, set from the
request's ``pair``; callers pass that pair's ``mappings_dir``), and an event of another pair is refused as
a sample: its values and what it posted belong to another Epicor company.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tasks import pairs, store
from tasks.documents import DOCUMENT_KINDS
from tasks.errors import MappingError
from tasks.mapping import engine, shapes, versions
from tasks.mapping.preview import TRANSFORM_OF, _posted
from tasks.mapping.transforms import BUILDERS, TRANSFORMS

SECTIONS = ("header", "lines")
MAX_SOURCES = 2000  # a source tree longer than this is a runaway sample, not something a person reads
MAX_VALUE_TEXT = 200
# Names Epicor's column names abbreviate; the rest are split at their capitals (``PONum`` -> "PO Num").
LABELS = {"PONum": "Customer PO number", "CustNum": "Customer number (assigned)", "CustID": "Customer ID",
          "OrderNum": "Order number (assigned)", "InvoiceNum": "Invoice number (assigned)",
          "HeadNum": "Receipt number (assigned)", "GroupID": "Group ID (assigned)",
          "IntExternalKey": "External key (integration)", "ExternalID": "External ID",
          "EMailAddress": "E-mail address", "PhoneNum": "Phone number", "Zip": "Postal code",
          "TermsCode": "Payment terms", "DocUnitPrice": "Unit price", "DocTranAmt": "Amount",
          "DocInvoiceAmt": "Invoice amount", "SellingQuantity": "Quantity", "SalesUM": "Unit of measure",
          "LineDesc": "Line description", "PartNum": "Part number", "OrderComment": "Order comment",
          "CurrencyCode": "Currency", "OrderDate": "Order date", "InvoiceDate": "Invoice date",
          "TranDate": "Transaction date", "CheckRef": "Check / payment reference"}


class DesignerRefused(MappingError):
    """An edit the designer cannot make: the section or field named is not one the mapping may hold."""


def label_of(field: str) -> str:
    if field in LABELS:
        return LABELS[field]
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|_|$)|[A-Z]?[a-z]+|\d+", field.removesuffix("_c"))
    text = " ".join(words) or field
    return text + (" (user-defined)" if field.endswith("_c") else "")


# -- the model of one document mapping ----------------------------------------------------------------
def document_model(flow: str, document: str, mappings_dir: str | Path) -> dict[str, Any]:
    """The current version of ``flow/document`` as the page edits it: text, version, and its sections'
    targets (every column the section may write, the mapped ones with their spec)."""
    current = versions.current(flow, document, mappings_dir)
    data = _loaded(current.text)
    user = shapes.user_fields(mappings_dir)
    return {"flow": flow, "document": document, "version": current.version, "text": current.text,
            "who": current.who, "at": current.at, "comment": current.comment,
            "builders": list(data.get("builders") or []), "sections": sections_of(data, document, user)}


def _loaded(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise DesignerRefused(f"the mapping is not YAML: {exc}", reason="designer.yaml") from None
    return data if isinstance(data, dict) else {}


def sections_of(data: Mapping[str, Any], kind: str,
                user: Mapping[str, Mapping[str, shapes.Target]]) -> list[dict[str, Any]]:
    header_schema, line_schema = DOCUMENT_KINDS.get(kind, ("", None))
    found = []
    for section, default_schema in (("header", header_schema), ("lines", line_schema)):
        raw = data.get(section)
        if not default_schema or (section == "lines" and not isinstance(raw, dict)):
            continue
        raw = raw if isinstance(raw, dict) else {}
        schema = str(raw.get("schema") or default_schema)
        fields = raw["fields"] if isinstance(raw.get("fields"), dict) else {}
        found.append({"section": section, "schema": schema, "table": shapes.table_of(schema),
                      "each": raw.get("each"), "targets": _targets(schema, fields, user)})
    return found


def _targets(schema: str, fields: Mapping[str, Any],
             user: Mapping[str, Mapping[str, shapes.Target]]) -> list[dict[str, Any]]:
    """Mapped fields in the file's order, then the connector-checked and required ones, then the rest."""
    palette = shapes.palette(schema, user)
    checked = set(shapes._epicor_fields()["documents"].get(schema, {}).get("fields", {}))
    order = [*fields, *sorted(set(palette) - set(fields), key=lambda name: (name not in checked, name))]
    return [{"field": name, "label": label_of(name), "type": target.type if target else "unknown",
             "length": target.length if target else None, "required": bool(target and target.required),
             "listed": name in fields or name in checked or bool(target and target.required),
             "spec": _spec_json(fields[name]) if name in fields else None}
            for name in order if (target := palette.get(name)) is not None or name in fields]


def _spec_json(raw: Any) -> Any:
    """A field's spec as JSON (a bare value is a constant, as the loader reads it)."""
    spec = raw if isinstance(raw, dict) else {"const": raw}
    return json.loads(json.dumps(spec, default=str))


def transform_catalogue() -> list[dict[str, Any]]:
    """The registry as the page offers it: name, label, help, output type, typed parameters, examples."""
    return [{"name": t.name, "label": t.label, "help": t.help, "output": t.output,
             "params": [{"name": p.name, "type": p.type.__name__, "help": p.help, "required": p.required,
                         "choices": list(p.choices), "default": p.default} for p in t.params],
             "examples": [{"value": _text(e.value), "params": json.loads(json.dumps(dict(e.params), default=str)),
                           "result": _text(e.result)} for e in t.examples]}
            for t in sorted(TRANSFORMS.values(), key=lambda t: t.label)]


def builder_catalogue() -> list[dict[str, str]]:
    return [{"name": b.name, "label": b.label, "help": b.help} for b in sorted(BUILDERS.values(), key=lambda b: b.name)]


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, (bool, int, str)) else str(value)


# -- source fields and their values ---------------------------------------------------------------------
def source_fields(flow: str, builders: list[str], fetched: Mapping[str, Any] | None,
                  mappings_dir: str | Path) -> list[dict[str, Any]]:
    """Every path a ``from:`` of ``flow`` may read (the declared source shape for these builders), each with
    its type and the value it has in ``fetched`` (an event's stored fetch output) or in the shipped sample."""
    known = tuple(name for name in builders if name in BUILDERS)
    shape = engine._namespace_shape(flow, known)
    scope = _event_scope(flow, fetched, known, mappings_dir) if fetched is not None else None
    listed: list[dict[str, Any]] = []
    for path, kind, sample in shapes.walk(shape):
        if len(listed) >= MAX_SOURCES:
            break
        value, origin = _value_at(scope, path) if scope is not None else (None, "none")
        if origin == "none":
            value, origin = sample, "sample"
        listed.append({"path": path, "type": kind, "value": _shown(value), "origin": origin})
    return listed


def _event_scope(flow: str, fetched: Mapping[str, Any], builders: tuple[str, ...],
                 mappings_dir: str | Path) -> Mapping[str, Any] | None:
    """What ``from:`` reads for this event: its objects (for refunds and disputes the first refund or the
    dispute, as the flow hands each to the engine), ``settings`` and the builders' results."""
    objects = dict(fetched)
    if isinstance(objects.get("refunds"), list) and objects["refunds"] and "refund" not in objects:
        objects["refund"] = objects["refunds"][0]
    try:
        return engine.namespace(objects, engine.site_tables(mappings_dir), builders)
    except Exception:  # noqa: BLE001 - a builder refusing this event leaves its values to the sample
        return {**objects, "settings": engine.settings_of(engine.site_tables(mappings_dir))}


def _value_at(scope: Mapping[str, Any], path: str) -> tuple[Any, str]:
    """The value at a shape path; a list path (``a[].b``) shows its first item's value."""
    value: Any = scope
    for part in path.replace("[]", ".[]").split("."):
        if part == "[]":
            if not isinstance(value, list) or not value:
                return None, "none"
            value = value[0]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None, "none"
    return value, "event"


def _shown(value: Any) -> Any:
    if isinstance(value, (Mapping, list)):
        return None  # its fields are listed on their own
    if isinstance(value, str) and len(value) > MAX_VALUE_TEXT:
        return value[:MAX_VALUE_TEXT] + "…"
    return _text(value)


def check_pair(event_id: str, event: Mapping[str, Any] | None) -> None:
    """Refuse an event of another pair than the one being edited (``pairs.current``)."""
    pair, editing = str((event or {}).get("pair") or pairs.DEFAULT), pairs.current.get()
    if event is not None and pair != editing:
        raise DesignerRefused(f"event {event_id} is of pair {pair}, not {editing}: open the designer for pair {pair}",
                              reason="designer.pair")


def stored_fetch(event_id: str) -> dict[str, Any] | None:
    """An event's stored fetch output (its transform stage's input), or None once it has expired."""
    check_pair(event_id, store.get_event(event_id))
    raw = store.client().get(store.key("stage", event_id, "transform"))
    if not raw:
        return None
    found = json.loads(raw)
    return found if isinstance(found, dict) else None


def event_flow(event_id: str) -> str | None:
    event = store.get_event(event_id)
    return str(event.get("flow") or "") if event else None


def flow_of_directory(directory: str) -> str:
    """The pipeline flow whose events a mapping directory's documents are built for."""
    return TRANSFORM_OF.get(directory, directory)


# -- what an event posted ------------------------------------------------------------------------------
def posted(event_id: str) -> dict[str, Any]:
    """The documents an event's post stage received (as validated; Epicor-assigned keys still their
    placeholders), the keys Epicor assigned, the mapping versions it was built with, and its state."""
    event = store.get_event(event_id)
    if event is None:
        raise MappingError(f"event {event_id} was never received", reason="mapping.unknown")
    check_pair(event_id, event)
    raw = store.client().get(store.key("stage", event_id, "post"))
    documents = [dict(document) for document in _posted(json.loads(raw))] if raw else []
    return {"event_id": event_id, "flow": event.get("flow"), "state": event.get("state"),
            "stage": event.get("stage"), "documents": documents, "stored": raw is not None,
            "keys": event.get("epicor_keys") or {}, "mapping_version": event.get("mapping_version"),
            "error": event.get("last_error")}


# -- editing the text --------------------------------------------------------------------------------------
def set_field(text: str, section: str, field: str, spec: Mapping[str, Any] | None) -> str:
    """``text`` with ``section``'s ``field`` mapped by ``spec`` (None: unmapped), every other line kept."""
    if section not in SECTIONS:
        raise DesignerRefused(f"section must be one of {', '.join(SECTIONS)}", reason="designer.section")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,79}", field):
        raise DesignerRefused("field must be an Epicor field name", reason="designer.field")
    wanted = _loaded(text)
    fields = _fields_of(wanted, section)
    if spec is None:
        fields.pop(field, None)
    else:
        fields[field] = _ordered(spec)
    edited = _edited_text(text, section, field, spec)
    if edited is not None and _same(edited, wanted):
        return edited
    return yaml.safe_dump(wanted, sort_keys=False, allow_unicode=True, width=120)


def _fields_of(data: dict[str, Any], section: str) -> dict[str, Any]:
    raw = data.setdefault(section, {})
    if not isinstance(raw, dict):
        raise DesignerRefused(f"{section} is not a mapping of fields in this file", reason="designer.section")
    fields = raw.setdefault("fields", {})
    if not isinstance(fields, dict):
        raise DesignerRefused(f"{section}.fields is not a mapping in this file", reason="designer.section")
    return fields


def _same(text: str, wanted: Any) -> bool:
    try:
        return bool(yaml.safe_load(text) == wanted)
    except yaml.YAMLError:
        return False


SPEC_ORDER = ("from", "const", "template", "placeholder", "values", "transforms", "default", "required", "omit_if_null")


def _ordered(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The keys in the order the shipped files write them (a client's JSON may have sorted them)."""
    ordered = {key: spec[key] for key in SPEC_ORDER if key in spec} | dict(spec)
    steps = ordered.get("transforms")
    if isinstance(steps, list):
        ordered["transforms"] = [{"name": step["name"], **step} if isinstance(step, dict) and "name" in step else step
                                 for step in steps]
    return ordered


def flow_text(spec: Mapping[str, Any]) -> str:
    """A spec on one line, as the shipped files write it: ``{from: charge.id, transforms: [...]}``."""
    return yaml.safe_dump(_ordered(spec), default_flow_style=True, sort_keys=False, allow_unicode=True,
                          width=100_000).strip()


def _edited_text(text: str, section: str, field: str, spec: Mapping[str, Any] | None) -> str | None:
    """The line-level edit, or None when the layout is not the usual block mapping of one-line fields."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return None
    fields = _node(_node(root, section), "fields")
    if not isinstance(fields, yaml.MappingNode) or fields.flow_style:
        return None
    lines = text.splitlines(keepends=True)
    for key, value in fields.value:
        if key.value == field:
            return _replace(lines, key, value, spec)
    return _insert(lines, fields, field, spec) if spec is not None else text


def _node(node: Any, name: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for key, value in node.value if key.value == name), None)


def _replace(lines: list[str], key: yaml.Node, value: yaml.Node, spec: Mapping[str, Any] | None) -> str:
    first = key.start_mark.line
    last = value.end_mark.line if value.end_mark.column > 0 else value.end_mark.line - 1
    last = max(first, last)
    indent = " " * key.start_mark.column
    replacement = [] if spec is None else [f"{indent}{key.value}: {flow_text(spec)}\n"]
    tail = lines[last][value.end_mark.column:] if last == value.end_mark.line else ""
    comment = tail.strip() if tail.strip().startswith("#") else ""
    if replacement and comment:
        replacement = [replacement[0].rstrip("\n") + "  " + comment + "\n"]
    return "".join(lines[:first] + replacement + lines[last + 1:])


def _insert(lines: list[str], fields: yaml.MappingNode, field: str, spec: Mapping[str, Any]) -> str | None:
    if not fields.value:
        return None
    last_key, last_value = fields.value[-1]
    after = last_value.end_mark.line if last_value.end_mark.column > 0 else last_value.end_mark.line - 1
    indent = " " * last_key.start_mark.column
    if after >= len(lines):
        lines = [*lines[:-1], lines[-1].rstrip("\n") + "\n"] if lines else []
    if lines and not lines[min(after, len(lines) - 1)].endswith("\n"):
        lines[after] = lines[after] + "\n"
    return "".join(lines[:after + 1] + [f"{indent}{field}: {flow_text(spec)}\n"] + lines[after + 1:])


def draft_diff(flow: str, document: str, text: str, mappings_dir: str | Path) -> dict[str, Any]:
    """The draft against the live version: its unified diff, the live version's number and its problems."""
    live = versions.current(flow, document, mappings_dir)
    return {"version": live.version, "diff": versions.diff(live, text), "changed": text != live.text,
            "problems": [str(problem) for problem in versions.problems_of(flow, document, text, mappings_dir)]}
