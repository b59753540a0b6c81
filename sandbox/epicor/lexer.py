"""Tokens of OData URL text (``$filter`` expressions and key segments), shared by both parsers.

Strings are single-quoted with quotes doubled (``'O''Brien'``); numbers, ISO date-times, names and
the punctuation ``( ) , = /``. Anything else is a malformed query: 400 ``ODataException``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .dates import normalize_date
from .errors import EpicorError, odata_error

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<date>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?(?![\w.]))
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?(?![\w.]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(),=/])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    """One lexical token: ``kind`` is str, date, num, name or punct; ``value`` is its meaning."""

    kind: str
    value: object
    text: str


def _value(kind: str, text: str) -> object:
    if kind == "str":
        return text[1:-1].replace("''", "'")
    if kind == "date":
        return normalize_date(text)
    if kind == "num":
        return _number(text)
    return text


def _number(text: str) -> int | Decimal:
    digits = text.rstrip("mMdDfFlL")
    if re.fullmatch(r"-?\d+", digits):
        return int(digits)
    try:
        return Decimal(digits)
    except InvalidOperation as exc:  # pragma: no cover - the regex only lets numbers through
        raise odata_error(f"Invalid number '{text}'.") from exc


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; an unknown character or open string is a 400."""
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise odata_error(f"Syntax error at position {position} in '{text}'.")
        position = match.end()
        if match.lastgroup != "space":
            kind, text_ = match.lastgroup, match.group()
            tokens.append(Token(kind, _value(kind, text_), text_))
    return tokens


class TokenStream:
    """A cursor over tokens with the small look-ahead both parsers need."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.position = 0

    def peek(self) -> Token | None:
        """The next token without consuming it."""
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def next(self) -> Token:
        """Consume the next token; running out is a syntax error."""
        token = self.peek()
        if token is None:
            raise self.error("Unexpected end of expression")
        self.position += 1
        return token

    def accept(self, kind: str, value: object) -> bool:
        """Consume the next token if it is exactly ``kind``/``value``."""
        token = self.peek()
        if token is not None and token.kind == kind and token.value == value:
            self.position += 1
            return True
        return False

    def expect(self, kind: str, value: object) -> None:
        """Consume ``kind``/``value`` or fail."""
        if not self.accept(kind, value):
            raise self.error(f"Expected '{value}'")

    def at_end(self) -> bool:
        """Whether every token was consumed."""
        return self.position >= len(self.tokens)

    def error(self, reason: str) -> EpicorError:
        """A syntax error pointing into the original text."""
        return odata_error(f"Syntax error: {reason} at token {self.position} in '{self.text}'.")
