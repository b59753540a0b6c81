"""What a stage needs from the outside world, built lazily once per worker thread.

Connectors are created from settings and handed to flow functions (STYLE.md point 6), so a flow never
builds its own client and tests can pass fakes at the connector boundary.

Integration pairs (``tasks.pairs``): an event's ``pair`` gives its settings (the pair's Stripe key,
Epicor base URL, company, credentials, mappings directory); an event of a Stripe Connect account its pair
lists is fetched with ``Stripe-Account`` set to that account. Each thread keeps one connector per pair
(and Connect account), so no connection, session or cache of one Epicor company serves another.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from tasks import pairs
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
        name = _connector_name("stripe", self.settings) + (f":{self.settings.stripe_account}"
                                                           if self.settings.stripe_account else "")
        return _thread_connector(name, lambda: StripeConnector(self.settings))

    @cached_property
    def epicor(self) -> EpicorClient:
        return _thread_connector(_connector_name("epicor", self.settings), lambda: EpicorClient(self.settings))

    @cached_property
    def mappings(self) -> Mappings:
        return mappings_for(self.settings)


def _connector_name(system: str, settings: Settings) -> str:
    return system if settings.pair == pairs.DEFAULT else f"{system}:{settings.pair}"


def _thread_connector(name: str, build: Any) -> Any:
    """One connector (and so one HTTP connection pool) per worker thread, reused across tasks."""
    connectors = getattr(_local, "connectors", None)
    if connectors is None:
        connectors = _local.connectors = {}
    if name not in connectors:
        connectors[name] = build()
    return connectors[name]


def context_for(event: dict[str, Any]) -> Context:
    """The context of ``event``'s pair; the default pair's is the environment's, as it always was."""
    name = event.get("pair") or pairs.DEFAULT
    if name == pairs.DEFAULT:
        return Context(settings=get_settings(), event=event)
    return Context(settings=pair_settings(name, event.get("account") or ""), event=event)


def pair_settings(name: str, account: str) -> Settings:
    """Pair ``name``'s settings, with ``Stripe-Account`` for an event of a Connect account it lists."""
    found = pairs.get_pairs().get(name)
    if found is None:  # the file changed under a queued event: its pair is no longer declared
        from tasks.errors import PermanentError

        raise PermanentError(f"event of pair {name}, which PAIRS_FILE no longer declares",
                             reason="config.unknown_pair")
    if account and account in found.connect_accounts:
        return replace(found.settings, stripe_account=account)
    return found.settings
