"""Stripe minor units ⇄ Epicor decimals: exact, per currency, never silently rounded."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks.errors import MappingError
from tasks.mapping.currency import (
    decimal_to_minor,
    epicor_currency_code,
    epicor_decimals,
    format_amount,
    minor_to_decimal,
    stripe_exponent,
)
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR


@pytest.mark.parametrize("currency, stripe_places, epicor_places", [
    ("usd", 2, 2), ("JPY", 0, 0), ("krw", 0, 0), ("kwd", 3, 3), ("BHD", 3, 3),
    ("isk", 2, 0), ("ugx", 2, 0), ("huf", 2, 2), ("twd", 2, 2), ("eur", 2, 2), ("xof", 0, 0),
])
def test_each_currency_has_its_stripe_and_epicor_decimals(currency, stripe_places, epicor_places):
    assert stripe_exponent(currency) == stripe_places
    assert epicor_decimals(currency) == epicor_places


@pytest.mark.parametrize("amount, currency, expected", [
    (2500, "usd", "25.00"), (5, "usd", "0.05"), (500, "jpy", "500"), (1234, "KRW", "1234"),
    (5120, "kwd", "5.120"), (1, "bhd", "0.001"), (500, "isk", "5"), (99999999, "huf", "999999.99"),
    (-1050, "usd", "-10.50"),
])
def test_stripe_amounts_become_exact_epicor_amounts(amount, currency, expected):
    value = minor_to_decimal(amount, currency)
    assert value == Decimal(expected)
    assert format_amount(value, currency) == expected


def test_isk_amount_with_a_fraction_is_refused_rather_than_rounded():
    with pytest.raises(MappingError, match="ISK"):
        minor_to_decimal(550, "isk")


def test_non_integer_stripe_amount_is_refused():
    with pytest.raises(MappingError):
        minor_to_decimal(25.0, "usd")


@pytest.mark.parametrize("value, currency, expected", [
    (Decimal("25.00"), "usd", 2500), ("0.1", "usd", 10), (500, "jpy", 500), ("5", "ISK", 500),
    ("5.120", "kwd", 5120), ("-3.5", "usd", -350),
])
def test_epicor_amounts_become_stripe_integers(value, currency, expected):
    assert decimal_to_minor(value, currency) == expected


@pytest.mark.parametrize("value, currency", [
    ("5.124", "kwd"), ("12.345", "usd"), ("12.5", "jpy"), ("5.5", "isk"), ("abc", "usd"),
])
def test_amounts_that_would_need_rounding_for_stripe_are_refused(value, currency):
    with pytest.raises(MappingError):
        decimal_to_minor(value, currency)


def test_floats_are_refused_as_amounts():
    with pytest.raises(MappingError, match="Decimal"):
        decimal_to_minor(0.1, "usd")


def test_bad_currency_code_is_a_mapping_error():
    with pytest.raises(MappingError, match="three-letter"):
        stripe_exponent("dollars")


def test_epicor_currency_code_comes_from_the_table_with_upper_case_default():
    mappings = load_mappings(MAPPINGS_DIR)
    assert epicor_currency_code("usd", mappings) == "USD"
    assert epicor_currency_code("KWD", mappings) == "KWD"
    assert epicor_currency_code("chf", mappings) == "CHF"


CURRENCIES = st.sampled_from(["usd", "eur", "jpy", "krw", "kwd", "bhd", "huf", "isk", "ugx", "xof"])


@given(currency=CURRENCIES, units=st.integers(min_value=-10**8, max_value=10**8))
def test_round_trip_from_epicor_amounts_is_exact(currency, units):
    value = Decimal(units).scaleb(-epicor_decimals(currency))
    if epicor_decimals(currency) == 3:
        value = Decimal(units * 10).scaleb(-3)
    assert minor_to_decimal(decimal_to_minor(value, currency), currency) == value


@given(currency=CURRENCIES, minor=st.integers(min_value=-10**8, max_value=10**8))
def test_round_trip_from_stripe_amounts_is_exact_or_refused(currency, minor):
    try:
        value = minor_to_decimal(minor, currency)
    except MappingError:
        assert currency in {"isk", "ugx"} and minor % 100
        return
    if currency in {"kwd", "bhd"} and minor % 10:
        with pytest.raises(MappingError):
            decimal_to_minor(value, currency)
        return
    assert decimal_to_minor(value, currency) == minor
