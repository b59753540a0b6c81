"""The worker's start check refuses a bad field mapping file, naming file, line and field: it never reaches
a payment."""

from __future__ import annotations

import shutil

import pytest

from tasks import preflight
from tasks.settings import REPO_ROOT


@pytest.fixture()
def site(monkeypatch, tmp_path):
    for name, value in {"EPICOR_BASE_URL": "https://erp.example.com/KineticLive", "EPICOR_USERNAME": "integration",
                        "EPICOR_PASSWORD": "pw", "EPICOR_API_KEY": "key", "STRIPE_API_KEY": "sk_test_unit"}.items():
        monkeypatch.setenv(name, value)
    for name in ("EPICOR_ALLOW_HTTP", "STRIPE_API_BASE", "RETRY_MAX"):
        monkeypatch.delenv(name, raising=False)
    shutil.copytree(REPO_ROOT / "mappings", tmp_path / "mappings")
    monkeypatch.setenv("MAPPINGS_DIR", str(tmp_path / "mappings"))
    return tmp_path / "mappings"


def test_a_valid_site_copy_passes(site):
    assert preflight.configuration_problems("worker") == []


def test_a_refused_document_mapping_stops_the_worker_with_file_line_and_field(site):
    order = site / "documents" / "order_to_cash" / "sales_order.yaml"
    order.write_text(order.read_text().replace("PONum: {from: charge.id}", "PONum: {from: charge.idd}"))
    line = next(n for n, text in enumerate(order.read_text().splitlines(), start=1) if "charge.idd" in text)
    [problem] = preflight.configuration_problems("worker")
    assert f"{order}:{line}: header.PONum.from: 'charge.idd' is not in the order_to_cash source" in problem
