"""The Epicor sandbox counts the REST requests it serves at once (``GET stats/in-flight``) and can
refuse, for a window of time, every request that arrives while more than K are in flight with the
contract's licence error (``license_limit``, ``license_limit_seconds``): what the deployment-wide
limit's tests read and inject."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from flask import Flask

from sandbox.epicor import EpicorState, make_epicor_blueprint
from tests.unit.conftest import served

PARTS = "/KineticSandbox/api/v2/odata/EPIC06/Erp.BO.PartSvc/Parts"
HEADERS = {"Authorization": "Basic " + base64.b64encode(b"manager:manager").decode(),
           "x-api-key": "sandbox-api-key"}


def sandbox() -> Flask:
    app = Flask(__name__)
    app.register_blueprint(make_epicor_blueprint(EpicorState(":memory:")))
    return app


def at_once(base: str, count: int) -> list[requests.Response]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: requests.get(base + PARTS, headers=HEADERS, params={"$top": "1"},
                                                    timeout=10), range(count)))


def test_the_most_requests_served_at_once_is_counted():
    with served(sandbox()) as base:
        requests.put(base + "/_sandbox/epicor/faults", json={"latency_ms": 300}, timeout=5).raise_for_status()
        answers = at_once(base, 5)
        stats = requests.get(base + "/_sandbox/epicor/stats/in-flight", timeout=5).json()
        assert [answer.status_code for answer in answers] == [200] * 5
        assert stats["max_in_flight"] == 5 and stats["in_flight"] == 0
        requests.post(base + "/_sandbox/epicor/stats/reset", timeout=5).raise_for_status()
        assert requests.get(base + "/_sandbox/epicor/stats/in-flight", timeout=5).json()["max_in_flight"] == 0


def test_a_licence_window_refuses_requests_beyond_k_in_flight_then_ends():
    with served(sandbox()) as base:
        faults = {"latency_ms": 300, "license_limit": 2, "license_limit_seconds": 1.5}
        requests.put(base + "/_sandbox/epicor/faults", json=faults, timeout=5).raise_for_status()
        answers = at_once(base, 5)
        refused = [answer.json() for answer in answers if answer.status_code == 400]
        assert len(refused) >= 3 and sum(answer.status_code == 200 for answer in answers) >= 1
        assert all("LicenseAccessException" in body["ErrorType"] for body in refused)
        assert [answer.status_code for answer in at_once(base, 2)] == [200, 200]  # within K: served
        time.sleep(1.6)
        assert [answer.status_code for answer in at_once(base, 5)] == [200] * 5  # the window is over


def test_a_bad_licence_limit_is_refused():
    with served(sandbox()) as base:
        answer = requests.put(base + "/_sandbox/epicor/faults", json={"license_limit": -1}, timeout=5)
        assert answer.status_code == 400
