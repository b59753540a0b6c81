"""``$filter`` expressions compiled to row predicates.

Supported: comparisons ``eq ne gt ge lt le`` between a column and a literal, ``and``, ``or``,
``not``, parentheses, and ``contains``/``startswith``/``endswith`` on text columns. A column must
exist on the table and the literal must suit its type (text needs a quoted string, numbers a number,
flags true/false, dates an ISO date), as OData's binder insists; otherwise 400 ``ODataException``.
Comparisons are case-sensitive, as the contract fixes.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .dates import normalize_date
from .errors import odata_error
from .lexer import Token, TokenStream
from .money import to_decimal

Predicate = Callable[[dict], bool]

_ORDERING = {
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}
_FUNCTIONS = {
    "contains": lambda value, arg: arg in value,
    "startswith": lambda value, arg: value.startswith(arg),
    "endswith": lambda value, arg: value.endswith(arg),
}
_EDM = {"str": "Edm.String", "int": "Edm.Int32", "dec": "Edm.Decimal", "bool": "Edm.Boolean",
        "date": "Edm.DateTimeOffset"}


def compile_filter(text: str, columns: dict[str, str], row_type: str) -> Predicate:
    """A predicate for ``text`` over rows with ``columns``.

    The predicate carries ``equalities`` (see ``required_equalities``): the ``column eq literal``
    terms every matching row must satisfy, which lets the caller fetch candidates by index.
    """
    parser = _FilterParser(text, columns, row_type)
    predicate = parser.expression()
    if not parser.stream.at_end():
        raise parser.stream.error("Unexpected token")
    return predicate


def required_equalities(predicate: Predicate) -> list[tuple[str, Any]]:
    """(column, value) pairs a row must equal (``==`` on the stored value) to satisfy ``predicate``.

    They come from ``eq`` comparisons joined by ``and`` at the top level (parentheses included), on
    columns whose stored values compare as the filter compares them: every kind but ``dec``, whose
    stored floats are compared as decimals. Empty when the filter has no such term.
    """
    return list(getattr(predicate, "equalities", ()))


def _requiring(predicate: Predicate, equalities: tuple[tuple[str, Any], ...]) -> Predicate:
    if equalities:
        predicate.equalities = equalities  # type: ignore[attr-defined]
    return predicate


def unknown_property(name: str, row_type: str):
    """The error OData gives for a column the type does not have."""
    return odata_error(f"Could not find a property named '{name}' on type '{row_type}'.")


class _FilterParser:
    """Recursive descent: or > and > not > (expr) | comparison | function call."""

    def __init__(self, text: str, columns: dict[str, str], row_type: str) -> None:
        self.stream = TokenStream(text)
        self.columns = columns
        self.row_type = row_type

    def expression(self) -> Predicate:
        left = self._conjunction()
        while self.stream.accept("name", "or"):
            left = _either(left, self._conjunction())
        return left

    def _conjunction(self) -> Predicate:
        left = self._unary()
        while self.stream.accept("name", "and"):
            left = _both(left, self._unary())
        return left

    def _unary(self) -> Predicate:
        if self.stream.accept("name", "not"):
            inner = self._unary()
            return lambda row: not inner(row)
        if self.stream.accept("punct", "("):
            inner = self.expression()
            self.stream.expect("punct", ")")
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        token = self.stream.next()
        if token.kind != "name":
            raise self.stream.error(f"Expected a property name, found '{token.text}'")
        if token.value in _FUNCTIONS and self.stream.accept("punct", "("):
            return self._function(token.value)
        kind = self._column_kind(token.value)
        operator = self.stream.next()
        literal = _literal(self.stream.next(), self.stream)
        return _compare(token.value, kind, operator, self._coerce(literal, kind, operator.text))

    def _function(self, name: str) -> Predicate:
        field = self.stream.next()
        if field.kind != "name" or self._column_kind(field.value) != "str":
            raise odata_error(f"Function '{name}' needs a text property.")
        self.stream.expect("punct", ",")
        argument = self.stream.next()
        if argument.kind != "str":
            raise odata_error(f"Function '{name}' needs a string literal.")
        self.stream.expect("punct", ")")
        test = _FUNCTIONS[name]
        column, needle = field.value, argument.value
        return lambda row: isinstance(row.get(column), str) and test(row[column], needle)

    def _column_kind(self, name: object) -> str:
        if name not in self.columns:
            raise unknown_property(str(name), self.row_type)
        return self.columns[name]

    def _coerce(self, literal: Any, kind: str, operator: str) -> Any:
        if literal is None:
            return None
        fits = {
            "str": isinstance(literal, str),
            "int": isinstance(literal, (int, Decimal)) and not isinstance(literal, bool),
            "dec": isinstance(literal, (int, Decimal)) and not isinstance(literal, bool),
            "bool": isinstance(literal, bool),
            "date": isinstance(literal, str) and normalize_date(literal) is not None,
        }[kind]
        if not fits:
            raise odata_error(
                "A binary operator with incompatible types was detected. Found operand types "
                f"'{_EDM[kind]}' and '{_edm_of(literal)}' for operator kind '{operator}'.")
        if kind in ("int", "dec"):
            return to_decimal(literal)
        return normalize_date(literal) if kind == "date" else literal


def _literal(token: Token, stream: TokenStream) -> Any:
    if token.kind in ("str", "num"):
        return token.value
    if token.kind == "date":
        if token.value is None:
            raise stream.error(f"Invalid date '{token.text}'")
        return token.value
    keywords = {"true": True, "false": False, "null": None}
    if token.kind == "name" and token.value in keywords:
        return keywords[token.value]
    raise stream.error(f"Expected a literal, found '{token.text}'")


def _edm_of(literal: Any) -> str:
    if isinstance(literal, bool):
        return "Edm.Boolean"
    if isinstance(literal, str):
        return "Edm.String"
    return "Edm.Int32" if isinstance(literal, int) else "Edm.Decimal"


def _compare(field: str, kind: str, operator: Token, literal: Any) -> Predicate:
    name = operator.value
    numeric = kind in ("int", "dec")

    def value_of(row: dict) -> Any:
        value = row.get(field)
        return to_decimal(value) if numeric and value is not None else value

    if name == "eq":
        # Stored int, bool, text and date values equal the literal exactly when their decimal or
        # raw form does, so the term can be looked up by the literal itself.
        exact = () if kind == "dec" else ((field, literal),)
        return _requiring(lambda row: value_of(row) == literal, exact)
    if name == "ne":
        return lambda row: value_of(row) != literal
    if name in _ORDERING:
        test = _ORDERING[name]
        return lambda row: (value_of(row) is not None and literal is not None
                            and test(value_of(row), literal))
    raise odata_error(f"Unknown operator '{operator.text}'.")


def _either(left: Predicate, right: Predicate) -> Predicate:
    return lambda row: left(row) or right(row)


def _both(left: Predicate, right: Predicate) -> Predicate:
    equalities = getattr(left, "equalities", ()) + getattr(right, "equalities", ())
    return _requiring(lambda row: left(row) and right(row), equalities)
