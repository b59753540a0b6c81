"""The sandbox's faults aimed at one entity set or method (``path_latency_ms``,
``commit_then_timeout_paths``): what lets an integration test place a worker kill or a timeout at one
step of the bank funds transfer sequence instead of drawing it."""

from __future__ import annotations

import pytest
from flask import Flask

from sandbox.epicor import EpicorState, make_epicor_blueprint
from sandbox.epicor.faults import FaultSwitches


@pytest.fixture
def admin():
    app = Flask(__name__)
    app.register_blueprint(make_epicor_blueprint(EpicorState(":memory:")))
    return app.test_client()


def test_path_latency_is_added_to_the_named_method_only_whatever_its_case():
    faults = FaultSwitches()
    faults.update({"latency_ms": 100, "path_latency_ms": {"CreateBankTran": 5000}})
    assert faults.latency_seconds("createbanktran") == 5.1
    assert faults.latency_seconds("CreateBankTranRecords") == 0.1
    assert faults.latency_seconds() == 0.1


def test_an_aimed_commit_timeout_is_consumed_once_per_count_and_only_on_its_name():
    faults = FaultSwitches()
    faults.update({"timeout_seconds": 7, "commit_then_timeout_paths": {"CreateBankTranRecords": 2}})
    assert faults.draw_commit_timeout("BankTrans") is None
    assert [faults.draw_commit_timeout("CreateBankTranRecords") for _ in range(3)] == [7.0, 7.0, None]
    assert faults.snapshot()["commit_then_timeout_paths"] == {"createbanktranrecords": 0}


def test_reset_forgets_the_aimed_faults_and_a_snapshot_is_a_copy():
    faults = FaultSwitches()
    faults.update({"path_latency_ms": {"BankTrans": 10}})
    faults.snapshot()["path_latency_ms"]["BankTrans"] = 99999
    assert faults.latency_seconds("BankTrans") == 0.01
    faults.reset()
    assert faults.snapshot()["path_latency_ms"] == {} and faults.latency_seconds("BankTrans") == 0


@pytest.mark.parametrize("switch, value", [
    ("path_latency_ms", 300), ("path_latency_ms", {"BankTrans": -1}), ("path_latency_ms", {"": 5}),
    ("commit_then_timeout_paths", {"CreateBankTranRecords": 1.5}),
    ("commit_then_timeout_paths", {"CreateBankTranRecords": True}), ("commit_then_timeout_paths", ["x"]),
])
def test_a_malformed_aimed_fault_is_a_400_naming_the_switch(admin, switch, value):
    answer = admin.put("/_sandbox/epicor/faults", json={switch: value})
    assert answer.status_code == 400
    assert switch in answer.get_json()["ErrorMessage"]


def test_the_admin_endpoint_sets_and_shows_the_aimed_faults(admin):
    answer = admin.put("/_sandbox/epicor/faults", json={"path_latency_ms": {"CreateBankTran": 250},
                                                        "commit_then_timeout_paths": {"BankTrans": 1}})
    assert answer.status_code == 200
    shown = admin.get("/_sandbox/epicor/faults").get_json()
    assert shown["path_latency_ms"] == {"createbanktran": 250}
    assert shown["commit_then_timeout_paths"] == {"banktrans": 1}
