"""The Stripe sandbox's in-memory copy: lists narrowed through a field index return what filtering every
object returns, through inserts, saves that change the indexed field, a restart and a reset; reads hand
out copies the caller may change freely."""

from __future__ import annotations

import random

from sandbox.stripe_api import queries
from sandbox.stripe_api.state import StripeState

FILTERS = ("customer", "payment_intent", "status", "created", "payout")
VALUES = {"customer": ["cus_A", "cus_a", "cus_B", None, ""], "payment_intent": ["pi_1", "pi_2", None],
          "status": ["complete", "Complete", "open", True, False], "_payout": ["po_1", None]}


def random_object(rnd: random.Random, number: int) -> dict:
    return {"id": f"obj_{number:04d}", "object": "thing", "created": rnd.choice([100, 200, 300]),
            **{field: rnd.choice(values) for field, values in VALUES.items()}}


def random_params(rnd: random.Random) -> dict:
    params: dict = {}
    for name in rnd.sample(FILTERS, rnd.randint(0, 3)):
        params[name] = rnd.choice({
            "customer": ["cus_A", "cus_a", "None", "", "CUS_B"], "payment_intent": ["pi_1", "pi_2", "None"],
            "status": ["complete", "COMPLETE", "open", "true", "True", "all"], "created": ["200", {"gte": "200"}],
            "payout": ["po_1", "po_2"]}[name])
    return params


def test_indexed_lists_match_filtering_every_object(tmp_path):
    rnd = random.Random(3)
    path = str(tmp_path / "stripe.sqlite3")
    state = StripeState(path)
    for step in range(400):
        if step == 200:
            state.close()
            state = StripeState(path)
        if rnd.random() < 0.5 or step < 10:
            state.insert(random_object(rnd, step))
        else:
            stored = rnd.choice(state.all_of("thing"))
            field = rnd.choice(list(VALUES))
            stored[field] = rnd.choice(VALUES[field])
            state.save(stored)
        params = random_params(rnd)
        assert queries.matching(state, "thing", params, FILTERS) == \
            queries.filter_objects(state.all_of("thing"), params, FILTERS), params
    state.reset()
    assert state.all_of("thing") == [] and state.having("thing", "customer", "cus_A") == []
    state.close()


def test_reads_are_copies_and_saves_of_unknown_objects_are_ignored():
    state = StripeState(":memory:")
    state.insert({"id": "cus_1", "object": "customer", "created": 1, "email": "a@x", "metadata": {}})
    read = state.get("cus_1")
    read["email"] = "changed"
    read["metadata"]["k"] = "v"
    assert state.get("cus_1") == {"id": "cus_1", "object": "customer", "created": 1, "email": "a@x", "metadata": {}}
    assert state.get("cus_1", "charge") is None
    state.save({"id": "cus_missing", "object": "customer", "email": "a@x"})
    assert state.get("cus_missing") is None
    assert [c["id"] for c in state.having("customer", "email", "A@X")] == ["cus_1"]
    assert state.dump() == {"customer": [state.get("cus_1")]}
    state.close()
