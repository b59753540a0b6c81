"""What the receivers take from a signed body: JSON parsed strictly, ids checked, free text made safe.

A valid signature says who sent a body, not that every string in it can be stored or logged. The
event's few kept fields go to Redis (redis-py encodes ``str`` as strict UTF-8, so a lone UTF-16
surrogate such as ``"\\ud800"`` raises), into log lines and into Redis key names. So, per field:

- ids and types (event id, type, object id, API version, account…) must be *tokens*: 1–255
  printable characters, no whitespace, no control character, no surrogate. Stripe's and Epicor's
  ids all are; a string that is not cannot name a record, so the event is refused (400, with the
  reason) rather than altered into an id nobody sent.
- free text the pipeline keeps for display (Epicor's ``occurred_at``) is made safe: surrogates
  become U+FFFD, control characters spaces, runs of whitespace one space, cut to a length.
- the JSON itself: RFC 8259 only (``NaN``/``Infinity`` are not JSON), no duplicate key in an object
  (two ``id`` keys are two readings of one event: refused, not resolved by whichever parser reads
  last), parsed from the UTF-8 text the signature was checked on (never re-detected as UTF-16).
  Numbers such as ``1e400`` are legal JSON and are left alone: no kept field is a float.
- reasons sent back and logged quote the sender's input: they are escaped and cut, so an answer or
  a log line never carries a control character, a surrogate or a megabyte.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_TOKEN = 255
MAX_REASON = 300
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")


class UnreadableJson(ValueError):
    """The body is not one strict JSON object; the message says why (quoting nothing of it)."""


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, strictly (module docstring), or ``UnreadableJson``."""
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise UnreadableJson("body is not UTF-8") from None
    except RecursionError:  # signed, but nested deeper than any event: refuse it, never a 500
        raise UnreadableJson("body is nested too deeply to be an event") from None
    except UnreadableJson:
        raise
    except ValueError:  # includes an integer longer than Python converts (4,300 digits)
        raise UnreadableJson("body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise UnreadableJson("body is not a JSON object")
    return parsed


def _no_constant(name: str) -> Any:
    raise UnreadableJson(f"body is not valid JSON ({name} is not a JSON number)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise UnreadableJson("body is not valid JSON for an event (an object has a duplicate key)")
    return found


def is_token(value: Any) -> bool:
    """An id or type this service can store, log and name a key by (module docstring)."""
    # isprintable() is False for control, format, surrogate, private-use and unassigned code points
    # and every whitespace but the ASCII space, which is then excluded on its own.
    return isinstance(value, str) and 0 < len(value) <= MAX_TOKEN and value.isprintable() and " " not in value


def safe_text(value: Any, limit: int) -> str:
    """Free text made safe to store and log: no surrogate, no control character, cut to ``limit``."""
    if not isinstance(value, str):
        return ""
    text = _SURROGATES.sub("\ufffd", value[:limit * 4])
    return " ".join(_UNSAFE_TEXT.sub(" ", text).split())[:limit]


def safe_reason(reason: str) -> str:
    """A reason that may quote input, made safe for an answer and a log line: escaped and cut."""
    escaped = reason[:MAX_REASON].encode("ascii", "backslashreplace").decode("ascii")
    printable = "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in escaped)
    return printable if len(printable) <= MAX_REASON else printable[:MAX_REASON - 3] + "..."
