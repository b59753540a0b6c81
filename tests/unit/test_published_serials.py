"""What the console publishes reaches the next event at no round trip of its own: the stage's first Redis
call reads the serials (``store.begin_stage`` with ``tasks.published.keys_for``), and the mapping and table
readers use them; outside a stage they ask Redis themselves. A table file edited on disk is read again too."""

from __future__ import annotations

import shutil

import pytest

from tasks import published, store
from tasks.mapping import table_rows, table_versions, tables, versions
from tests.fixtures import MAPPINGS_DIR

FLOW = "order_to_cash"
ORDER = (MAPPINGS_DIR / "documents" / FLOW / "sales_order.yaml").read_text(encoding="utf-8")
PARTS = (MAPPINGS_DIR / "parts.yaml").read_text(encoding="utf-8")


@pytest.fixture()
def worker(fake_redis, monkeypatch):
    versions.forget()
    table_versions.forget()
    monkeypatch.setattr(tables, "published_source", table_versions.published_tables)
    yield fake_redis
    versions.forget()
    table_versions.forget()


def begin(event_id="evt_s"):
    store.record_event({"id": event_id, "type": "charge.succeeded", "source": "stripe", "flow": FLOW,
                        "object_id": "ch_s"})
    found = store.begin_stage(event_id, "transform", 1, published.keys_for(FLOW))
    assert found is not None
    return found[2]


def publish_order(text, base):
    versions.publish(FLOW, "sales_order", text, who="admin", comment="c", mappings_dir=MAPPINGS_DIR,
                     base_version=base)


def publish_parts(default_part):
    rows = [row for row in table_rows.rows_of(PARTS) if row["key"] != "default_part"]
    text = table_rows.text_of([*rows, {"key": "default_part", "value": default_part}], PARTS)
    table_versions.publish("parts.yaml", text, who="admin", comment="c", mappings_dir=MAPPINGS_DIR,
                           base_version=None)


def test_the_stage_reads_the_serials_of_the_flows_mappings_and_the_tables(worker):
    assert begin() == {published.tables_key(): "0", published.mappings_key(FLOW): "0"}
    publish_order(ORDER.replace("PONum: {from: charge.id}", "PONum: {from: charge.description}"), 1)
    publish_parts("WIDGET-100")
    assert begin("evt_t") == {published.tables_key(): "1", published.mappings_key(FLOW): "1"}


def test_inside_a_stage_the_readers_ask_redis_nothing_while_the_serial_stands(worker, monkeypatch):
    serials = begin()
    with published.stage_serials(serials):
        first_texts, first_tables = versions.published_for(FLOW), tables.current_mappings(MAPPINGS_DIR)
    monkeypatch.setattr(store, "client", lambda: pytest.fail("a stage with current serials asked Redis"))
    with published.stage_serials(serials):
        assert versions.published_for(FLOW) is first_texts
        assert tables.current_mappings(MAPPINGS_DIR) is first_tables


def test_the_next_stage_after_a_publish_builds_with_it_at_once(worker):
    with published.stage_serials(begin()):
        assert tables.current_mappings(MAPPINGS_DIR).default_part == "STRIPE-SALE"
        assert "sales_order" not in versions.published_for(FLOW)
    publish_order(ORDER.replace("PONum: {from: charge.id}", "PONum: {from: charge.description}"), 1)
    publish_parts("WIDGET-100")
    with published.stage_serials(begin("evt_next")):  # no wait: the serials came with the stage
        assert tables.current_mappings(MAPPINGS_DIR).default_part == "WIDGET-100"
        assert "charge.description" in versions.published_for(FLOW)["sales_order"]


def test_a_table_file_edited_on_disk_is_read_again_without_a_restart(worker, tmp_path):
    site = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR, site)
    assert tables.current_mappings(site).default_part == "STRIPE-SALE"
    (site / "parts.yaml").write_text(PARTS.replace("default_part: STRIPE-SALE", "default_part: GADGET-200"),
                                     encoding="utf-8")
    assert tables.current_mappings(site).default_part == "GADGET-200"
