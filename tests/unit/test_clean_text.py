"""``clean_text``: text from Stripe objects made safe for Redis, logs and Epicor (issue 11, point 2)."""

from __future__ import annotations

import json

import pytest

from tasks.mapping.address import clean_text, split_address


@pytest.mark.parametrize(("raw", "clean"), [
    ("Order \ud800 for Acme", "Order \ufffd for Acme"),  # a lone surrogate: visible, encodable
    ("\udfff", "\ufffd"),
    ("A\x00B", "A B"),  # NUL
    ("line\r\nbreak\ttab\x0bvt\x1besc\x7fdel\x85nel\x9fc1", "line break tab vt esc del nel c1"),
    ("  many   spaces  ", "many spaces"),
    ("Café 😀 東京 \u200d", "Café 😀 東京 \u200d"),  # real text, an emoji and a joiner are kept
    (None, ""),
    (42, "42"),
])
def test_unsafe_characters_are_replaced_and_text_is_kept(raw, clean):
    assert clean_text(raw) == clean


@pytest.mark.parametrize("raw", ['"\\ud800"', '"a\\u0000b"', '"\\udfff\\ud800x"', '"\\u0001\\u001f\\u007f"'])
def test_text_decoded_from_hostile_json_encodes_as_strict_utf8(raw):
    cleaned = clean_text(json.loads(raw))
    assert cleaned.encode("utf-8").decode("utf-8") == cleaned
    assert not any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F for char in cleaned)


def test_an_address_with_hostile_text_becomes_epicor_fields_that_encode():
    fields = split_address({"line1": "1 Market\x00 St\ud800", "city": "San\nFrancisco", "postal_code": "\x0794105"})
    assert fields["Address1"] == "1 Market St\ufffd"
    assert fields["City"] == "San Francisco" and fields["Zip"] == "94105"
    for value in fields.values():
        value.encode("utf-8")
