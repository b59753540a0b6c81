"""Request bodies turned into typed rows, as strictly as Epicor's REST deserializer.

A body must be one JSON object whose every property is a column of the table with the right JSON
type: text for ``str`` columns, a whole number for ``int`` (keys included), any number for ``dec``,
true/false for ``bool``, an ISO date string or null for ``date``. Anything else is a 400
``Epicor.RESTApi.ErrorHandling.ApiException`` "Unable to deserialize entity..." naming the field.
Numbers are parsed as ``Decimal`` so the currency-decimals rule sees exactly what was sent.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from .dates import normalize_date
from .errors import api_error, deserialize_error
from .schema import COLUMNS, EntitySet

_JSON_KIND = {"str": "a string", "int": "an integer", "dec": "a number", "bool": "a boolean",
              "date": "an ISO date string"}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def json_object(raw: str | bytes, what: str) -> dict[str, Any]:
    """``raw`` as a JSON object, else a 400 naming ``what`` ("The body", "The CallSettings header")."""
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise api_error(400, f"{what} is not valid JSON.") from exc
    if not isinstance(document, dict):
        raise api_error(400, f"{what} must be a JSON object.")
    return document


def parse_body(raw: bytes, entity_set: EntitySet) -> dict[str, Any]:
    """The body as ``{column: typed value}``; every problem is a 400 naming the field."""
    try:
        document = json.loads(raw or b"null", parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError as exc:
        raise deserialize_error(entity_set.table, "", f"Invalid JSON: {exc}.") from exc
    if not isinstance(document, dict):
        raise deserialize_error(entity_set.table, "", "The body must be a single JSON object.")
    return typed_row(document, entity_set)


def typed_row(document: dict[str, Any], entity_set: EntitySet) -> dict[str, Any]:
    """A decoded JSON object (numbers as ``Decimal``) as ``{column: typed value}``, strictly as a body."""
    columns = COLUMNS[entity_set.table]
    return {name: _typed(entity_set, columns, name, value) for name, value in document.items()}


def decode_json(raw: bytes) -> Any:
    """JSON with every non-integer number as an exact ``Decimal``; NaN and Infinity are refused."""
    return json.loads(raw or b"null", parse_float=Decimal, parse_constant=_reject_constant)


def _typed(entity_set: EntitySet, columns: dict[str, str], name: str, value: Any) -> Any:
    kind = columns.get(name)
    if kind is None:
        raise deserialize_error(
            entity_set.table, name,
            f"The property '{name}' does not exist on type '{entity_set.row_type}'. "
            "Make sure to only use property names that are defined by the type.")
    converted = _convert(kind, value)
    if converted is _INVALID:
        raise deserialize_error(
            entity_set.table, name,
            f"Cannot convert the value {json.dumps(value, default=str)} of property '{name}' "
            f"to {_JSON_KIND[kind]}.")
    return converted


_INVALID = object()


def _convert(kind: str, value: Any) -> Any:
    is_number = isinstance(value, (int, Decimal)) and not isinstance(value, bool)
    if kind == "str":
        return "" if value is None else value if isinstance(value, str) else _INVALID
    if kind == "int":
        integral = is_number and Decimal(value) == Decimal(value).to_integral_value()
        return int(value) if integral else _INVALID
    if kind == "dec":
        return Decimal(value) if is_number else _INVALID
    if kind == "bool":
        return value if isinstance(value, bool) else _INVALID
    if value is None:
        return None
    normalized = normalize_date(value) if isinstance(value, str) else None
    return normalized if normalized is not None else _INVALID
