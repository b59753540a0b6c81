"""Stripe's form encoding: `a[b][c]=v`, `list[0]=v`, `list[]=v`, decoded into dicts and lists.

stripe-python sends every parameter this way, in POST bodies and in GET query strings. Blank values
are kept because they mean something to Stripe (an empty metadata value deletes that key). Keys
directly under `metadata` are never turned into list indexes, since "1" is a valid metadata key.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    """A parameter name that is not valid bracket notation."""


def parse_form(raw: str) -> dict[str, Any]:
    """Decode a form-encoded string into nested dicts and lists."""
    tree: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        _insert(tree, _key_path(key), value)
    return _listify(tree, parent=None)


def _key_path(key: str) -> list[str]:
    match = _KEY.match(key)
    if not match:
        raise FormError(f"Invalid parameter name: {key}")
    return [match.group(1)] + _SEGMENT.findall(match.group(2))


def _insert(node: dict[str, Any], path: list[str], value: str) -> None:
    for depth, segment in enumerate(path):
        if segment == "":
            segment = str(len(node))
        if depth == len(path) - 1:
            node[segment] = value
            return
        child = node.get(segment)
        if not isinstance(child, dict):
            child = node[segment] = {}
        node = child


def _listify(node: Any, parent: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value, key) for key, value in node.items()}
    if parent == "metadata" or not converted:
        return converted
    if all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
