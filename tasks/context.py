"""What a stage needs from the outside world, built lazily once per worker thread.

Connectors are created from settings and handed to flow functions (STYLE.md point 6), so a flow never
builds its own client and tests can pass fakes at the connector boundary.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tasks.connectors.epicor import EpicorClient
from tasks.connectors.stripe_api import StripeConnector
from tasks.mapping.tables import Mappings, current_mappings
from tasks.settings import Settings, get_settings

_local = threading.local()


def mappings_for(settings: Settings) -> Mappings:
    return current_mappings(settings.mappings_dir)  # the files, or the tables published from the console


@dataclass
class Context:
    settings: Settings
    event: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def stripe(self) -> StripeConnector:
        return _thread_connector("stripe", lambda: StripeConnector(self.settings))

    @cached_property
    def epicor(self) -> EpicorClient:
        return _thread_connector("epicor", lambda: EpicorClient(self.settings))

    @cached_property
    def mappings(self) -> Mappings:
        return mappings_for(self.settings)


def _thread_connector(name: str, build: Any) -> Any:
    """One connector (and so one HTTP connection pool) per worker thread, reused across tasks."""
    connectors = getattr(_local, "connectors", None)
    if connectors is None:
        connectors = _local.connectors = {}
    if name not in connectors:
        connectors[name] = build()
    return connectors[name]


def context_for(event: dict[str, Any]) -> Context:
    return Context(settings=get_settings(), event=event)
