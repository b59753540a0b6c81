"""A field mapping file edited on disk takes effect on the next payment, without a worker restart, and an
unchanged file is not parsed again for each event (a stat per file, not a YAML parse)."""

import os
import shutil
from types import SimpleNamespace

import pytest

from tasks.flows import order_to_cash
from tasks.mapping import engine
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR, payment_fixture


@pytest.fixture()
def site_dir(tmp_path):
    site = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR, site)
    return site


def order_header(ctx: SimpleNamespace) -> dict:
    documents = order_to_cash.transform(ctx, payment_fixture("payment_usd_customer"))["documents"]
    return next(doc for doc in documents if doc["kind"] == "sales_order")["header"]


def test_an_edited_mapping_file_is_used_by_the_next_payment(site_dir):
    ctx = SimpleNamespace(mappings=load_mappings(site_dir), settings=SimpleNamespace(mappings_dir=site_dir))
    assert order_header(ctx)["PONum"] == "ch_3QxUsdCustomer0001Ab"
    path = site_dir / "documents" / "order_to_cash" / "sales_order.yaml"
    path.write_text(path.read_text().replace("PONum: {from: charge.id}", "PONum: {const: STRIPE}"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a clock too coarse to tell the edits apart
    assert order_header(ctx)["PONum"] == "STRIPE"


def test_an_unchanged_file_is_not_parsed_again(site_dir, monkeypatch):
    ctx = SimpleNamespace(mappings=load_mappings(site_dir), settings=SimpleNamespace(mappings_dir=site_dir))
    order_header(ctx)
    parsed = []
    compose = engine.yaml.compose
    monkeypatch.setattr(engine.yaml, "compose", lambda *args, **kwargs: parsed.append(1) or compose(*args, **kwargs))
    for _ in range(3):
        order_header(ctx)
    assert parsed == []
