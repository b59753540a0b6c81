"""Admin endpoints under ``/_sandbox/epicor`` for tests and the sandbox CLI: no auth, no faults.

``GET dump`` every set's rows; ``POST reset`` wipe and reseed (also clears stats, faults, settings);
``GET/PUT faults`` read or merge the fault switches; ``POST parts`` add a part (how a test "fixes the
cause" of a strict-parts rejection); ``POST banks`` add a bank account (a site's own clearing bank per
currency); ``GET/PUT settings`` strict-parts mode and the outbound
events (``events.py``), ``GET events`` their deliveries; ``GET stats`` and ``POST stats/reset``
the REST call counts (``GET stats/in-flight`` the requests served at once, now and at most);
``POST groups/<InvcGrps|CashGrps>/<GroupID>/post`` posts a group as the
accountant would (documents marked posted, the group removed); ``DELETE reference/<set>/<code>``
removes a row of reference data (``Parts``, ``Reasons`` as ``<type>/<code>``, ``Currencies``, ``Terms``,
``BankAccts``, ``Companies``, ``BankFees``, ``JrnlCodes``, ``GLBooks``, ``COAs``, ``GLAccounts`` as
``<COACode>/<GLAccount1>``) to show a site missing it; ``GET bank/<BankAcctID>`` the bank's register
(``registers.py``). Bodies are JSON whatever the
Content-Type says; a bad body is a 400 with the same error shape as the REST API.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from .body import json_object, parse_body
from .documents.groups import POSTED_WITH, post_group
from .errors import api_error, business_error, duplicate_error
from .events import SETTING_NAMES
from .reference import REMOVABLE, reference_key
from .registers import bank_register
from .responses import json_response
from .schema import DUMP_ORDER, ENTITY_SETS, blank_row
from .seed import add_part
from .state import EpicorState

PREFIX = "/_sandbox/epicor"


def register_admin(bp: Blueprint, state: EpicorState) -> None:
    """Add the admin routes to ``bp``."""
    routes = {
        ("/dump", "GET"): lambda: json_response(_dump(state)),
        ("/reset", "POST"): lambda: _reset(state),
        ("/faults", "GET"): lambda: json_response(state.faults.snapshot()),
        ("/faults", "PUT"): lambda: json_response(state.faults.update(_json_object())),
        ("/parts", "POST"): lambda: _add_part(state),
        ("/banks", "POST"): lambda: _add_bank(state),
        ("/settings", "GET"): lambda: json_response(state.settings()),
        ("/settings", "PUT"): lambda: _put_settings(state),
        ("/stats", "GET"): lambda: json_response(state.stats.snapshot()),
        ("/stats/reset", "POST"): lambda: _reset_stats(state),
        ("/stats/in-flight", "GET"): lambda: json_response(state.stats.in_flight_snapshot()),
        ("/events", "GET"): lambda: json_response(state.events.snapshot()),
    }
    for (rule, method), view in routes.items():
        endpoint = f"admin_{rule.strip('/').replace('/', '_')}_{method.lower()}"
        bp.add_url_rule(PREFIX + rule, endpoint, view, methods=[method])
    bp.add_url_rule(PREFIX + "/groups/<set_name>/<group_id>/post", "admin_groups_post",
                    lambda set_name, group_id: _post_group(state, set_name, group_id), methods=["POST"])
    bp.add_url_rule(PREFIX + "/bank/<bank_id>", "admin_bank_register",
                    lambda bank_id: json_response(bank_register(state, bank_id)), methods=["GET"])
    bp.add_url_rule(PREFIX + "/reference/<set_name>/<path:code>", "admin_reference_delete",
                    lambda set_name, code: _remove_reference(state, set_name, code), methods=["DELETE"])


def _json_object() -> dict[str, Any]:
    return json_object(request.get_data() or b"{}", "The body")


def _dump(state: EpicorState) -> dict[str, list[dict]]:
    rows = state.store.dump()
    return {name: rows[name] for name in DUMP_ORDER}


def _reset(state: EpicorState) -> Response:
    state.reset()
    return json_response({"reset": True})


def _add_part(state: EpicorState) -> Response:
    fields = parse_body(request.get_data(), ENTITY_SETS["Parts"])
    with state.store.transaction() as txn:
        part = add_part(txn, state.company, fields)
    return json_response(part, 201)


def _add_bank(state: EpicorState) -> Response:
    """One more open bank account (a 409 if it exists); its currency defaults to USD like the seeded ones."""
    fields = parse_body(request.get_data(), ENTITY_SETS["BankAccts"])
    bank = {**blank_row("BankAcct", state.company), "CurrencyCode": "USD", "Closed": False, **fields,
            "Company": state.company}
    bank["BankAcctID"] = (bank["BankAcctID"] or "").strip()
    if not 0 < len(bank["BankAcctID"]) <= 10:
        raise business_error("Bank account id is required (at most 10 characters).", "BankAcct", "BankAcctID")
    with state.store.transaction() as txn:
        if txn.get("BankAccts", (state.company, bank["BankAcctID"])) is not None:
            raise duplicate_error(f"Bank account {bank['BankAcctID']} already exists.", "BankAcct", "BankAcctID")
        return json_response(txn.insert("BankAccts", bank), 201)


def _put_settings(state: EpicorState) -> Response:
    settings = _json_object()
    unknown = set(settings) - {"strict_parts"} - SETTING_NAMES
    if unknown:
        raise api_error(400, f"Unknown setting(s): {', '.join(sorted(unknown))}.")
    if "strict_parts" in settings:
        if not isinstance(settings["strict_parts"], bool):
            raise api_error(400, "strict_parts must be true or false.")
        state.strict_parts = settings["strict_parts"]
    state.events.configure(settings)
    return json_response(state.settings())


def _post_group(state: EpicorState, set_name: str, group_id: str) -> Response:
    """What the accountant's posting does, as far as the integration can see (documents/groups.py)."""
    if set_name not in POSTED_WITH:
        raise api_error(404, f"Not a group set: {set_name} (InvcGrps or CashGrps).")
    posted = post_group(state.store, state.company, set_name, group_id)
    if posted is None:
        raise api_error(404, f"No {set_name} group {group_id}.")
    return json_response(posted)


def _remove_reference(state: EpicorState, set_name: str, code: str) -> Response:
    """Remove one row of reference data; a 404 when the set is not one of them or the row is absent."""
    if set_name not in REMOVABLE:
        raise api_error(404, f"Not a reference set: {set_name} ({', '.join(REMOVABLE)}).")
    removed = state.store.remove(set_name, reference_key(set_name, state.company, code))
    if removed is None:
        raise api_error(404, f"No {set_name} row {code} ({REMOVABLE[set_name]}).")
    return json_response({"removed": set_name, "row": removed})


def _reset_stats(state: EpicorState) -> Response:
    state.stats.reset()
    return json_response(state.stats.snapshot())
