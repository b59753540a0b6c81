"""The document shape: placeholders are declared by the values that hold them and only filled at post."""

import pytest

from tasks.documents import ASSIGNED_KEYS, document, fill, placeholder
from tasks.errors import MappingError


def test_placeholders_list_the_tokens_a_document_holds_once_each():
    receipt = document("cash_receipt", {"CustNum": placeholder("CustNum"), "GroupID": "{{GroupID}}"},
                       [{"InvoiceNum": "{{InvoiceNum}}", "Reference": "Order {{OrderNum}}"},
                        {"InvoiceNum": "{{InvoiceNum}}"}], reference={"ExternalID": "ch_1"}, currency="USD")
    assert receipt["placeholders"] == ["CustNum", "OrderNum", "InvoiceNum", "GroupID"]


def test_fill_puts_the_assigned_keys_in_with_their_own_type():
    order = document("sales_order", {"CustNum": "{{CustNum}}", "OrderComment": "for {{CustNum}}"},
                     [{"OrderNum": "{{OrderNum}}", "LineDesc": "{{ not a token }}"}])
    filled = fill(order, {"CustNum": 12, "OrderNum": 7})
    assert filled["header"] == {"CustNum": 12, "OrderComment": "for 12"}
    assert filled["lines"] == [{"OrderNum": 7, "LineDesc": "{{ not a token }}"}]
    assert filled["placeholders"] == []
    assert order["header"]["CustNum"] == "{{CustNum}}"  # the transform's document is left as it was


def test_fill_refuses_a_document_whose_key_is_not_known_yet():
    invoice = document("ar_invoice", {"OrderNum": "{{OrderNum}}"})
    with pytest.raises(MappingError, match="OrderNum"):
        fill(invoice, {"CustNum": 3})


def test_only_epicor_assigned_keys_and_known_kinds_are_accepted():
    assert set(ASSIGNED_KEYS) == {"CustNum", "OrderNum", "InvoiceNum", "HeadNum", "GroupID"}
    with pytest.raises(MappingError):
        placeholder("PartNum")
    with pytest.raises(MappingError, match="unknown document kind"):
        document("purchase_order", {})
