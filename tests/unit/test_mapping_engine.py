"""The field mapping engine: transforms run their own examples, bad files are refused with file, line and
field named, and a site's copy of a file changes what is built without touching code."""

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from tasks.errors import MappingError
from tasks.mapping import shapes
from tasks.mapping.engine import MappingFileError, build_documents, check_directory, load_flow
from tasks.mapping.tables import FILES, load_mappings
from tasks.mapping.transforms import BUILDERS, TRANSFORMS
from tasks.mapping_cli import main as mapping_cli
from tests.fixtures import MAPPINGS_DIR, payment_fixture

SHIPPED = MAPPINGS_DIR / "documents" / "order_to_cash"


@pytest.fixture(scope="module")
def tables():
    return load_mappings(MAPPINGS_DIR)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_every_transform_gives_its_documented_examples(tables, name):
    transform = TRANSFORMS[name]
    assert transform.label and transform.help and transform.examples
    for example in transform.examples:
        assert transform(example.value, example.params, tables) == example.result


def test_every_builder_is_documented():
    assert BUILDERS and all(builder.label and builder.help for builder in BUILDERS.values())


def test_money_stays_exact(tables):
    amount = TRANSFORMS["minor_to_decimal"](1999, {"currency": "usd"}, tables)
    assert amount == Decimal("19.99") and isinstance(amount, Decimal)
    with pytest.raises(MappingError, match="cannot hold"):
        TRANSFORMS["minor_to_decimal"](550, {"currency": "isk"}, tables)


def test_lookup_with_missing_key_names_table_and_key(tables):
    with pytest.raises(MappingError, match="'ZZ' is not a key of the countries table"):
        TRANSFORMS["lookup"]("ZZ", {"table": "countries"}, tables)


def site_with(tmp_path: Path, document: str, old: str, new: str, user_fields: str | None = None) -> Path:
    """A site mappings dir: the shipped tables, and one document file changed by a text replacement."""
    for name in FILES:
        shutil.copy(MAPPINGS_DIR / name, tmp_path / name)
    target = tmp_path / "documents" / "order_to_cash"
    target.mkdir(parents=True)
    text = (SHIPPED / f"{document}.yaml").read_text()
    assert old in text
    (target / f"{document}.yaml").write_text(text.replace(old, new))
    if user_fields is not None:
        (tmp_path / "documents" / "user_fields.yaml").write_text(user_fields)
    return tmp_path


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def refusal(site: Path) -> str:
    with pytest.raises(MappingFileError) as refused:
        load_flow("order_to_cash", site)
    return str(refused.value)


def test_shipped_files_are_valid():
    assert check_directory(MAPPINGS_DIR) == []


BAD_FILES = [
    ("unknown transform", "sales_order", "{name: truncate, length: 1000}", "{name: trunc, length: 1000}",
     "trunc", "lines.LineDesc.transforms.0: unknown transform 'trunc' (did you mean truncate?)"),
    ("unknown parameter", "sales_order", "{name: truncate, length: 1000}", "{name: truncate, size: 1000}",
     "size: 1000", "lines.LineDesc.transforms.0.size: transform truncate has no parameter size"),
    ("path not in the source", "sales_order", "PONum: {from: charge.id}", "PONum: {from: charge.descripton}",
     "descripton", "header.PONum.from: 'charge.descripton' is not in the order_to_cash source "
                   "(did you mean charge.description?)"),
    ("field not in Epicor", "sales_order", "PONum: {from: charge.id}", "PONumber: {from: charge.id}",
     "PONumber", "header.PONumber: OrderHed has no field PONumber (did you mean PONum?)"),
    ("undeclared user field", "sales_order", "PONum: {from: charge.id}", "PONum: {from: charge.id}\n    Ref_c: x",
     "Ref_c", "header.Ref_c: OrderHed has no field Ref_c (a user-defined field must be declared"),
    ("type the target cannot hold", "sales_order",
     "OrderDate: {from: charge.created, transforms: [{name: company_date}]}", "OrderDate: {from: charge.created}",
     "OrderDate", "header.OrderDate: a value of type integer cannot go into OrderDate, an Epicor date field"),
    ("length the target cannot hold", "ar_invoice", "{name: truncate, length: 30}", "{name: truncate, length: 40}",
     "length: 40",
     "header.Description.transforms.2.length: truncate length 40 is more than the 30 characters Description holds"),
    ("constant too long", "ar_invoice", "InvoiceType: {const: Adv}",
     "InvoiceType: {const: Adv}\n    CMReason: TOOLONGCODE",
     "CMReason", "header.CMReason: 'TOOLONGCODE' is 11 characters; CMReason holds 8"),
    ("required field unmapped", "sales_order", "    IntExternalKey: {from: payment_key, required: true}\n", "",
     "header:", "header: required field IntExternalKey of OrderHed is not mapped"),
    ("no source", "sales_order", "PONum: {from: charge.id}", "PONum: {transforms: [{name: upper}]}",
     "PONum", "header.PONum: needs exactly one source: from, const, template, placeholder"),
    ("not a key Epicor assigns", "sales_order", "CustNum: {placeholder: CustNum}", "CustNum: {placeholder: CustID}",
     "placeholder: CustID", "header.CustNum.placeholder: 'CustID' is not a key Epicor assigns"),
    ("unknown builder", "sales_order", "builders: [sale, order_comment]", "builders: [sale, order_coment]",
     "builders: [", "builders.1: unknown builder 'order_coment'"),
    ("not YAML", "sales_order", "PONum: {from: charge.id}", "PONum: {from: charge.id",
     None, "(file): not valid YAML"),
]


@pytest.mark.parametrize(("old", "new", "marker", "expected"), [case[2:] for case in BAD_FILES],
                         ids=[case[0] for case in BAD_FILES])
def test_bad_file_is_refused_with_file_line_and_field(tmp_path, old, new, marker, expected):
    document = next(case[1] for case in BAD_FILES if case[2] == old and case[3] == new)
    site = site_with(tmp_path, document, old, new)
    path = site / "documents" / "order_to_cash" / f"{document}.yaml"
    message = refusal(site)
    assert expected in message
    if marker is not None:
        assert f"{path}:{line_of(path, marker)}: " + expected.split(":")[0] in message


def test_declared_user_field_takes_a_metadata_key(tmp_path):
    site = site_with(tmp_path, "sales_order", "PONum: {from: charge.id}",
                     "PONum: {from: charge.description}\n    ShopOrder_c: {from: charge.metadata.shop_order}",
                     user_fields="OrderHed:\n  ShopOrder_c: {type: string, length: 20}\n")
    payment = payment_fixture("payment_usd_customer")
    payment["charge"]["metadata"] = {"shop_order": "WEB-1042"}
    order = build_documents("order_to_cash", payment, site)[1]
    assert order["header"]["PONum"] == "Order 1042 from the web shop"
    assert order["header"]["ShopOrder_c"] == "WEB-1042"
    shipped = build_documents("order_to_cash", payment, MAPPINGS_DIR)[1]
    assert shipped["header"]["PONum"] == payment["charge"]["id"] and "ShopOrder_c" not in shipped["header"]


def test_a_changed_site_file_is_picked_up_without_a_restart(tmp_path):
    site = site_with(tmp_path, "sales_order", "PONum: {from: charge.id}", "PONum: {const: FIRST}")
    payment = payment_fixture("payment_usd_customer")
    assert build_documents("order_to_cash", payment, site)[1]["header"]["PONum"] == "FIRST"
    path = site / "documents" / "order_to_cash" / "sales_order.yaml"
    path.write_text(path.read_text().replace("PONum: {const: FIRST}", "PONum: {const: SECOND-EDIT}"))
    assert build_documents("order_to_cash", payment, site)[1]["header"]["PONum"] == "SECOND-EDIT"


def test_required_field_blank_at_run_time_names_file_line_and_field(tmp_path):
    site = site_with(tmp_path, "sales_order", "PONum: {from: charge.id}",
                     "PONum: {from: charge.metadata.po, required: true}")
    path = site / "documents" / "order_to_cash" / "sales_order.yaml"
    with pytest.raises(MappingError, match=f"{path}:{line_of(path, 'metadata.po')}: PONum: is required"):
        build_documents("order_to_cash", payment_fixture("payment_usd_customer"), site)


def test_template_reads_named_values(tmp_path):
    site = site_with(tmp_path, "sales_order", "PONum: {from: charge.id}",
                     'PONum: {template: "Stripe $id ($who)", values: {id: charge.id, who: customer.name}}')
    order = build_documents("order_to_cash", payment_fixture("payment_usd_customer"), site)[1]
    assert order["header"]["PONum"] == "Stripe ch_3QxUsdCustomer0001Ab (Rosen Trading Co.)"


def test_stray_file_in_a_site_dir_is_reported(tmp_path):
    site = site_with(tmp_path, "sales_order", "PONum: {from: charge.id}", "PONum: {from: charge.id}")
    (site / "documents" / "order_to_cash" / "salesorder.yaml").write_text("kind: sales_order\n")
    assert [problem.message for problem in check_directory(site)] == [
        "no flow reads this file (expected: customer, sales_order, invoice_group, ar_invoice, cash_group, "
        "cash_receipt)"]


def test_cli_check_prints_every_error_and_exits_non_zero(tmp_path):
    site = site_with(tmp_path, "sales_order", "PONum: {from: charge.id}", "PONumber: {from: charge.idd}")
    result = CliRunner().invoke(mapping_cli, ["check", str(site)])
    path = site / "documents" / "order_to_cash" / "sales_order.yaml"
    assert result.exit_code == 1
    assert f"{path}:{line_of(path, 'PONumber')}: header.PONumber: OrderHed has no field PONumber" in result.output
    ok = CliRunner().invoke(mapping_cli, ["check", str(MAPPINGS_DIR)])
    assert ok.exit_code == 0, ok.output


def test_source_shape_lists_paths_types_and_samples():
    shape = shapes.source_shape(shapes.sample_objects("order_to_cash"))
    listed = {path: (kind, sample) for path, kind, sample in shapes.walk(shape)}
    assert listed["charge.amount"] == ("integer", 2500)
    assert listed["line_items[].price_id"][0] == "text"
    assert shape.fields["charge"].fields["metadata"].child("anything") is not None


def test_target_palette_comes_from_the_epicor_schema():
    palette = shapes.palette("order_header")
    assert palette["PONum"].length == 50 and palette["IntExternalKey"].required
    assert "ShipViaCode" in palette and "PONumber" not in palette
