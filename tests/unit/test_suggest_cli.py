"""``celery -A tasks mapping suggest --json``: the JSON contract on standard input and output, refusals with
the reason and exit 2, every column of a table when target fields are omitted, under a second."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tasks.assist.service import SuggestRefused, suggest_document
from tasks.mapping_cli import main

REQUEST = {"source": {"object": "charge", "fields": [
    {"path": "charge.billing_details.address.postal_code", "sample": "94107"},
    {"path": "charge.billing_details.email", "sample": "jenny@example.com"},
    {"path": "charge.created", "sample": 1772649000},
    {"path": "charge.amount"},
    {"path": "charge.currency", "sample": "usd"}]},
    "target": {"table": "Customer", "fields": ["Customer.Zip", "Customer.EMailAddress", "CurrencyCode"]}}
CELERY = Path(sys.executable).with_name("celery")


def test_the_real_command_reads_stdin_and_prints_the_contract():
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"}  # no Redis: learning is skipped, never fatal
    done = subprocess.run([str(CELERY), "-A", "tasks", "mapping", "suggest", "--json"], input=json.dumps(REQUEST),
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert [s["target"] for s in answer["suggestions"]] == ["Customer.Zip", "Customer.EMailAddress",
                                                           "Customer.CurrencyCode"]
    zip_code = answer["suggestions"][0]["candidates"][0]
    assert zip_code["source"] == "charge.billing_details.address.postal_code"
    assert isinstance(zip_code["confidence"], float) and 0 <= zip_code["confidence"] <= 1
    assert zip_code["transform"] is None and zip_code["reasons"]
    assert answer["suggestions"][2]["candidates"][0]["transform"] == "currency_code"


def test_omitted_target_fields_mean_every_column():  # its time per document is bench.suggest's to measure
    request = {"source": REQUEST["source"], "target": {"table": "Customer"}}
    answer = suggest_document(request)
    targets = {s["target"] for s in answer["suggestions"]}
    assert {"Customer.Zip", "Customer.BTZip", "Customer.EMailAddress"} <= targets and len(targets) > 400
    assert all(len(s["candidates"]) <= 3 for s in answer["suggestions"])


def test_sources_may_be_named_by_their_object_only_and_epicor_may_be_the_source():
    answer = suggest_document({"source": {"object": "customer"}, "target": {"table": "Customer",
                                                                          "fields": ["Customer.Zip"]}})
    assert answer["suggestions"][0]["candidates"][0]["source"] == "customer.address.postal_code"
    back = suggest_document({"source": {"object": "Customer", "fields": [{"path": "Customer.EMailAddress"},
                                                                         {"path": "Customer.Name"}]},
                             "target": {"table": "customer", "fields": ["customer.email"]}})
    assert back["suggestions"][0]["candidates"][0]["source"] == "Customer.EMailAddress"


@pytest.mark.parametrize("request_, says", [
    ("not json", "Expecting value"),
    ([], "JSON object"),
    ({"target": {"table": "Customer"}}, "source is required"),
    ({"source": {"object": "charge"}, "target": {}}, "target.table"),
    ({"source": {"object": "charge"}, "target": {"table": "Payroll"}}, "not an Epicor table"),
    ({"source": {"object": "charge", "fields": [{"sample": 1}]}, "target": {"table": "Customer"}}, "path"),
    ({"source": {"object": "charge", "fields": "x"}, "target": {"table": "Customer"}}, "must be a list"),
    ({"source": {"object": "charge"}, "target": {"table": "Customer", "fields": ["OrderHed.PONum"]}},
     "one table per request"),
])
def test_a_bad_request_exits_2_with_the_reason(request_, says):
    text = request_ if isinstance(request_, str) else json.dumps(request_)
    done = CliRunner().invoke(main, ["suggest", "--json"], input=text)
    assert done.exit_code == 2 and says in done.output


def test_refusals_are_their_own_error():
    with pytest.raises(SuggestRefused):
        suggest_document({"source": {"object": "nothing"}, "target": {"table": "Customer"}})


def test_paths_may_omit_the_object_and_name_a_list_item_by_index():
    answer = suggest_document({"source": {"object": "invoice", "fields": [
        {"path": "lines.data[0].amount", "sample": 1000}, {"path": "total", "sample": 1000}]},
        "target": {"table": "InvcDtl", "fields": ["DocExtPrice"]}})
    best = answer["suggestions"][0]["candidates"][0]
    assert best["source"] == "lines.data[0].amount" and best["transform"] == "minor_to_decimal"
