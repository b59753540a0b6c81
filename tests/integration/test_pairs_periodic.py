"""The catch-up and ``doctor`` of a second integration pair, against its own sandbox over HTTP.

The two-pair deployment of ``test_pairs`` (its own stack: the pair ``default`` on the stack's sandbox, the
pair ``emea`` on a second sandbox process): events Stripe has in each account but never delivered are found
by ``python -m tasks.catchup`` with each pair's own key, queued as that pair's and posted into that pair's
Epicor company only; ``doctor --pair emea`` checks emea's Stripe key and Epicor company in emea's section.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from sandbox.stack import ROOT
from tests.integration.test_pairs import Pairs, pairs, posted_intents  # noqa: F401 - pairs: the fixture

pytestmark = pytest.mark.integration


def run(stack, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=stack.env(), capture_output=True,
                          text=True, timeout=120, check=False)


def catch_up(stack, *args: str) -> dict[str, Any]:
    done = run(stack, "tasks.catchup", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_each_pairs_missed_events_are_caught_up_into_its_own_company(pairs: Pairs):  # noqa: F811
    since = str(int(time.time()) - 1)
    emea = pairs.payment(pairs.emea_sandbox, "missed-emea", 7)
    default = pairs.payment(pairs.stack.sandbox_url, "missed-default", 7)

    only_emea = catch_up(pairs.stack, "--pair", "emea", "--since", since)
    assert list(only_emea["pairs"]) == ["emea"]
    assert set(only_emea["queued_ids"]) == {f"emea:{event['id']}" for event in emea["events"]}
    records = pairs.harness.wait(*only_emea["queued_ids"], timeout=120)
    assert {(record["state"], record["pair"]) for record in records} == {("done", "emea")}
    intent = emea["payment_intent"]["id"]
    assert intent in posted_intents(pairs.epicor(pairs.emea_sandbox))
    assert intent not in posted_intents(pairs.epicor(pairs.stack.sandbox_url))

    every = catch_up(pairs.stack, "--since", since)  # the default pair's now; emea's were received
    assert set(every["pairs"]) == {"default", "emea"} and every["pairs"]["emea"]["queued"] == 0
    assert set(every["queued_ids"]) >= {event["id"] for event in default["events"]}
    assert not any(event_id.startswith("emea:") for event_id in every["queued_ids"])
    pairs.harness.wait(*(event["id"] for event in default["events"]), timeout=120)
    assert default["payment_intent"]["id"] in posted_intents(pairs.epicor(pairs.stack.sandbox_url))
    assert default["payment_intent"]["id"] not in posted_intents(pairs.epicor(pairs.emea_sandbox))


def test_doctor_checks_a_pair_with_its_own_stripe_key_and_epicor_company(pairs: Pairs):  # noqa: F811
    done = run(pairs.stack, "tasks.doctor", "--json", "--pair", "emea", "--url",
               f"{pairs.stack.web_url}/webhooks/stripe")
    checks = json.loads(done.stdout)["checks"]
    emea = {check["name"]: check for check in checks if check.get("pair") == "emea"}
    assert emea["Stripe API key"]["status"] == "pass"
    assert emea["Epicor"]["status"] == "pass" and pairs.emea_sandbox in emea["Epicor"]["detail"]
    assert not any(check.get("pair") == "default" for check in checks)
    text = run(pairs.stack, "tasks.doctor", "--url", f"{pairs.stack.web_url}/webhooks/stripe").stdout
    assert "Pair default:" in text and "Pair emea:" in text
    assert run(pairs.stack, "tasks.doctor", "--pair", "apac").returncode == 2
