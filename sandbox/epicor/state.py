"""The emulator's state: stored rows, fault switches, call statistics, settings and the event outbox.

``EpicorState`` is what the sandbox server builds once and hands to ``make_epicor_blueprint``; tests
build their own on ``:memory:`` or a temporary file. A new database is seeded on first open; an
existing one is used as it is, so data survives a restart. ``reset()`` restores a freshly seeded
database and also clears statistics and fault switches and restores the constructor's settings, so
one test's chaos cannot leak into the next.
"""

from __future__ import annotations

from typing import Any

from .documents import WriteContext
from .events import EventEmitter
from .faults import FaultSwitches
from .payout_reference import seed_payout_setup
from .reference import seed_setup
from .seed import seed
from .stats import CallStats
from .store import RowStore


class EpicorState:
    """Everything the Epicor emulator knows, for one company."""

    def __init__(self, db_path: str, *, company: str = "EPIC06", username: str = "manager",
                 password: str = "manager", api_key: str = "sandbox-api-key",  # noqa: S107 - emulator's demo login
                 strict_parts: bool = False) -> None:
        self.company = company
        self.username = username
        self.password = password
        self.api_key = api_key
        self._default_strict_parts = strict_parts
        self.strict_parts = strict_parts
        self.store = RowStore(db_path)
        self.faults = FaultSwitches()
        self.stats = CallStats()
        self.events = EventEmitter(company)
        if self.store.get_meta("seeded") is None:
            seed(self.store, company)
        seed_setup(self.store, company)
        seed_payout_setup(self.store, company)

    def reset(self) -> None:
        """Wipe and reseed the data; clear statistics, faults and settings."""
        with self.store.lock:
            self.store.wipe()
            seed(self.store, self.company)
            seed_setup(self.store, self.company)
            seed_payout_setup(self.store, self.company)
        self.stats.reset()
        self.faults.reset()
        self.events.reset()
        self.strict_parts = self._default_strict_parts

    def write_context(self) -> WriteContext:
        """The context business rules run in."""
        return WriteContext(self.company, self.username, self.strict_parts)

    def settings(self) -> dict[str, Any]:
        """The adjustable settings."""
        return {"strict_parts": self.strict_parts, **self.events.settings.public()}
