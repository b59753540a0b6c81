"""Field mappings as data: load, validate and evaluate ``mappings/documents/<flow>/<document>.yaml``.

Policy: which Stripe value lands in which Epicor field is data a site changes without a developer, so a
file is checked completely when it is loaded and a bad one never reaches a payment. Every problem names
the file, the LINE and the field (``ar_invoice.yaml:14: header.Description: truncate length 40 is more
than the 30 characters Epicor's InvcHead.Description holds``): an unknown transform or parameter, a path
that is not in the flow's declared source shape (``shapes``), a target field Epicor does not have (or a
``_c`` field the site has not declared), a value type or length the target cannot hold, a required field
left unmapped. Line numbers come from YAML's own node marks (``yaml.compose``).

A file maps each target field from exactly one source, then through named transforms (``transforms``):

* ``from: <JMESPath>`` over the flow's fetched objects, ``settings`` (defaults.yaml) and the results of the
  builders the file lists (``builders``: the logic that is algorithm, not assignment);
* ``const: <value>``; ``template: "Stripe $id"`` with ``values: {id: <JMESPath>}`` (``string.Template``);
* ``placeholder: CustNum``: a key Epicor assigns, filled in by post (``tasks.documents``).

then ``transforms: [{name: ..., <param>: ...}]`` (a parameter is a literal or ``{from: <JMESPath>}``),
``default:`` (when the result is null or blank), ``required: true`` (a blank result is an error naming the
field) and ``omit_if_null: true`` (no key at all when null). Nothing is evaluated but JMESPath and the
registry: no ``eval``, no attribute access.

A site's copy under ``MAPPINGS_DIR`` (same layout) overrides a shipped file, one file at a time; a version
published from the console (``tasks.mapping.versions``, through ``published_source``) overrides both.
``build_documents`` is pure: fetched objects and mapping files in, ``tasks.documents.Document`` list out.
"""

from __future__ import annotations

import difflib
import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jmespath
import yaml
from jmespath.exceptions import JMESPathError

import tasks.mapping.builders  # noqa: F401 - registers the builders a file may call
from tasks.documents import ASSIGNED_KEYS, DOCUMENT_KINDS, Document, document, placeholder
from tasks.errors import MappingError
from tasks.mapping import shapes
from tasks.mapping.shapes import Shape, Target
from tasks.mapping.tables import FILES, Mappings, load_mappings
from tasks.mapping.transforms import BUILDERS, TRANSFORMS, Transform

TOP_KEYS = frozenset({"kind", "builders", "currency", "reference", "header", "lines"})
SECTION_KEYS = frozenset({"schema", "each", "fields"})
SOURCES = ("from", "const", "template", "placeholder")
FIELD_KEYS = frozenset({*SOURCES, "values", "transforms", "default", "required", "omit_if_null"})
# Which value types each Epicor type accepts (numbers travel as exact decimal text, typed "decimal").
ACCEPTS = {"string": {"text", "any"}, "date": {"date", "text", "any"}, "number": {"decimal", "integer", "any"},
           "integer": {"integer", "any"}, "boolean": {"boolean", "any"}}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a mapping file, where a person can find it."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class MappingFileError(MappingError):
    """A mapping file that is refused; ``problems`` lists every error found, not only the first."""

    reason = "mapping.config"

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(problem) for problem in problems), reason="mapping.config")
        self.problems = problems


# --- compiled specification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    transform: Transform
    params: Mapping[str, Any]  # literal values, or jmespath expressions for ``{from: …}``


@dataclass(frozen=True)
class FieldSpec:
    name: str
    line: int
    source: str
    expression: Any = None
    value: Any = None
    values: Mapping[str, Any] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    default: Any = None
    required: bool = False
    omit_if_null: bool = False


@dataclass(frozen=True)
class Section:
    schema: str
    each: Any
    fields: tuple[FieldSpec, ...]


@dataclass(frozen=True)
class DocumentSpec:
    path: str
    kind: str
    builders: tuple[str, ...]
    currency: FieldSpec | None
    reference: tuple[FieldSpec, ...]
    header: Section
    lines: Section | None


# --- YAML with line numbers ------------------------------------------------------------------------


def _mark_lines(node: yaml.Node, lines: dict[tuple[str, ...], int], path: tuple[str, ...] = ()) -> None:
    """Record the 1-based line of every mapping key and list item, by its path of keys."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            lines[path + (str(key_node.value),)] = key_node.start_mark.line + 1
            _mark_lines(value_node, lines, path + (str(key_node.value),))
    elif isinstance(node, yaml.SequenceNode):
        for number, item in enumerate(node.value):
            _mark_lines(item, lines, path + (str(number),))


def read_yaml(path: Path) -> tuple[Any, dict[tuple[str, ...], int]]:
    """The file's data and the line of each key; a syntax error names its own line."""
    return parse_yaml(path.read_text(encoding="utf-8"), path)


def parse_yaml(text: str, path: Path) -> tuple[Any, dict[tuple[str, ...], int]]:
    """``text``'s data and the line of each key; errors name ``path`` (a file, or a published version's label)."""
    lines: dict[tuple[str, ...], int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise MappingFileError([Problem(str(path), (mark.line + 1) if mark else 1, "(file)",
                                        f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if node is not None:
        _mark_lines(node, lines)
    return data, lines


# --- loading and validating ------------------------------------------------------------------------


@dataclass
class Loader:
    """Checks one file and compiles it; ``problems`` collects every error with its line."""

    path: Path
    flow: str
    lines: dict[tuple[str, ...], int]
    user_fields: Mapping[str, Mapping[str, Target]]
    problems: list[Problem] = field(default_factory=list)

    def problem(self, where: tuple[str, ...], message: str) -> None:
        line = next((self.lines[where[:size]] for size in range(len(where), -1, -1) if where[:size] in self.lines), 1)
        name = ".".join(part for part in where if part != "fields") or "(file)"
        self.problems.append(Problem(str(self.path), line, name, message))

    def spec(self, raw: Any) -> DocumentSpec | None:
        if not isinstance(raw, dict):
            self.problem((), "a document mapping is a YAML mapping with kind, header and optionally lines")
            return None
        for key in sorted(set(raw) - TOP_KEYS):
            self.problem((key,), f"unknown key (expected one of {', '.join(sorted(TOP_KEYS))})")
        kind = self.kind(raw.get("kind"))
        builders = self.builders(raw.get("builders") or [])
        root = _namespace_shape(self.flow, builders)
        header_schema, line_schema = DOCUMENT_KINDS.get(kind, ("", None))
        header = self.section(raw.get("header"), ("header",), header_schema, root)
        lines = self.section(raw["lines"], ("lines",), line_schema or "", root) if raw.get("lines") else None
        currency = self.field_spec(raw["currency"], ("currency",), root, None) if "currency" in raw else None
        reference = tuple(spec for name, value in (raw.get("reference") or {}).items()
                          if (spec := self.field_spec(value, ("reference", name), root, None)))
        if header is None or self.problems:
            return None
        return DocumentSpec(str(self.path), kind, builders, currency, reference, header, lines)

    def kind(self, kind: Any) -> str:
        if kind != self.path.stem or kind not in DOCUMENT_KINDS:
            self.problem(("kind",), f"must be the file's own name, one of the document kinds "
                                    f"({', '.join(DOCUMENT_KINDS)}), got {kind!r}")
        return str(kind)

    def builders(self, names: Any) -> tuple[str, ...]:
        if not isinstance(names, list):
            self.problem(("builders",), "must be a list of builder names")
            return ()
        for number, name in enumerate(names):
            if name not in BUILDERS:
                self.problem(("builders", str(number)), f"unknown builder {name!r} "
                                                        f"(known: {', '.join(sorted(BUILDERS))})")
        return tuple(name for name in names if name in BUILDERS)

    def section(self, raw: Any, where: tuple[str, ...], default_schema: str, root: Shape) -> Section | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("fields"), dict):
            self.problem(where, "needs 'fields:', a mapping of Epicor field names to their sources")
            return None
        for key in sorted(set(raw) - SECTION_KEYS):
            self.problem(where + (key,), f"unknown key (expected one of {', '.join(sorted(SECTION_KEYS))})")
        schema = str(raw.get("schema") or default_schema)
        try:
            targets = shapes.palette(schema, self.user_fields)
        except MappingError as exc:
            self.problem(where + ("schema",), exc.message)
            return None
        scope, each = root, None
        if raw.get("each"):
            each, items = self.expression(raw["each"], where + ("each",), root)
            scope = _line_scope(root, items)
        fields = tuple(spec for name, value in raw["fields"].items()
                       if (spec := self.target_field(name, value, where + ("fields", name), scope, targets, schema)))
        for target in targets.values():
            if target.required and target.name not in raw["fields"]:
                self.problem(where, f"required field {target.name} of {shapes.table_of(schema)} is not mapped")
        return Section(schema, each, fields)

    def target_field(self, name: str, raw: Any, where: tuple[str, ...], scope: Shape,
                     targets: Mapping[str, Target], schema: str) -> FieldSpec | None:
        target = targets.get(name)
        if target is None:
            table = shapes.table_of(schema)
            hint = " (a user-defined field must be declared in documents/user_fields.yaml)" if name.endswith("_c") \
                else _suggestion(name, targets)
            self.problem(where, f"{table} has no field {name}{hint}")
            return None
        spec = self.field_spec(raw, where, scope, target)
        return spec

    def field_spec(self, raw: Any, where: tuple[str, ...], scope: Shape, target: Target | None) -> FieldSpec | None:
        if not isinstance(raw, dict):
            raw = {"const": raw}  # a bare value is a constant
        for key in sorted(set(raw) - FIELD_KEYS):
            self.problem(where + (key,), f"unknown key (expected one of {', '.join(sorted(FIELD_KEYS))})")
        sources = [key for key in SOURCES if key in raw]
        if len(sources) != 1:
            self.problem(where, f"needs exactly one source: {', '.join(SOURCES)}")
            return None
        source = sources[0]
        spec, kind = self.source(source, raw, where, scope)
        steps = self.steps(raw.get("transforms") or [], where + ("transforms",), scope)
        kind = next((step.transform.output for step in reversed(steps) if step.transform.output != "any"), kind)
        if target is not None:
            self.check_target(target, kind, raw, steps, where)
        return FieldSpec(name=where[-1], line=self.lines.get(where, 1), source=source, steps=steps,
                         default=raw.get("default"), required=bool(raw.get("required")),
                         omit_if_null=bool(raw.get("omit_if_null")), **spec)

    def source(self, source: str, raw: Mapping[str, Any], where: tuple[str, ...],
               scope: Shape) -> tuple[dict[str, Any], str]:
        if source == "from":
            expression, result = self.expression(raw["from"], where + ("from",), scope)
            return {"expression": expression}, _type_of(result)
        if source == "const":
            return {"value": raw["const"]}, shapes.value_type(raw["const"])
        if source == "placeholder":
            if raw["placeholder"] not in ASSIGNED_KEYS:
                self.problem(where + ("placeholder",), f"{raw['placeholder']!r} is not a key Epicor assigns "
                                                       f"({', '.join(ASSIGNED_KEYS)})")
                return {"value": None}, "any"
            return {"value": placeholder(raw["placeholder"])}, "text" if raw["placeholder"] == "GroupID" else "integer"
        return self.template(raw, where, scope), "text"

    def template(self, raw: Mapping[str, Any], where: tuple[str, ...], scope: Shape) -> dict[str, Any]:
        text, values = raw["template"], raw.get("values") or {}
        compiled = string.Template(str(text))
        unknown = sorted(set(compiled.get_identifiers()) - set(values))
        if not compiled.is_valid() or unknown:
            self.problem(where + ("template",), f"every $name needs an entry under values: (missing {unknown})")
        expressions = {name: self.expression(expr, where + ("values", name), scope)[0] for name, expr in values.items()}
        return {"value": str(text), "values": expressions}

    def expression(self, text: Any, where: tuple[str, ...], scope: Shape) -> tuple[Any, list[tuple[str, Shape]]]:
        try:
            compiled = compile_path(str(text))
        except JMESPathError as exc:
            self.problem(where, f"not a JMESPath expression: {exc}")
            return None, []
        missing: list[str] = []
        result = _resolve(compiled.parsed, [("", scope)], missing)
        for path in dict.fromkeys(missing):
            self.problem(where, f"'{path}' is not in the {self.flow} source{_path_suggestion(path, scope)}")
        return compiled, result

    def steps(self, raw: Any, where: tuple[str, ...], scope: Shape) -> tuple[Step, ...]:
        if not isinstance(raw, list):
            self.problem(where, "must be a list of {name: <transform>, <param>: <value>}")
            return ()
        return tuple(step for number, item in enumerate(raw)
                     if (step := self.step(item, where + (str(number),), scope)))

    def step(self, raw: Any, where: tuple[str, ...], scope: Shape) -> Step | None:
        name = raw.get("name") if isinstance(raw, dict) else raw
        found = TRANSFORMS.get(str(name))
        if found is None:
            self.problem(where, f"unknown transform {name!r}{_suggestion(str(name), TRANSFORMS)}")
            return None
        given = {key: value for key, value in raw.items() if key != "name"} if isinstance(raw, dict) else {}
        params = {key: self.param(found, key, value, where + (key,), scope) for key, value in given.items()}
        for param in found.params:
            if param.required and param.name not in given:
                self.problem(where, f"transform {found.name} needs parameter {param.name} ({param.help})")
        return Step(found, params)

    def param(self, found: Transform, key: str, value: Any, where: tuple[str, ...], scope: Shape) -> Any:
        param = found.param(key)
        if param is None:
            names = ", ".join(param.name for param in found.params) or "none"
            self.problem(where, f"transform {found.name} has no parameter {key} (its parameters: {names})")
            return None
        if isinstance(value, dict) and set(value) == {"from"}:
            return self.expression(value["from"], where + ("from",), scope)[0]
        if param.type is not object and not isinstance(value, param.type) or isinstance(value, bool) \
                and param.type is not bool:
            self.problem(where, f"must be {param.type.__name__} ({param.help}), got {value!r}")
        elif param.choices and value not in param.choices:
            self.problem(where, f"must be one of {', '.join(param.choices)}, got {value!r}")
        return value

    def check_target(self, target: Target, kind: str, raw: Mapping[str, Any], steps: tuple[Step, ...],
                     where: tuple[str, ...]) -> None:
        if kind not in ACCEPTS.get(target.type, {"any"}) and kind != "null":
            self.problem(where, f"a value of type {kind} cannot go into {target.name}, an Epicor {target.type} field")
        if target.length is None:
            return
        const = raw.get("const")
        if isinstance(const, str) and len(const) > target.length:
            self.problem(where, f"'{const}' is {len(const)} characters; {target.name} holds {target.length}")
        for number, step in enumerate(raw.get("transforms") or []):
            length = step.get("length") if isinstance(step, dict) and step.get("name") == "truncate" else None
            if isinstance(length, int) and length > target.length:
                self.problem(where + ("transforms", str(number), "length"),
                             f"truncate length {length} is more than the {target.length} characters "
                             f"{target.name} holds")


def _suggestion(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _path_suggestion(path: str, scope: Shape) -> str:
    known = [name for name, _, _ in shapes.walk(scope)]
    close = difflib.get_close_matches(path, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _type_of(result: list[tuple[str, Shape]]) -> str:
    kinds = {shape.type for _, shape in result}
    if len(kinds) != 1:
        return "any"
    kind = kinds.pop()
    return "any" if kind == "null" else kind


def _items(found: list[tuple[str, Shape]]) -> list[tuple[str, Shape]]:
    return [(f"{path}[]", shape.items if shape.items is not None else Shape("any"))
            for path, shape in found if shape.items is not None or shape.type == "any"]


def _resolve(node: Mapping[str, Any], scope: list[tuple[str, Shape]], missing: list[str]) -> list[tuple[str, Shape]]:
    """Where an expression's AST reads in the shape; paths that do not exist go to ``missing``."""
    kind, children = node["type"], node.get("children") or []
    if kind == "field":
        return _field(node["value"], scope, missing)
    if kind in ("subexpression", "pipe"):
        for child in children:
            scope = _resolve(child, scope, missing)
        return scope
    if kind in ("index_expression", "flatten"):
        return _items(_resolve(children[0], scope, missing))
    if kind in ("projection", "filter_projection"):
        left = _resolve(children[0], scope, missing)
        elements = left if children[0]["type"] == "flatten" else _items(left)
        if kind == "filter_projection":
            _resolve(children[2], elements, missing)
        right = _resolve(children[1], elements, missing)
        return [(path, Shape("list", items=shape)) for path, shape in right]
    if kind in ("current", "identity"):
        return scope
    if kind == "literal":
        return [("", Shape(shapes.value_type(node["value"]), node["value"]))]
    if kind == "or_expression":
        return [found for child in children for found in _resolve(child, scope, missing)]
    for child in children:
        _resolve(child, scope, missing)
    return [("", Shape("any"))]


def _field(name: str, scope: list[tuple[str, Shape]], missing: list[str]) -> list[tuple[str, Shape]]:
    found = []
    for path, shape in scope:
        here = f"{path}.{name}" if path else name
        child = Shape("any") if shape.type == "any" else shape.child(name)
        if child is None:
            missing.append(here)
        else:
            found.append((here, child))
    return found


def _line_scope(root: Shape, items: list[tuple[str, Shape]]) -> Shape:
    """Inside ``lines`` with ``each``: the flow's namespace plus ``line``, one item of the list."""
    line = Shape("any")
    if len(items) == 1 and items[0][1].items is not None:
        line = items[0][1].items or line
    return Shape("object", fields={**root.fields, "line": line})


# --- namespace: fetched objects, settings, builders ------------------------------------------------


def settings_of(tables: Mappings) -> dict[str, Any]:
    """The company defaults a file may read as ``settings.<name>``."""
    return {"bank_account": tables.bank_account, "terms_code": tables.terms_code, "timezone": tables.timezone,
            "catch_all_cust_id": tables.catch_all_cust_id, "catch_all_name": tables.catch_all_name,
            "invoice_group_prefix": tables.invoice_group_prefix, "cash_group_prefix": tables.cash_group_prefix,
            "default_part": tables.default_part, "sales_um": tables.sales_um, "reason_type": tables.reason_type}


def namespace(fetched: Mapping[str, Any], tables: Mappings, builders: tuple[str, ...]) -> dict[str, Any]:
    """What ``from:`` reads: the fetched objects, ``settings`` and each builder's result under its name."""
    scope = {**fetched, "settings": settings_of(tables)}
    return scope | {name: BUILDERS[name].function(fetched, tables) for name in builders}


@lru_cache(maxsize=64)
def _namespace_shape(flow: str, builders: tuple[str, ...]) -> Shape:
    """The declared source shape of ``flow`` for a file that calls ``builders`` (run on the samples)."""
    tables = shipped_tables()
    return shapes.source_shape([namespace(sample, tables, builders) for sample in shapes.sample_objects(flow)])


@lru_cache(maxsize=1)
def shipped_tables() -> Mappings:
    return load_mappings(shapes.SHIPPED_DIR)


# --- files -----------------------------------------------------------------------------------------


def document_path(flow: str, name: str, mappings_dir: str | Path) -> Path:
    """The site's copy under ``mappings_dir`` when it has one, else the shipped file."""
    site = Path(mappings_dir) / "documents" / flow / f"{name}.yaml"
    return site if site.is_file() else shapes.SHIPPED_DIR / "documents" / flow / f"{name}.yaml"


def _stamp(path: Path | str) -> tuple[str, int, int]:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return str(path), 0, -1
    return str(path), stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=256)
def _candidates(flow: str, name: str, mappings_dir: str) -> tuple[str, str, str]:
    """(site file, shipped file, site user fields) as plain strings: this runs for every document of
    every event, and a stat of a string costs a fraction of building the Path objects each time."""
    relative = os.path.join("documents", flow, f"{name}.yaml")
    return (os.path.join(mappings_dir, relative), str(shapes.SHIPPED_DIR / relative),
            os.path.join(mappings_dir, "documents", shapes.USER_FIELDS_FILE))


def load_document(flow: str, name: str, mappings_dir: str | Path) -> DocumentSpec:
    """One document's mapping, validated (cached until the file or the site's user fields change: two
    stats per document and event, so an edited file is used by the next event, with no restart)."""
    site, shipped, user_file = _candidates(flow, name, str(mappings_dir))
    stamp = _stamp(site)
    if stamp[2] < 0:
        stamp = _stamp(shipped)
    return _load_cached(flow, stamp, str(mappings_dir), _stamp(user_file))


@lru_cache(maxsize=256)
def _load_cached(flow: str, stamp: tuple[str, int, int], mappings_dir: str, _: tuple[str, int, int]) -> DocumentSpec:
    path = Path(stamp[0])
    if stamp[2] < 0:
        raise MappingFileError([Problem(str(path), 1, "(file)", "mapping file is missing")])
    raw, lines = read_yaml(path)
    loader = Loader(path, flow, lines, shapes.user_fields(mappings_dir))
    spec = loader.spec(raw)
    if spec is None:
        raise MappingFileError(loader.problems)
    return spec


# --- published versions ----------------------------------------------------------------------------
# A document mapping published from the console (``tasks.mapping.versions``) overrides its file on every
# host at once, so it lives in Redis, not on disk. The engine itself reads no Redis: a worker installs
# ``published_source`` (flow -> {document: YAML text}) at start; without one the files are all there is.
PublishedSource = Callable[[str], Mapping[str, str]]
published_source: PublishedSource | None = None


def version_label(flow: str, name: str) -> Path:
    """How errors name a mapping that is text rather than a file (a draft or a published version)."""
    return Path("documents") / flow / f"{name}.yaml"


def load_text(flow: str, name: str, text: str, mappings_dir: str | Path) -> DocumentSpec:
    """A document mapping given as YAML text, validated as a file is (cached on the text itself)."""
    user_file = Path(mappings_dir) / "documents" / shapes.USER_FIELDS_FILE
    return _text_cached(flow, name, text, str(mappings_dir), _stamp(user_file))


@lru_cache(maxsize=64)
def _text_cached(flow: str, name: str, text: str, mappings_dir: str, _: tuple[str, int, int]) -> DocumentSpec:
    path = version_label(flow, name)
    raw, lines = parse_yaml(text, path)
    loader = Loader(path, flow, lines, shapes.user_fields(mappings_dir))
    spec = loader.spec(raw)
    if spec is None:
        raise MappingFileError(loader.problems)
    return spec


def _override(flow: str, name: str, texts: Mapping[str, str], mappings_dir: str | Path) -> DocumentSpec:
    text = texts.get(name)
    return load_text(flow, name, text, mappings_dir) if text is not None else load_document(flow, name, mappings_dir)


def load_flow(flow: str, mappings_dir: str | Path, texts: Mapping[str, str] | None = None) -> list[DocumentSpec]:
    """Every document mapping of ``flow``, in posting order; all their problems raised together. ``texts``
    (document -> YAML) override the files; by default the published versions do (``published_source``)."""
    if flow not in shapes.FLOW_DOCUMENTS:
        raise MappingError(f"flow {flow!r} has no document mappings", reason="mapping.config")
    if texts is None:
        texts = published_source(flow) if published_source is not None else {}
    specs, problems = [], []
    for name in shapes.FLOW_DOCUMENTS[flow]:
        try:
            specs.append(_override(flow, name, texts, mappings_dir))
        except MappingFileError as exc:
            problems.extend(exc.problems)
    if problems:
        raise MappingFileError(problems)
    return specs


def check_directory(mappings_dir: str | Path) -> list[Problem]:
    """Every problem of every document mapping a worker on ``mappings_dir`` would load, plus files there
    that no flow reads (a misnamed site copy would otherwise be ignored in silence)."""
    problems: list[Problem] = []
    for flow in shapes.FLOW_DOCUMENTS:
        try:
            load_flow(flow, mappings_dir, texts={})  # the files only: what is on disk is what is checked
        except MappingFileError as exc:
            problems.extend(exc.problems)
    try:
        shapes.user_fields(mappings_dir)
    except MappingError as exc:
        problems.append(Problem(str(Path(mappings_dir) / "documents" / shapes.USER_FIELDS_FILE), 1, "(file)",
                                exc.message))
    return problems + _strays(Path(mappings_dir) / "documents")


def _strays(documents_dir: Path) -> list[Problem]:
    if not documents_dir.is_dir():
        return []
    found = []
    for path in sorted(documents_dir.glob("*/*.yaml")):
        if path.stem not in shapes.FLOW_DOCUMENTS.get(path.parent.name, ()):
            known = ", ".join(shapes.FLOW_DOCUMENTS.get(path.parent.name, ())) or "no flow of that name"
            found.append(Problem(str(path), 1, "(file)", f"no flow reads this file (expected: {known})"))
    return found


# --- evaluating ------------------------------------------------------------------------------------
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class DottedPath:
    """A JMESPath expression made only of field names joined by dots (``charge.currency``), which most
    fields are: evaluated by walking the objects, as JMESPath does for such a path (a missing key or a
    value that is not an object gives None), without its interpreter, which cost most of a transform."""

    __slots__ = ("expression", "parsed", "names")

    def __init__(self, compiled: Any) -> None:
        self.expression, self.parsed = compiled.expression, compiled.parsed
        self.names = tuple(compiled.expression.split("."))

    def search(self, value: Any) -> Any:
        for name in self.names:
            try:
                value = value.get(name)
            except AttributeError:
                return None
        return value


def compile_path(text: str) -> Any:
    """A compiled JMESPath expression (raises JMESPathError), as a ``DottedPath`` when it is one."""
    compiled = jmespath.compile(text)
    return DottedPath(compiled) if _DOTTED.fullmatch(text) else compiled



def _search(expression: Any, scope: Mapping[str, Any]) -> Any:
    return expression.search(scope) if expression is not None else None


def _raw_value(spec: FieldSpec, scope: Mapping[str, Any]) -> Any:
    if spec.source == "from":
        return _search(spec.expression, scope)
    if spec.source == "template":
        values = {name: "" if (found := _search(expr, scope)) is None else str(found)
                  for name, expr in spec.values.items()}
        return string.Template(spec.value).safe_substitute(values)
    return spec.value


def _params(step: Step, scope: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _search(value, scope) if hasattr(value, "search") else value for key, value in step.params.items()}


def evaluate(spec: FieldSpec, scope: Mapping[str, Any], tables: Mappings, path: str) -> Any:
    """One field's value: source, transforms, default; a required blank names file and field."""
    value = _raw_value(spec, scope)
    try:
        for step in spec.steps:
            value = step.transform(value, _params(step, scope), tables)
    except MappingError as exc:
        raise MappingError(f"{path}:{spec.line}: {spec.name}: {exc.message}", reason=exc.reason) from None
    if (value is None or value == "") and spec.default is not None:
        value = spec.default
    if spec.required and (value is None or value == ""):
        raise MappingError(f"{path}:{spec.line}: {spec.name}: is required but the source gave nothing",
                           reason="mapping.required")
    return _json_ready(value)


def _json_ready(value: Any) -> Any:
    """Documents are JSON: a Decimal a file left unformatted travels as exact text."""
    if isinstance(value, Decimal):
        return f"{value:f}"
    return value


def _fields(specs: tuple[FieldSpec, ...], scope: Mapping[str, Any], tables: Mappings, path: str) -> dict[str, Any]:
    values = {spec.name: evaluate(spec, scope, tables, path) for spec in specs}
    omitted = {spec.name for spec in specs if spec.omit_if_null and values[spec.name] is None}
    return {name: value for name, value in values.items() if name not in omitted}


def _lines(section: Section, scope: Mapping[str, Any], tables: Mappings, path: str) -> list[dict[str, Any]]:
    if section.each is None:
        return [_fields(section.fields, scope, tables, path)]
    items = _search(section.each, scope) or []
    return [_fields(section.fields, {**scope, "line": item}, tables, path) for item in items]


def build_document(spec: DocumentSpec, fetched: Mapping[str, Any], tables: Mappings,
                   scope: Mapping[str, Any] | None = None) -> Document:
    """One document; ``scope`` is the event's namespace when the caller built it already (once per event)."""
    scope = scope if scope is not None else namespace(fetched, tables, spec.builders)
    currency = evaluate(spec.currency, scope, tables, spec.path) if spec.currency else None
    return document(spec.kind, _fields(spec.header.fields, scope, tables, spec.path),
                    _lines(spec.lines, scope, tables, spec.path) if spec.lines else (),
                    reference=_fields(spec.reference, scope, tables, spec.path), currency=currency)


def site_tables(mappings_dir: str | Path) -> Mappings:
    """The site's tables (cached until one of the table files changes)."""
    directory = Path(mappings_dir)
    return _tables_cached(str(directory), tuple(_stamp(directory / name) for name in FILES))


@lru_cache(maxsize=16)
def _tables_cached(directory: str, _: tuple[tuple[str, int, int], ...]) -> Mappings:
    return load_mappings(directory)


def build_documents(flow: str, fetched: Mapping[str, Any], mappings_dir: str | Path,
                    tables: Mappings | None = None, texts: Mapping[str, str] | None = None) -> list[Document]:
    """Every Epicor document of one event of ``flow``, in posting order, from the mapping files (or the
    published versions, or ``texts``: a preview's drafts)."""
    tables = tables or site_tables(mappings_dir)
    specs = load_flow(flow, mappings_dir, texts)
    # Each builder runs once per event, whatever the number of documents that read it.
    scope = namespace(fetched, tables, tuple(dict.fromkeys(name for spec in specs for name in spec.builders)))
    return [build_document(spec, fetched, tables, scope) for spec in specs]
