"""The Epicor concurrency limit gauge per integration pair: each pair's shared permits report to the gauge
under its own ``pair`` label (each Epicor company has its own limit and back-off)."""

from __future__ import annotations

from dataclasses import replace

from prometheus_client import REGISTRY, generate_latest

from tasks import budget
from tasks.settings import load_settings


class Permits:
    """Stands for SharedPermits: keeps what it was built with."""

    def __init__(self, name, worker, policy, redis, on_limit=None):
        self.name, self.on_limit = name, on_limit

    def start(self) -> None:
        pass


def test_each_pairs_permits_set_the_gauge_under_its_pair(monkeypatch):
    monkeypatch.setattr(budget, "SharedPermits", Permits)
    monkeypatch.setattr(budget, "_enabled", True)
    monkeypatch.setattr(budget, "_shared", {})
    settings = load_settings()
    default = budget.epicor_permits(settings)
    emea = budget.epicor_permits(replace(settings, pair="emea"))
    assert (default.name, emea.name) == ("epicor", "epicor:emea")
    default.on_limit(8)
    emea.on_limit(3)  # emea's Epicor is overloaded: its limit alone is lowered
    text = generate_latest(REGISTRY).decode()
    assert 'stripe_epicor_epicor_concurrency_limit{pair="default"} 8.0' in text
    assert 'stripe_epicor_epicor_concurrency_limit{pair="emea"} 3.0' in text
