"""Deterministic CustIDs and Epicor references read from Stripe metadata."""

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks.errors import MappingError
from tasks.mapping.ids import cust_id_candidates, epicor_refs, parse_order_lines


def test_first_candidate_starts_with_the_name_and_is_ten_characters():
    first = cust_id_candidates("cus_QXg1o8vcGmoR32", "Rosen Trading Co.")[0]
    assert first.startswith("ROSE") and len(first) == 10


def test_candidates_are_deterministic_and_distinct():
    candidates = cust_id_candidates("cus_QXg1o8vcGmoR32", "Rosen Trading")
    assert candidates == cust_id_candidates("cus_QXg1o8vcGmoR32", "Rosen Trading")
    assert len(candidates) == 4 and len(set(candidates)) == 4


def test_different_seeds_give_different_ids_for_the_same_name():
    ids = {cust_id_candidates(f"cus_{n:06d}", "Jenny Rosen")[0] for n in range(2000)}
    assert len(ids) == 2000


def test_accented_or_non_latin_names_still_give_valid_ids():
    assert cust_id_candidates("a@b.example", "Élodie Ñúñez")[0].startswith("ELOD")
    assert re.fullmatch(r"[A-Z0-9]{10}", cust_id_candidates("a@b.example", "山田 花子")[0])


def test_seed_is_required():
    with pytest.raises(MappingError):
        cust_id_candidates("", "Jenny")


@given(seed=st.text(min_size=1), name=st.one_of(st.none(), st.text()), count=st.integers(1, 8))
def test_candidates_are_upper_case_alphanumeric_and_at_most_ten(seed, name, count):
    candidates = cust_id_candidates(seed, name, count)
    assert len(candidates) == count
    assert all(re.fullmatch(r"[A-Z0-9]{1,10}", candidate) for candidate in candidates)


def test_refs_take_the_first_non_blank_value_in_priority_order():
    refs = epicor_refs({"epicor_cust_num": "  "}, None, {"epicor_cust_num": " 214 ", "epicor_part_num": "GADGET-200"},
                       {"epicor_cust_num": "999", "epicor_cust_id": "ACME"})
    assert refs == {"cust_num": 214, "cust_id": "ACME", "part_num": "GADGET-200", "order_num": None,
                    "quantity": None, "lines": None}


def test_refs_read_quantity_order_number_and_lines():
    refs = epicor_refs({"epicor_quantity": "2.5", "epicor_order_num": "5001", "epicor_lines": "WIDGET-100*2"})
    assert refs["quantity"] == Decimal("2.5") and refs["order_num"] == 5001
    assert refs["lines"] == [{"part": "WIDGET-100", "quantity": Decimal(2), "unit_price": None}]


@pytest.mark.parametrize("key, value", [
    ("epicor_cust_num", "abc"), ("epicor_cust_num", "-3"), ("epicor_order_num", "12.5"),
    ("epicor_cust_id", "MUCHTOOLONGID"), ("epicor_quantity", "0"), ("epicor_quantity", "two"),
    ("epicor_part_num", "P" * 51), ("epicor_lines", "WIDGET*x"),
])
def test_malformed_metadata_names_the_key_and_value(key, value):
    with pytest.raises(MappingError) as raised:
        epicor_refs({key: value})
    assert key in raised.value.message and value[:10] in raised.value.message


def test_order_lines_with_quantities_and_prices():
    assert parse_order_lines("WIDGET-100*2@12.50, GADGET-200*1@49.00,SUB-MONTHLY") == [
        {"part": "WIDGET-100", "quantity": Decimal("2"), "unit_price": Decimal("12.50")},
        {"part": "GADGET-200", "quantity": Decimal("1"), "unit_price": Decimal("49.00")},
        {"part": "SUB-MONTHLY", "quantity": Decimal("1"), "unit_price": None},
    ]


def test_order_line_price_without_quantity():
    assert parse_order_lines("GADGET-200@49")[0] == {"part": "GADGET-200", "quantity": Decimal(1),
                                                     "unit_price": Decimal("49")}


@pytest.mark.parametrize("text", ["", " , ", "WIDGET-100*", "WIDGET-100@", "WIDGET-100*0@1", "*2@3",
                                  "WIDGET-100*2@1.2.3", "WIDGET-100,,GADGET-200", "A@1@2"])
def test_bad_order_line_syntax_is_refused(text):
    with pytest.raises(MappingError, match="epicor_lines"):
        parse_order_lines(text)
