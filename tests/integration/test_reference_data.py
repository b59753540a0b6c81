"""Reference data on an Epicor that lacks some (issue 11, point 1), on a stack of this module's own.

The sandbox's Epicor starts without the catch-all customer of ``mappings/defaults.yaml``, and the site's
``parts.yaml`` maps a Stripe product to a part Epicor does not have. Guests without an e-mail post (the
catch-all is created once); the unmapped part dead-letters with the key to fix and the Epicor screen,
and ``celery -A tasks dlq retry`` posts it once the part is created, exactly once.

The stack is its own (a private Redis, its own mapping directory) because the product id the site maps
is only known once the sandbox has made the product, before the worker reads its mappings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.stack import ROOT, Stack
from tests.integration.conftest import Harness, own_stack
from tests.integration.test_order_to_cash import assert_one_set, documents_for, post_all_events

pytestmark = pytest.mark.integration
CELERY = str(Path(sys.executable).parent / "celery")
MISSING_PART = "GIZMO-7"
PRODUCT_NAME = "Gizmo seven"
NO_EMAIL = {"name": None, "email": None, "phone": None,
            "address": {"line1": None, "city": None, "state": None, "postal_code": "10115", "country": "DE"}}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    base = tmp_path_factory.mktemp("reference_data")
    mappings = base / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    with own_stack(base, {"MAPPINGS_DIR": str(mappings)}, names=("sandbox",)) as stack:
        harness = Harness(stack)
        sale = harness.create_payment(amount=3000, currency="usd",
                                      customer={"name": "Gizmo Buyer", "email": "gizmo@shop.example"},
                                      line_items=[{"product_name": PRODUCT_NAME, "unit_amount": 3000}])
        product_id = next(p["id"] for p in harness.stripe_dump()["product"] if p["name"] == PRODUCT_NAME)
        parts = (mappings / "parts.yaml").read_text().replace("products: {}", f"products:\n  {product_id}: "
                                                                            f"{MISSING_PART}")
        (mappings / "parts.yaml").write_text(parts)
        stack.start(["web", "worker"])
        yield SimpleNamespace(stack=stack, harness=harness, sale=sale, product_id=product_id)


def dlq(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CELERY, "-A", "tasks", "dlq", *args], env=stack.env(), capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def catch_alls(harness: Harness) -> list[dict[str, Any]]:
    return [row for row in harness.epicor()["Customers"] if row["CustID"] == "STRIPEGUES"]


def test_guests_without_email_post_to_a_catch_all_created_once(site):
    harness = site.harness
    assert catch_alls(harness) == []
    guests = [harness.create_payment(amount=amount, currency="usd", customer=None, billing_details=NO_EMAIL,
                                     api_version=version)
              for amount, version in ((1999, None), (2500, "2020-08-27"), (3100, "2024-06-20"))]
    for payment in guests:  # every event of every guest at once: they race to the one catch-all
        for event in payment["events"]:
            assert harness.deliver(event).status_code == 200
    records = harness.wait(*(event["id"] for payment in guests for event in payment["events"]))
    assert {r["state"] for r in records} == {"done"}, [r.get("last_error") for r in records]
    created = catch_alls(harness)
    assert len(created) == 1
    dump = harness.epicor()
    for payment, amount in zip(guests, ("19.99", "25.00", "31.00")):
        documents = documents_for(dump, payment)
        assert_one_set(documents, amount, "USD")
        assert documents["orders"][0]["CustNum"] == created[0]["CustNum"]


def test_a_part_missing_in_epicor_names_the_key_and_screen_then_posts_once_after_dlq_retry(site):
    stack, harness, sale = site.stack, site.harness, site.sale
    records = post_all_events(harness, sale)
    assert {r["state"] for r in records} == {"dead"}
    error = records[0]["last_error"]
    assert error["reason"] == "reference.missing_part"
    assert f"Part '{MISSING_PART}' is not in Epicor" in error["message"]
    assert "Part Maintenance" in error["message"]
    assert f"mappings/parts.yaml key products.{site.product_id}" in error["message"]
    assert documents_for(harness.epicor(), sale)["orders"] == []

    added = harness.http.post(f"{stack.sandbox_url}/_sandbox/epicor/parts", timeout=5, json={
        "PartNum": MISSING_PART, "PartDescription": PRODUCT_NAME, "UnitPrice": 30.0, "IUM": "EA", "SalesUM": "EA"})
    assert added.status_code == 201
    event_ids = [event["id"] for event in sale["events"]]
    for event_id in event_ids:
        retried = dlq(stack, "retry", event_id)
        assert retried.returncode == 0, retried.stderr
    assert {r["state"] for r in harness.wait(*event_ids)} == {"done"}
    documents = documents_for(harness.epicor(), sale)
    assert_one_set(documents, "30.00", "USD")
    assert [line["PartNum"] for line in documents["order_lines"]] == [MISSING_PART]
    remaining = {r["id"] for r in json.loads(dlq(stack, "list", "--json").stdout)}
    assert not set(event_ids) & remaining
