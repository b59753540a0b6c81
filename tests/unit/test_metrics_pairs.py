"""Every pipeline metric carries the integration pair (issue 16 point 4): a stage of an ``emea`` event is
timed, retried, dead-lettered and counts its money under ``pair="emea"``, and a request to Epicor or Stripe
made while working for ``emea`` counts under it; the default pair's are ``default``.

The stage runs through the pipeline's own base task (``tasks.base.PipelineTask.run_stage``) on a fake Redis,
with a flow of the test's own (each stage a plain function); the requests go through the connectors'
``PinnedSession`` to ``responses``.
"""

from __future__ import annotations

import pytest
import responses
from prometheus_client import REGISTRY

from tasks import base, pairs, store
from tasks.connectors.http import PinnedSession
from tasks.errors import PermanentError
from tasks.flows import Flow


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def post_receipt(_ctx, _stage_input):
    return {"keys": {"HeadNum": 7}}


def refuse(_ctx, _stage_input):
    raise PermanentError("Epicor refused the receipt", reason="epicor.business_rule")


FLOW = Flow(name="metrics_pairs", fetch=post_receipt, transform=post_receipt, validate=refuse, post=post_receipt,
            status_update=post_receipt)
RECEIPT = {"documents": {"currency": "EUR", "amount": "12.50"}}


@pytest.fixture()
def stage_task(fake_redis, monkeypatch):
    """The post task of the pipeline, run in this process on a flow of the test's own."""
    from tasks.stages.post import post

    monkeypatch.setattr(base, "flow_named", lambda _name: FLOW)
    monkeypatch.setattr(base, "context_for", lambda _event: None)  # the test's stages read no connector
    post.push_request(retries=0, id="req-metrics-pairs")
    yield post
    post.pop_request()


def queued(event_id: str, pair: str, stage: str) -> dict:
    store.record_event({"id": event_id, "source": "stripe", "type": "charge.succeeded", "flow": FLOW.name,
                        "pair": pair})
    store.put_stage_input(event_id, stage, RECEIPT)
    return {"event_id": event_id, "flow": FLOW.name, **({"pair": pair} if pair != "default" else {})}


def test_a_stage_of_a_pairs_event_is_measured_under_its_pair(stage_task):
    ran = {"flow": FLOW.name, "stage": "post", "outcome": "ok"}
    before = {pair: sample("stripe_epicor_stage_duration_seconds_count", **ran, pair=pair)
              for pair in ("emea", "default")}
    money_before = sample("stripe_epicor_posted_amount_total", flow=FLOW.name, currency="EUR", pair="emea")

    stage_task.run_stage("post", queued("emea:evt_m1", "emea", "post"))

    assert sample("stripe_epicor_stage_duration_seconds_count", **ran, pair="emea") == before["emea"] + 1
    assert sample("stripe_epicor_stage_duration_seconds_count", **ran, pair="default") == before["default"]
    assert sample("stripe_epicor_posted_amount_total", flow=FLOW.name, currency="EUR", pair="emea") \
        == money_before + 12.5
    stage_task.run_stage("post", queued("evt_m2", "default", "post"))
    assert sample("stripe_epicor_stage_duration_seconds_count", **ran, pair="default") == before["default"] + 1


def test_a_dead_letter_of_a_pairs_event_is_counted_under_its_pair(stage_task):
    dead = {"flow": FLOW.name, "stage": "validate", "reason": "epicor.business_rule"}
    before = sample("stripe_epicor_dead_lettered_total", **dead, pair="emea")
    with pytest.raises(base.DeadLettered):
        stage_task.run_stage("validate", queued("emea:evt_m3", "emea", "validate"))
    assert sample("stripe_epicor_dead_lettered_total", **dead, pair="emea") == before + 1
    assert sample("stripe_epicor_dead_lettered_total", **dead, pair="default") == 0
    assert sample("stripe_epicor_stage_duration_seconds_count", flow=FLOW.name, stage="validate",
                  outcome="error", pair="emea") >= 1


@responses.activate
def test_a_request_made_for_a_pair_is_counted_under_it():
    responses.get("https://erp.example.com/KineticEMEA/api/v2/odata/EMEA01/Erp.BO.CustomerSvc/Customers",
                  json={"value": []})
    session = PinnedSession("https://erp.example.com/KineticEMEA", system="epicor")
    request = {"system": "epicor", "resource": "Erp.BO.CustomerSvc", "method": "GET", "outcome": "2xx"}
    before = {pair: sample("stripe_epicor_api_requests_total", **request, pair=pair) for pair in ("emea", "default")}
    with pairs.working_for("emea"):
        session.get("https://erp.example.com/KineticEMEA/api/v2/odata/EMEA01/Erp.BO.CustomerSvc/Customers")
    assert sample("stripe_epicor_api_requests_total", **request, pair="emea") == before["emea"] + 1
    assert sample("stripe_epicor_api_requests_total", **request, pair="default") == before["default"]
    session.get("https://erp.example.com/KineticEMEA/api/v2/odata/EMEA01/Erp.BO.CustomerSvc/Customers")
    assert sample("stripe_epicor_api_requests_total", **request, pair="default") == before["default"] + 1
    assert sample("stripe_epicor_api_request_duration_seconds_count", system="epicor",
                  resource="Erp.BO.CustomerSvc", method="GET", pair="emea") >= 1
