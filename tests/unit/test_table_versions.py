"""Lookup tables as versions: published only when the schema takes them (reasons per row), a publish from a
stale base refused, any version restored as a new one, a worker builds with the published tables (reading
a counter at most once a second, the texts only when it moved); rows and CSV round trip with their types."""

from __future__ import annotations

import pytest

from tasks.errors import MappingError
from tasks.mapping import table_rows, table_versions, tables
from tasks.mapping.versions import NothingToPublish, StaleVersion
from tests.fixtures import MAPPINGS_DIR

PARTS = (MAPPINGS_DIR / "parts.yaml").read_text(encoding="utf-8")
TERMS = (MAPPINGS_DIR / "terms.yaml").read_text(encoding="utf-8")


@pytest.fixture()
def published(fake_redis, monkeypatch):
    """A worker that builds with the published tables, on the test's own Redis."""
    table_versions.forget()
    monkeypatch.setattr(tables, "published_source", table_versions.published_tables)
    yield fake_redis
    table_versions.forget()


def parts_with(default_part="WIDGET-100", **products):
    rows = [row for row in table_rows.rows_of(PARTS) if row["key"] != "default_part"]
    rows += [{"key": "default_part", "value": default_part}]
    rows += [{"key": f"products.{product}", "value": part} for product, part in products.items()]
    return table_rows.text_of(rows, PARTS)


def publish(text, base_version=1, comment="widgets by default"):
    return table_versions.publish("parts.yaml", text, who="admin-test", comment=comment, mappings_dir=MAPPINGS_DIR,
                                  base_version=base_version)


def test_the_editable_tables_are_every_table_file_but_the_company_defaults():
    assert table_versions.editable()[:5] == ["parts.yaml", "reasons.yaml", "currencies.yaml", "countries.yaml",
                                             "terms.yaml"]
    assert "defaults.yaml" not in table_versions.editable()
    with pytest.raises(MappingError, match="no lookup table"):
        table_versions.current("defaults.yaml", MAPPINGS_DIR)


def test_a_published_table_is_what_a_worker_builds_with_from_the_next_read(published, monkeypatch):
    assert tables.current_mappings(MAPPINGS_DIR).default_part == "STRIPE-SALE"
    made = publish(parts_with(prod_A1="GADGET-200"))
    assert made.version == 2 and made.who == "admin-test" and "+default_part: WIDGET-100" in made.diff
    assert tables.current_mappings(MAPPINGS_DIR).default_part == "STRIPE-SALE"  # read less than a second ago
    monkeypatch.setattr(table_versions, "READ_EVERY", 0.0)
    now = tables.current_mappings(MAPPINGS_DIR)
    assert now.default_part == "WIDGET-100" and now.part_for(None, "prod_A1") == "GADGET-200"


def test_a_worker_reads_only_the_counter_while_nothing_is_published(published, monkeypatch):
    publish(parts_with())
    monkeypatch.setattr(table_versions, "READ_EVERY", 0.0)
    first = tables.current_mappings(MAPPINGS_DIR)
    calls = []
    real = published.hgetall
    monkeypatch.setattr(published, "hgetall", lambda *a: calls.append(a) or real(*a))
    assert tables.current_mappings(MAPPINGS_DIR) is first and calls == []


def test_a_refused_table_names_every_reason_and_changes_nothing(published):
    with pytest.raises(table_rows.RowProblem, match="row 1: the value must be text"):
        table_rows.text_of([{"key": "default_part", "value": ""}], PARTS)
    text = PARTS.replace("sales_um: EA", "sales_um: EACHES-TOO-LONG")
    with pytest.raises(table_versions.TableRefused) as refused:
        publish(text.replace("default_part: STRIPE-SALE", "default_prat: STRIPE-SALE"))
    assert any(p.startswith("sales_um:") for p in refused.value.problems)
    assert any(p.startswith("default_prat:") for p in refused.value.problems)
    assert table_versions.current("parts.yaml", MAPPINGS_DIR).version == 1


def test_a_publish_from_a_stale_base_is_refused_and_the_same_text_is_nothing_to_publish(published):
    publish(parts_with("WIDGET-100"))
    with pytest.raises(StaleVersion, match="version 2 was published meanwhile"):
        publish(parts_with("GADGET-200"), base_version=1)
    with pytest.raises(NothingToPublish):
        publish(parts_with("WIDGET-100"), base_version=2)
    with pytest.raises(MappingError, match="comment is required"):
        publish(parts_with("GADGET-200"), base_version=2, comment=" ")


def test_publishing_one_table_does_not_make_another_stale(published):
    publish(parts_with())
    terms = TERMS.replace("N30: 30", "N30: 30\nN60: 60")
    made = table_versions.publish("terms.yaml", terms, who="a", comment="60 days", mappings_dir=MAPPINGS_DIR,
                                  base_version=1)
    assert made.version == 2


def test_an_earlier_version_is_restored_as_a_new_one(published):
    publish(parts_with("WIDGET-100"))
    made = table_versions.restore("parts.yaml", 1, who="admin-test", comment="back to the sale part",
                                  mappings_dir=MAPPINGS_DIR, base_version=2)
    assert made.version == 3 and made.text == PARTS and made.comment.startswith("restore of version 1")
    assert [v.version for v in table_versions.history_of("parts.yaml", MAPPINGS_DIR)] == [1, 2, 3]


def test_rows_keep_each_value_s_type_and_empty_sections():
    terms = table_rows.text_of([{"key": "N30", "value": "30"}, {"key": "N60", "value": "60"},
                                {"key": "default", "value": "30"}], TERMS)
    assert tables.table_problems(terms, tables.TermsSchema) == []
    assert "N60: 60" in terms
    parts = table_rows.text_of([{"key": "default_part", "value": "1000"}, {"key": "sales_um", "value": "EA"}], PARTS)
    assert "default_part: '1000'" in parts and "prices: {}" in parts
    assert tables.table_problems(parts, tables.PartsSchema) == []


def test_rows_that_cannot_make_a_table_are_refused_by_row():
    with pytest.raises(table_rows.RowProblem) as refused:
        table_rows.text_of([{"key": "products.p1", "value": "A"}, {"key": "products.p1", "value": "B"},
                            {"key": "bad key", "value": "C"}, {"key": "products", "value": "D"}], PARTS)
    rows = sorted(problem["row"] for problem in refused.value.problems)
    assert rows == [2, 3, 4]


def test_csv_round_trip_and_errors_by_line():
    rows = table_rows.rows_of(PARTS)
    again, lines = table_rows.rows_from_csv(table_rows.csv_of(rows))
    assert again == [{"key": row["key"], "value": str(row["value"])} for row in rows] and lines[0] == 2
    with pytest.raises(table_rows.RowProblem) as refused:
        table_rows.rows_from_csv("key,value\ndefault_part,X\nsales_um\n")
    assert refused.value.problems[0]["row"] == 3
    with pytest.raises(table_rows.RowProblem):
        table_rows.rows_from_csv("part,code\n")


def test_schema_problems_are_placed_on_the_row_they_name():
    rows = [{"key": "default_part", "value": "X"}, {"key": "products.nope", "value": "Y"}]
    placed = table_rows.problems_by_row(["products.nope.key: 'nope' is not a valid key here", "sales_um: required"],
                                        rows)
    assert placed[0]["row"] == 2 and placed[1]["row"] == 0


def test_a_table_registered_by_its_own_module_is_edited_versioned_and_read_by_workers(published, monkeypatch):
    """How issue 15's payouts.yaml joins: its module validates it and reads the published text first."""
    import yaml

    def problems(text):
        fee_ids = (yaml.safe_load(text) or {}).get("fee_ids") or {}
        return [f"fee_ids.{name}: at most 10 characters" for name, code in fee_ids.items() if len(str(code)) > 10]

    monkeypatch.setitem(tables.OTHER_TABLES, "payouts.yaml", problems)
    monkeypatch.setattr(table_versions, "READ_EVERY", 0.0)
    assert "payouts.yaml" in table_versions.editable()
    with pytest.raises(table_versions.TableRefused, match="fee_ids.processing: at most 10"):
        table_versions.publish("payouts.yaml", "fee_ids: {processing: STRIPE-PROCESSING-FEES}\n", who="a",
                               comment="fees", mappings_dir=MAPPINGS_DIR, base_version=1)
    made = table_versions.publish("payouts.yaml", "fee_ids: {processing: STRFEE2}\n", who="a", comment="fees",
                                  mappings_dir=MAPPINGS_DIR, base_version=1)
    assert made.version == 2 and tables.published_text("payouts.yaml") == "fee_ids: {processing: STRFEE2}\n"


def test_payouts_yaml_is_an_editable_table_and_a_published_version_is_what_payouts_post_with(published,
                                                                                              monkeypatch):
    from tasks.mapping import payout_settings

    monkeypatch.setattr(table_versions, "READ_EVERY", 0.0)
    assert "payouts.yaml" in table_versions.editable()
    shipped = (MAPPINGS_DIR / "payouts.yaml").read_text(encoding="utf-8")
    with pytest.raises(table_versions.TableRefused, match="fee_ids"):
        table_versions.publish("payouts.yaml", shipped.replace("processing: STRFEE", "processing: [1, 2]"),
                               who="a", comment="fees", mappings_dir=MAPPINGS_DIR, base_version=1)
    assert payout_settings.load_payout_settings(MAPPINGS_DIR, "MAIN").fee_ids["processing"] == "STRFEE"
    table_versions.publish("payouts.yaml", shipped.replace("processing: STRFEE", "processing: STRFEE2"), who="a",
                           comment="fees", mappings_dir=MAPPINGS_DIR, base_version=1)
    assert payout_settings.load_payout_settings(MAPPINGS_DIR, "MAIN").fee_ids["processing"] == "STRFEE2"
