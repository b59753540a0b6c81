"""Mapping tables: bundled defaults load, lookups follow their order, bad files are named precisely."""

import shutil

import pytest

from tasks.errors import MappingError
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR


@pytest.fixture
def site_dir(tmp_path):
    """A site's own copy of the bundled tables, to break one file at a time."""
    for path in MAPPINGS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_bundled_tables_carry_the_contract_defaults():
    mappings = load_mappings(MAPPINGS_DIR)
    assert (mappings.default_part, mappings.sales_um, mappings.bank_account, mappings.terms_code) == \
        ("STRIPE-SALE", "EA", "MAIN", "N30")
    assert mappings.refund_reason_code("fraudulent") == "FRAUD"
    assert mappings.refund_reason_code(None) == "OTHER"
    assert mappings.refund_reason_code("something_new") == "OTHER"
    assert mappings.dispute_reason_code("lost") == "DISPLOST"
    assert mappings.catch_all_cust_id == "STRIPEGUES"


def test_part_lookup_order_price_metadata_product_metadata_price_table_product_table(site_dir):
    (site_dir / "parts.yaml").write_text(
        "products: {prod_A: FROM-PRODUCT}\nprices: {price_A: FROM-PRICE}\ndefault_part: STRIPE-SALE\nsales_um: EA\n")
    mappings = load_mappings(site_dir)
    assert mappings.part_for("price_A", "prod_A", {"epicor_part_num": "P-META"},
                             {"epicor_part_num": "PR-META"}) == "P-META"
    assert mappings.part_for("price_A", "prod_A", {}, {"epicor_part_num": " PR-META "}) == "PR-META"
    assert mappings.part_for("price_A", "prod_A") == "FROM-PRICE"
    assert mappings.part_for("price_B", "prod_A") == "FROM-PRODUCT"
    assert mappings.part_for("price_B", "prod_B") is None


def test_unknown_key_is_rejected_with_file_and_key(site_dir):
    (site_dir / "parts.yaml").write_text("default_prat: STRIPE-SALE\ndefault_part: X\nsales_um: EA\n")
    with pytest.raises(MappingError) as raised:
        load_mappings(site_dir)
    assert "parts.yaml" in raised.value.message and "default_prat" in raised.value.message


def test_missing_required_key_is_named(site_dir):
    (site_dir / "reasons.yaml").write_text("refunds: {default: OTHER}\nreason_type: A\n")
    with pytest.raises(MappingError, match=r"reasons\.yaml.*disputes"):
        load_mappings(site_dir)


def test_refund_table_needs_a_default(site_dir):
    (site_dir / "reasons.yaml").write_text(
        "refunds: {duplicate: DUPL}\ndisputes: {chargeback: DISPUTE, lost: DISPLOST}\nreason_type: A\n")
    with pytest.raises(MappingError, match=r"refunds.*default"):
        load_mappings(site_dir)


@pytest.mark.parametrize("line, key", [
    ("cash_group_prefix: SCX", "cash_group_prefix"),
    ("timezone: Mars/Olympus", "timezone"),
    ("catch_all_cust_id: STRIPEGUEST1", "catch_all_cust_id"),
    ("order_comment_template: 'Paid $amount'", "order_comment_template"),
])
def test_bad_default_values_are_named(site_dir, line, key):
    defaults = site_dir / "defaults.yaml"
    name = line.split(":")[0]
    kept = [text for text in defaults.read_text().splitlines() if not text.startswith(f"{name}:")]
    defaults.write_text("\n".join(kept + [line]) + "\n")
    with pytest.raises(MappingError) as raised:
        load_mappings(site_dir)
    assert "defaults.yaml" in raised.value.message and key in raised.value.message


def test_bad_table_key_and_long_value_are_named(site_dir):
    (site_dir / "countries.yaml").write_text(f"usa: USA\nGB: {'X' * 51}\n")
    with pytest.raises(MappingError) as raised:
        load_mappings(site_dir)
    assert "countries.yaml" in raised.value.message and "usa" in raised.value.message
    assert "GB" in raised.value.message


def test_invalid_yaml_and_missing_file_are_named(site_dir):
    (site_dir / "currencies.yaml").write_text("usd: [USD\n")
    with pytest.raises(MappingError, match=r"currencies\.yaml.*not valid YAML"):
        load_mappings(site_dir)
    (site_dir / "currencies.yaml").unlink()
    with pytest.raises(MappingError, match=r"currencies\.yaml.*missing"):
        load_mappings(site_dir)


def test_reject_policy_refuses_unmapped_currencies(site_dir):
    (site_dir / "currencies.yaml").write_text("usd: USD\ndefault: reject\n")
    mappings = load_mappings(site_dir)
    assert mappings.currency_code("usd") == "USD"
    with pytest.raises(MappingError, match="CHF"):
        mappings.currency_code("chf")


def test_tables_cannot_be_changed_after_loading():
    mappings = load_mappings(MAPPINGS_DIR)
    with pytest.raises(TypeError):
        mappings.refund_reasons["duplicate"] = "X"
