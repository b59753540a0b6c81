"""Stripe addresses → Epicor address fields: every key present, nothing over Epicor's lengths."""

from tasks.mapping.address import split_address

KEYS = ["Address1", "Address2", "Address3", "City", "State", "Zip", "Country"]


def test_no_address_gives_every_key_blank():
    assert split_address(None) == dict.fromkeys(KEYS, "")
    assert split_address({"line1": None, "city": "  ", "country": None}) == dict.fromkeys(KEYS, "")


def test_plain_address_maps_field_by_field_and_country_through_the_table():
    address = {"line1": "510 Townsend St", "line2": "Suite 4", "city": "San Francisco", "state": "CA",
               "postal_code": "94103", "country": "us"}
    assert split_address(address, {"US": "USA"}) == {
        "Address1": "510 Townsend St", "Address2": "Suite 4", "Address3": "", "City": "San Francisco",
        "State": "CA", "Zip": "94103", "Country": "USA"}


def test_unmapped_country_passes_through():
    assert split_address({"country": "BR"}, {"US": "USA"})["Country"] == "BR"


def test_long_street_line_spills_at_word_boundaries_before_line2():
    line1 = "1 Market Street, Spear Tower, Suite 3600, Attention Accounts Payable Dept."
    fields = split_address({"line1": line1, "line2": "Floor 36"})
    assert fields["Address1"] == "1 Market Street, Spear Tower, Suite 3600,"
    assert fields["Address2"] == "Attention Accounts Payable Dept."
    assert fields["Address3"] == "Floor 36"
    assert " ".join(fields[key] for key in ["Address1", "Address2", "Address3"]) == f"{line1} Floor 36"


def test_text_beyond_three_lines_is_cut_to_fifty_characters():
    fields = split_address({"line1": "word " * 60, "line2": "Floor 36"})
    assert all(len(fields[key]) <= 50 for key in KEYS)
    assert fields["Address3"].startswith("word")


def test_whitespace_collapsed_and_zip_cut_to_ten():
    fields = split_address({"line1": "  12   High\tStreet ", "postal_code": "SW1A 1AA EXTRA 99"})
    assert fields["Address1"] == "12 High Street"
    assert fields["Zip"] == "SW1A 1AA E"
