"""Two integration pairs in one deployment (issue 16, point 4), each with its own sandbox over HTTP.

The stack of this module's own (a private Redis, the receiver, one real Celery worker) serves the pair
``default`` (the environment: the stack's sandbox, its Stripe account and Epicor company) and the pair
``emea`` declared in ``PAIRS_FILE``: a second sandbox process on another port, so a second Stripe
account and a second Epicor company. Both are fed at once; each company must receive exactly its own
documents. A Connect event (``account`` on the event) delivered at the default pair's path goes to the
pair that lists the account; the other pair's secret is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.signing import sign_payload
from sandbox.stack import DEMO_SECRET, Stack, free_port, spawn, stop_processes, wait_for
from tests.integration.conftest import Harness, own_stack

pytestmark = pytest.mark.integration

EMEA_SECRET = "whsec_emea_pair_secret"
CONNECT_ACCOUNT = "acct_1EmeaShop"
PAIRS = """
pairs:
  emea:
    stripe:
      account: acct_1EmeaPlatform
      api_key_env: EMEA_STRIPE_API_KEY
      webhook_secret_env: EMEA_STRIPE_WEBHOOK_SECRET
      api_base: {sandbox}
      connect_accounts: [{connect}]
    epicor:
      base_url: {sandbox}/KineticSandbox
      company: EPIC06
      api_key_env: EMEA_EPICOR_API_KEY
      username_env: EMEA_EPICOR_USERNAME
      password_env: EMEA_EPICOR_PASSWORD
"""
EMEA_ENV = {"EMEA_STRIPE_API_KEY": "sk_test_emea_sandbox", "EMEA_STRIPE_WEBHOOK_SECRET": EMEA_SECRET,
            "EMEA_EPICOR_API_KEY": "sandbox-api-key", "EMEA_EPICOR_USERNAME": "manager",
            "EMEA_EPICOR_PASSWORD": "manager"}


class Pairs:
    """The running deployment and the second sandbox (pair ``emea``)."""

    def __init__(self, stack: Stack, emea_sandbox: str):
        self.stack, self.emea_sandbox = stack, emea_sandbox
        self.harness = Harness(stack)
        self.http = self.harness.http

    def payment(self, sandbox: str, tag: str, n: int) -> dict[str, Any]:
        response = self.http.post(f"{sandbox}/_sandbox/stripe/payments", timeout=10, json={
            "amount": 1000 + n, "currency": "usd", "customer": {
                "name": f"Pair {tag} {n}", "email": f"pair-{tag}-{n}@example.com",
                "address": {"line1": "1 Main St", "city": "Austin", "state": "TX", "postal_code": "78701",
                            "country": "US"}}})
        response.raise_for_status()
        return response.json()

    def deliver(self, event: dict[str, Any], path: str, secret: str) -> requests.Response:
        body = json.dumps(event).encode()
        headers = {"Stripe-Signature": sign_payload(body, [secret]), "Content-Type": "application/json"}
        return self.http.post(f"{self.stack.web_url}{path}", data=body, headers=headers, timeout=10)

    def epicor(self, sandbox: str) -> dict[str, Any]:
        return self.http.get(f"{sandbox}/_sandbox/epicor/dump", timeout=10).json()


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pairs]:
    base = tmp_path_factory.mktemp("pairs")
    port = free_port()
    emea_sandbox = f"http://127.0.0.1:{port}"
    (base / "pairs.yaml").write_text(textwrap.dedent(PAIRS.format(sandbox=emea_sandbox, connect=CONNECT_ACCOUNT)))
    (base / "emea").mkdir()
    with open(base / "emea-sandbox.log", "ab") as log:
        second = spawn([sys.executable, "-m", "sandbox", "serve", "--host", "127.0.0.1", "--port", str(port),
                        "--data-dir", str(base / "emea"), "--quiet"], cwd=Path(__file__).parents[2],
                       stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _answers(emea_sandbox), 30, "the second sandbox")
        with own_stack(base, {"PAIRS_FILE": str(base / "pairs.yaml"), **EMEA_ENV},
                       names=("sandbox", "web", "worker")) as stack:
            yield Pairs(stack, emea_sandbox)
    finally:
        stop_processes([second])


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/_sandbox/epicor/dump", timeout=2).ok
    except requests.RequestException:
        return False


def posted_intents(dump: dict[str, Any]) -> set[str]:
    return {order["IntExternalKey"] for order in dump["SalesOrders"] if order.get("IntExternalKey")}


def posted_charges(dump: dict[str, Any]) -> set[str]:
    return {receipt["ExternalID"] for receipt in dump["CashRecs"] if receipt.get("ExternalID")}


def test_two_pairs_fed_at_once_each_company_receives_exactly_its_own(pairs: Pairs):
    count = 6
    default_made = [pairs.payment(pairs.stack.sandbox_url, "default", n) for n in range(count)]
    emea_made = [pairs.payment(pairs.emea_sandbox, "emea", n) for n in range(count)]
    answers: list[requests.Response] = []

    def feed(made: list[dict[str, Any]], path: str, secret: str) -> None:
        answers.extend(pairs.deliver(event, path, secret) for payment in made for event in payment["events"])

    feeders = [threading.Thread(target=feed, args=(default_made, "/webhooks/stripe", DEMO_SECRET)),
               threading.Thread(target=feed, args=(emea_made, "/webhooks/stripe/emea", EMEA_SECRET))]
    for feeder in feeders:
        feeder.start()
    for feeder in feeders:
        feeder.join()
    assert [answer.status_code for answer in answers] == [200] * len(answers)
    ids = [answer.json()["event_id"] for answer in answers]
    records = pairs.harness.wait(*ids, timeout=120)
    assert {record["state"] for record in records} == {"done"}, [r.get("last_error") for r in records]
    assert {record["pair"] for record in records if record["id"].startswith("emea:")} == {"emea"}
    assert {record["pair"] for record in records if not record["id"].startswith("emea:")} == {"default"}

    default_dump, emea_dump = pairs.epicor(pairs.stack.sandbox_url), pairs.epicor(pairs.emea_sandbox)
    assert posted_intents(default_dump) == {payment["payment_intent"]["id"] for payment in default_made}
    assert posted_intents(emea_dump) == {payment["payment_intent"]["id"] for payment in emea_made}
    assert posted_charges(default_dump) == {payment["charge"]["id"] for payment in default_made}
    assert posted_charges(emea_dump) == {payment["charge"]["id"] for payment in emea_made}


def test_a_connect_event_is_routed_by_its_account(pairs: Pairs):
    payment = pairs.payment(pairs.emea_sandbox, "connect", 1)
    ids = []
    for event in payment["events"]:  # at the platform's (default) endpoint, signed with its secret
        answer = pairs.deliver({**event, "account": CONNECT_ACCOUNT}, "/webhooks/stripe", DEMO_SECRET)
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["event_id"])
    assert all(event_id.startswith("emea:") for event_id in ids)
    records = pairs.harness.wait(*ids, timeout=60)
    assert {(record["state"], record["pair"], record["account"]) for record in records} == \
        {("done", "emea", CONNECT_ACCOUNT)}
    intent = payment["payment_intent"]["id"]
    assert intent in posted_intents(pairs.epicor(pairs.emea_sandbox))
    assert intent not in posted_intents(pairs.epicor(pairs.stack.sandbox_url))


def test_the_wrong_pairs_secret_and_a_stranger_account_are_refused(pairs: Pairs):
    payment = pairs.payment(pairs.emea_sandbox, "refused", 1)
    event = payment["events"][0]
    wrong = pairs.deliver(event, "/webhooks/stripe/emea", DEMO_SECRET)
    assert wrong.status_code == 400 and "signature" in wrong.json()["error"]
    stranger = pairs.deliver({**event, "account": "acct_1Stranger"}, "/webhooks/stripe/emea", EMEA_SECRET)
    assert stranger.status_code == 400 and "no pair lists" in stranger.json()["error"]
    assert pairs.deliver(event, "/webhooks/stripe/apac", EMEA_SECRET).status_code == 404
    assert pairs.harness.event(f"emea:{event['id']}").get("state") is None


def test_a_mapping_published_for_a_pair_reaches_its_next_payment_and_not_the_others(pairs: Pairs):
    """Issue 16 point 4: each pair has its own mappings. A sales order mapping published over the API for
    ``emea`` is what emea's next payment is posted with; the default pair's next payment keeps the file."""
    from app.console.users import user_line, write_user

    write_user(pairs.stack.console_users_path, "pairs-admin", user_line("pairs-admin", "pairs-admin-pw", "admin",
                                                                       rounds=4))
    admin = requests.Session()
    admin.auth = ("pairs-admin", "pairs-admin-pw")
    api = f"{pairs.stack.web_url}/api/mappings/order_to_cash/sales_order"
    wait_for(lambda: admin.get(f"{api}?pair=emea", timeout=10).ok, 15,
             "the admin user (the web reads the users file on change)")
    live = admin.get(f"{api}?pair=emea", timeout=10).json()
    text = live["text"].replace("PONum: {from: charge.id}", "PONum: {from: charge.description, transforms: "
                                "[{name: truncate, length: 50}]}")
    made = admin.post(f"{api}/publish", timeout=10, json={"pair": "emea", "yaml": text, "base_version": live["version"],
                                                          "comment": "EMEA: PO number from the description"})
    assert made.status_code == 201, made.text
    assert admin.get(api, timeout=10).json()["version"] == 1  # the default pair's: untouched

    def pay(sandbox: str, path: str, secret: str, description: str) -> tuple[dict[str, Any], dict[str, Any]]:
        response = pairs.http.post(f"{sandbox}/_sandbox/stripe/payments", timeout=10, json={
            "amount": 2500, "currency": "usd", "description": description,
            "customer": {"name": "Pair Mappings Ltd", "email": "ap@pair-mappings.example"}})
        response.raise_for_status()
        payment = response.json()
        ids = [pairs.deliver(event, path, secret).json()["event_id"] for event in payment["events"]]
        records = pairs.harness.wait(*ids, timeout=90)
        assert {record["state"] for record in records} == {"done"}, [r.get("last_error") for r in records]
        intent = payment["payment_intent"]["id"]
        order = next(row for row in pairs.epicor(sandbox)["SalesOrders"] if row["IntExternalKey"] == intent)
        built = next(r for r in records if "sales_order" in (r.get("mapping_version") or {}))
        return payment, {**order, "mapping_version": built["mapping_version"]}

    emea_payment, emea_order = pay(pairs.emea_sandbox, "/webhooks/stripe/emea", EMEA_SECRET, "EMEA order 88")
    home_payment, home_order = pay(pairs.stack.sandbox_url, "/webhooks/stripe", DEMO_SECRET, "Home order 88")
    assert emea_order["PONum"] == "EMEA order 88"
    assert emea_order["mapping_version"]["sales_order"] == made.json()["version"]
    assert home_order["PONum"] == home_payment["charge"]["id"]  # the file's mapping, not emea's version
    assert home_order["mapping_version"]["sales_order"] == 1
