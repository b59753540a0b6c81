"""List filtering, cursor pagination and `expand[]`, with Stripe's semantics.

Lists are newest first. `starting_after` pages towards older objects, `ending_before` towards newer
ones; `has_more` says whether the walk can continue in that direction, which is what
`auto_paging_iter()` follows. Filters are exact matches on the object's field, plus `created[gte|gt|
lte|lt]`, `types[]` and `delivery_success` for events. Expansion replaces an id with the object, for
top-level fields and dotted paths (`data.customer`, `latest_charge.balance_transaction`); `line_items`
of a Checkout Session expands to its list of line items.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.stripe_api import errors
from sandbox.stripe_api.state import StripeState

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
_CREATED_OPS = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}

Resolve = Callable[[str], "dict[str, Any] | None"]
LineItems = Callable[[str], "list[dict[str, Any]]"]


# Filters that are not a plain comparison of one stored field, and filters kept under another field.
_NOT_INDEXED = ("created", "types", "delivery_success")
_STORED_AS = {"payout": "_payout"}


def matching(state: StripeState, object_type: str, params: dict[str, Any],
             allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    """The objects of a type that match every filter parameter the resource supports, newest first.

    The first filter on one stored field narrows the candidates through the state's index
    (`StripeState.having`, which compares text case-insensitively, so it keeps every object `_matches`
    would keep); `filter_objects` then applies every filter as usual.
    """
    for name in allowed:
        if name in params and name not in _NOT_INDEXED and not (name == "status" and params[name] == "all"):
            candidates = state.having(object_type, _STORED_AS.get(name, name), params[name])
            return filter_objects(candidates, params, allowed)
    return filter_objects(state.all_of(object_type), params, allowed)


def filter_objects(objects: list[dict[str, Any]], params: dict[str, Any],
                   allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    """Objects matching every filter parameter that the resource supports."""
    for name in allowed:
        if name in params:
            objects = [obj for obj in objects if _matches(obj, name, params[name])]
    return objects


def _matches(obj: dict[str, Any], name: str, wanted: Any) -> bool:
    if name == "created":
        return _created_matches(obj.get("created", 0), wanted)
    if name == "types":
        return obj.get("type") in (wanted if isinstance(wanted, list) else [wanted])
    if name == "delivery_success":
        return _delivered(obj) == (str(wanted).lower() == "true")
    if name == "status" and wanted == "all":
        return True  # subscriptions: every status, cancelled ones included
    if name == "payout":
        return obj.get("_payout") == wanted  # balance transactions paid out by that payout
    value = obj.get(name)
    if isinstance(value, bool):
        return str(value).lower() == str(wanted).lower()
    return str(value) == str(wanted)


def _created_matches(created: int, wanted: Any) -> bool:
    if not isinstance(wanted, dict):
        return created == int_param("created", wanted)
    return all(_CREATED_OPS[op](created, int_param(f"created[{op}]", bound))
               for op, bound in wanted.items() if op in _CREATED_OPS)


def _delivered(event: dict[str, Any]) -> bool:
    return any(200 <= delivery.get("status", 0) < 300 for delivery in event.get("_deliveries", []))


def int_param(name: str, value: Any) -> int:
    """A form value as an integer, or Stripe's 400 naming the parameter."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise errors.invalid_request(f"Invalid integer: {value}", param=name) from None


def page(objects: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict[str, Any]:
    """One page of a list response, honouring `limit`, `starting_after` and `ending_before`."""
    limit = _limit(params.get("limit"))
    ids = [obj["id"] for obj in objects]
    if params.get("ending_before"):
        end = _cursor_index(ids, params["ending_before"], "ending_before")
        start = max(0, end - limit)
        return _list(objects[start:end], start > 0, url)
    start = 0
    if params.get("starting_after"):
        start = _cursor_index(ids, params["starting_after"], "starting_after") + 1
    return _list(objects[start:start + limit], start + limit < len(objects), url)


def _limit(value: Any) -> int:
    if value in (None, ""):
        return DEFAULT_LIMIT
    limit = int_param("limit", value)
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.invalid_request("This value must be between 1 and 100.", param="limit")
    return limit


def _cursor_index(ids: list[str], cursor: str, param: str) -> int:
    if cursor not in ids:
        raise errors.resource_missing("object", cursor, param=param)
    return ids.index(cursor)


def _list(data: list[dict[str, Any]], has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def expand_paths(params: dict[str, Any]) -> list[str]:
    """The `expand[]` parameter as a list of dotted paths."""
    value = params.get("expand") or []
    return [value] if isinstance(value, str) else [str(path) for path in value]


def expand(obj: dict[str, Any], paths: list[str], resolve: Resolve, line_items: LineItems) -> dict[str, Any]:
    """Apply each expansion path to a rendered object (or list)."""
    for path in paths:
        _expand_path(obj, path.split("."), resolve, line_items)
    return obj


def _expand_path(node: Any, path: list[str], resolve: Resolve, line_items: LineItems) -> None:
    if not path or not isinstance(node, dict):
        return
    field, rest = path[0], path[1:]
    if node.get("object") == "list" and field == "data":
        for item in node["data"]:
            _expand_path(item, rest, resolve, line_items)
        return
    node[field] = _expanded_value(node, field, resolve, line_items)
    _expand_path(node[field], rest, resolve, line_items)


def _expanded_value(node: dict[str, Any], field: str, resolve: Resolve, line_items: LineItems) -> Any:
    if field == "line_items" and node.get("object") == "checkout.session":
        items = line_items(node["id"])
        return _list(items, False, f"/v1/checkout/sessions/{node['id']}/line_items")
    if field not in node:
        raise errors.invalid_request(
            f"This property cannot be expanded ({field}).", param="expand")
    value = node[field]
    if not isinstance(value, str):
        return value
    return resolve(value) or value
