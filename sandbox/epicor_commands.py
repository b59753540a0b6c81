"""Sandbox commands for Epicor events (contract §7), added to ``python -m sandbox``:

    epicor-event TYPE --cust-num N | --order-num N   sign and send one event now, as the site's
                                                     Epicor Function would (no sandbox needed)
    epicor-emit on --webhook-url URL --secret S      make the Epicor sandbox send events by itself
    epicor-emit off                                  whenever customers / sales orders change

The secret defaults to ``EPICOR_WEBHOOK_SECRET`` (the first one, when several are set for a rotation),
the company to ``EPICOR_COMPANY``. Exit 0 when every delivery got a 2xx, 1 when one did not.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import requests

from sandbox.epicor.events import ALL_TYPES, build_event, deliver, event_body
from sandbox.signing import split_secrets

DEFAULT_EPICOR_WEBHOOK_URL = "http://127.0.0.1:8000/webhooks/epicor"
HTTP_TIMEOUT = 30


class EpicorCommandError(Exception):
    """Bad arguments or no secret (the CLI reports it and exits 2)."""


def add_epicor_commands(commands: Any, add_sandbox_url: Any) -> None:
    """The ``epicor-event`` and ``epicor-emit`` subcommands."""
    event = commands.add_parser("epicor-event", help="sign and send one Epicor event to the receiver")
    event.add_argument("type", choices=ALL_TYPES)
    number = event.add_mutually_exclusive_group(required=True)
    number.add_argument("--cust-num", type=int, help="CustNum, for Customer.* events")
    number.add_argument("--order-num", type=int, help="OrderNum, for SalesOrder.* events")
    event.add_argument("--company", default=os.environ.get("EPICOR_COMPANY") or "EPIC06")
    event.add_argument("--event-id", help="the event id (default: a new UUID); repeat one to test deduplication")
    _add_target(event, "--webhook-url")
    event.add_argument("--deliveries", type=int, default=1, help="send the same event this many times")
    event.add_argument("--timestamp-offset", type=int, default=0,
                       help="seconds added to the signature time (e.g. -600 for a stale signature)")
    event.add_argument("--json", action="store_true", help="print a JSON report")
    event.set_defaults(run=cmd_epicor_event)
    emit = commands.add_parser("epicor-emit", help="switch the Epicor sandbox's automatic events on or off")
    emit.add_argument("state", choices=["on", "off"])
    _add_target(emit, "--webhook-url")
    emit.add_argument("--delay-ms", type=int, default=300, help="pause between a change and its event")
    add_sandbox_url(emit)
    emit.set_defaults(run=cmd_epicor_emit)


def _add_target(parser: argparse.ArgumentParser, flag: str) -> None:
    parser.add_argument(flag, default=os.environ.get("SANDBOX_EPICOR_WEBHOOK_URL", DEFAULT_EPICOR_WEBHOOK_URL))
    parser.add_argument("--secret", help="shared secret (default: $EPICOR_WEBHOOK_SECRET, the first one)")


def signing_secret(args: argparse.Namespace) -> str:
    found = split_secrets(args.secret) or split_secrets(os.environ.get("EPICOR_WEBHOOK_SECRET"))
    if not found:
        raise EpicorCommandError("no Epicor webhook secret: pass --secret or set EPICOR_WEBHOOK_SECRET")
    return found[0]


def event_key(args: argparse.Namespace) -> dict[str, int]:
    wanted = "CustNum" if args.type.startswith("Customer.") else "OrderNum"
    given = {"CustNum": args.cust_num, "OrderNum": args.order_num}
    if given[wanted] is None:
        raise EpicorCommandError(f"{args.type} needs --{'cust' if wanted == 'CustNum' else 'order'}-num")
    return {wanted: given[wanted]}


def cmd_epicor_event(args: argparse.Namespace) -> int:
    secret = signing_secret(args)
    event = build_event(args.type, args.company, event_key(args), args.event_id)
    body = event_body(event)
    deliveries = []
    for attempt in range(1, args.deliveries + 1):
        status, text = deliver(args.webhook_url, body, secret, args.timestamp_offset)
        deliveries.append({"attempt": attempt, "status": status, "body": text, "ok": 200 <= status < 300})
    if args.json:
        print(json.dumps({"event": event, "deliveries": deliveries}, indent=2))
    else:
        print(f"{event['id']} {event['type']} {json.dumps(event['key'])}")
        for delivery in deliveries:
            answer = " ".join(delivery["body"].split())[:200]
            print(f"  delivery {delivery['attempt']}: {delivery['status'] or 'failed'} {answer}")
    return 0 if all(d["ok"] for d in deliveries) else 1


def cmd_epicor_emit(args: argparse.Namespace) -> int:
    settings: dict[str, Any] = {"emit_events_to": None}
    if args.state == "on":
        settings = {"emit_events_to": args.webhook_url, "secret": signing_secret(args), "emit_delay_ms": args.delay_ms}
    answer = requests.put(f"{args.sandbox_url}/_sandbox/epicor/settings", json=settings, timeout=HTTP_TIMEOUT)
    if answer.status_code >= 400:
        raise EpicorCommandError(f"the sandbox refused the settings ({answer.status_code}): {answer.text[:300]}")
    print(json.dumps(answer.json(), indent=2))
    return 0
