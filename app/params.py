"""Reading the JSON API's requests: one body and field checks for every blueprint, each refusal a 400 naming
what is wrong (``BadParameter``), never a 5xx.

The console's JSON endpoints (``app.api``, ``app.mappings_api``, ``app.tables_api``, ``app.assist_api``,
``app.designer_api``) take small JSON objects written by the console's own pages or a script; every field is
checked for type and size here before anything reads it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider

MAX_NAME = 60  # a flow, document or table name


class RequestJson(DefaultJSONProvider):
    """Flask's JSON, with a body nested deeper than the parser recurses read as invalid JSON (a ``ValueError``):
    ``get_json(silent=True)`` then gives None and ``get_json()`` a 400, as for any other unreadable body, where
    the ``RecursionError`` would otherwise escape every check as a 500. Set for the whole app (``create_app``),
    so every reader of a request's JSON is covered, whichever blueprint it is in."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None


class BadParameter(ValueError):
    """A query parameter or body field the API cannot use; its message names it."""


def answers_bad_parameters(bp: Blueprint) -> None:
    """Make every ``BadParameter`` raised under ``bp`` a 400 ``{"error": <reason>}``."""
    bp.register_error_handler(BadParameter, _bad_parameter)


def _bad_parameter(exc: BadParameter) -> tuple[Response, int]:
    return jsonify({"error": str(exc)}), 400


def json_body() -> dict[str, Any]:
    """The request's JSON object."""
    found = request.get_json(silent=True) if request.is_json else None
    if not isinstance(found, dict):
        raise BadParameter("the body must be a JSON object")
    return found


def is_name(value: Any) -> bool:
    """A flow, document or table name: letters, digits and ``_``, at most ``MAX_NAME`` characters."""
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME and value.replace("_", "").isalnum()


def name_part(value: str, what: str) -> str:
    """A name taken from the URL."""
    if not is_name(value):
        raise BadParameter(f"{what} must be a mapping name (letters, digits, _)")
    return value


def text_field(found: dict[str, Any], name: str, most: int, *, required: bool = True) -> str:
    """A text field of at most ``most`` characters; "" when absent and not required."""
    value = found.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadParameter(f"{name} is required (text)")
    if len(value) > most:
        raise BadParameter(f"{name} is longer than {most} characters")
    return value


def comment_field(found: dict[str, Any], most: int) -> str:
    """The required comment of a change (it is the change's record in the history)."""
    value = found.get("comment")
    if not isinstance(value, str) or not value.strip():
        raise BadParameter("comment is required: say what the change is for")
    if len(value) > most:
        raise BadParameter(f"comment is longer than {most} characters")
    return value


def version_field(found: dict[str, Any], name: str, *, required: bool, first: str) -> int | None:
    """A version number (``first`` says what version 1 is); None when absent and not required."""
    value = found.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**9:
        raise BadParameter(f"{name} is required: the version number (1 is {first})" if required
                           else f"{name} must be a version number")
    return value
