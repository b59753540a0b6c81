"""The resource part of a REST URL and the OData query options applied to a set.

Resource: ``Set``, ``Set(keys)`` or ``Set(keys)/ChildSet``. Keys are positional with Company first
(``Customers('EPIC06',214)``) or named (``Customers(Company='EPIC06',CustNum=214)``); a wrong count
or a literal of the wrong type is a 400 ``ODataException``.

Query options: ``$filter``, ``$select``, ``$orderby``, ``$top``, ``$skip``, ``$count`` (v2) and
``$inlinecount`` (v1). Without ``$orderby`` rows come in key order. No paging cap and never a
``nextLink``: the caller pages with ``$top``/``$skip``. Any other ``$`` option (``$expand`` included)
is a 400, so a client cannot believe the emulator honoured something it ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import odata_error
from .filters import compile_filter, unknown_property
from .lexer import Token, TokenStream
from .schema import COLUMNS, EntitySet

_BOOLEANS = {"true": True, "false": False}
_OPTIONS = {"$filter", "$select", "$orderby", "$top", "$skip", "$count", "$inlinecount", "$format"}


@dataclass(frozen=True)
class ResourcePath:
    """A parsed resource segment."""

    set_name: str
    key_values: tuple = ()
    key_names: tuple = ()
    child: str | None = None

    @property
    def has_key(self) -> bool:
        """Whether the path addresses one row (or that row's children)."""
        return bool(self.key_values)


def leading_name(resource: str) -> str:
    """The entity set (or method) name a resource starts with, for statistics."""
    match = re.match(r"[^(/]*", resource)
    return match.group() if match and match.group() else resource


def parse_resource(resource: str) -> ResourcePath:
    """``Set``, ``Set(keys)`` or ``Set(keys)/Child`` into its parts."""
    stream = TokenStream(resource)
    name = stream.next()
    if name.kind != "name":
        raise stream.error("Expected an entity set name")
    values, names = (), ()
    if stream.accept("punct", "("):
        values, names = _key_list(stream)
    child = None
    if stream.accept("punct", "/"):
        child_token = stream.next()
        if child_token.kind != "name" or not values:
            raise stream.error("Expected a navigation property after a key")
        child = child_token.value
    if not stream.at_end():
        raise stream.error("Unexpected token")
    return ResourcePath(name.value, values, names, child)


def _key_list(stream: TokenStream) -> tuple[tuple, tuple]:
    values, names = [], []
    while True:
        key_name = None
        token = stream.next()
        if token.kind == "name" and stream.accept("punct", "="):
            key_name, token = token.value, stream.next()
        if token.kind == "name" and token.value in _BOOLEANS:  # Voided in BankTrans('EPIC06','MAIN',3,false)
            token = Token("bool", _BOOLEANS[token.value], token.text)
        if token.kind not in ("str", "num", "bool"):
            raise stream.error(f"Expected a key value, found '{token.text}'")
        values.append(token.value)
        names.append(key_name)
        if stream.accept("punct", ")"):
            return tuple(values), tuple(names)
        stream.expect("punct", ",")


def resolve_key(entity_set: EntitySet, path: ResourcePath) -> tuple:
    """The key tuple the path names, checked against the set's key columns and types."""
    if len(path.key_values) != len(entity_set.keys):
        raise odata_error(
            "The number of keys specified in the URI does not match number of key properties "
            f"for the resource '{entity_set.row_type}'.")
    by_name = _named_keys(entity_set, path)
    columns = COLUMNS[entity_set.table]
    return tuple(_key_value(name, by_name[name], columns[name]) for name in entity_set.keys)


def _named_keys(entity_set: EntitySet, path: ResourcePath) -> dict[str, Any]:
    if not any(path.key_names):
        return dict(zip(entity_set.keys, path.key_values))
    if set(path.key_names) != set(entity_set.keys):
        raise odata_error(f"The key names do not match the keys of '{entity_set.row_type}'.")
    return dict(zip(path.key_names, path.key_values))


def _key_value(name: str, value: Any, kind: str) -> Any:
    fits = {"str": isinstance(value, str), "bool": isinstance(value, bool)}.get(
        kind, isinstance(value, int) and not isinstance(value, bool))
    if not fits:
        raise odata_error(f"The key value '{value}' is not valid for property '{name}'.")
    return value


@dataclass
class QueryOptions:
    """Parsed query options for one list request."""

    predicate: Any = None
    select: list[str] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)
    top: int | None = None
    skip: int = 0
    count: bool = False


def parse_options(args: dict[str, str], entity_set: EntitySet) -> QueryOptions:
    """Validate and parse the ``$`` options of a list request."""
    unknown = [name for name in args if name.startswith("$") and name not in _OPTIONS]
    if unknown:
        raise odata_error(f"The query parameter '{unknown[0]}' is not supported.")
    columns = COLUMNS[entity_set.table]
    options = QueryOptions()
    if args.get("$filter") is not None:
        options.predicate = compile_filter(args["$filter"], columns, entity_set.row_type)
    options.select = _field_list(args.get("$select"), entity_set)
    options.order = _order_list(args.get("$orderby"), entity_set)
    options.top = _count_option(args, "$top")
    options.skip = _count_option(args, "$skip") or 0
    options.count = args.get("$count") == "true" or args.get("$inlinecount") == "allpages"
    return options


def _field_list(text: str | None, entity_set: EntitySet) -> list[str]:
    if text is None:
        return []
    names = [name.strip() for name in text.split(",")]
    for name in names:
        if name not in COLUMNS[entity_set.table]:
            raise unknown_property(name, entity_set.row_type)
    return names


def _order_list(text: str | None, entity_set: EntitySet) -> list[tuple[str, bool]]:
    order = []
    for item in (text.split(",") if text else []):
        parts = item.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
            raise odata_error(f"Syntax error in $orderby '{text}'.")
        if parts[0] not in COLUMNS[entity_set.table]:
            raise unknown_property(parts[0], entity_set.row_type)
        order.append((parts[0], len(parts) == 2 and parts[1] == "desc"))
    return order


def _count_option(args: dict[str, str], name: str) -> int | None:
    text = args.get(name)
    if text is None:
        return None
    if not re.fullmatch(r"\d+", text.strip()):
        raise odata_error(f"Invalid value '{text}' for {name} query option found.")
    return int(text)


def apply_options(rows: list[dict], options: QueryOptions) -> tuple[list[dict], int]:
    """Filter, order, page and project ``rows``; also returns the count before paging."""
    if options.predicate is not None:
        rows = [row for row in rows if options.predicate(row)]
    for name, descending in reversed(options.order):
        rows = sorted(rows, key=lambda row: _sort_key(row.get(name)), reverse=descending)
    total = len(rows)
    end = None if options.top is None else options.skip + options.top
    page = rows[options.skip:end]
    if options.select:
        page = [{name: row.get(name) for name in options.select} for row in page]
    return page, total


def _sort_key(value: Any) -> tuple:
    return (value is not None, value if value is not None else 0)
