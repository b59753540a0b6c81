"""`stripe-epicor-sandbox` (also `python -m sandbox`): run the sandbox and send it test traffic.

    serve                  run both emulators on one port, state under --data-dir
    trigger payment        make a payment in the Stripe emulator and deliver its signed events;
                           --json prints the payment's objects, the delivered events and each delivery
    trigger send           sign and deliver an event file as it is (other API versions, edge cases)
    trigger payout         pay out the unpaid balance of a currency and deliver payout.created/paid
    trigger payout-failure PO  fail a paid payout (its amount comes back) and deliver payout.failed
    epicor-event TYPE      sign and send one Epicor event (Customer.Created --cust-num 201, ...)
    epicor-emit on|off     make the Epicor sandbox send events whenever customers / orders change
    faults epicor|stripe   show or switch injected faults
    dump [epicor|stripe]   print the emulators' state
    reset                  empty both emulators

Deliveries are signed like Stripe signs them (one `v1` per secret in `STRIPE_WEBHOOK_SECRET`, plus a
`v0` decoy) and POSTed with the exact bytes signed. A run exits 1 when any delivery gets a non-2xx
answer, 2 when it cannot run (no secret, sandbox unreachable, bad arguments).

While `make run`'s demo stack runs, its addresses and its (fixed, public) webhook secret are the
defaults, read from the file it writes (``sandbox.stack.read_demo_env``): a new user sends another
payment to it with no option and nothing exported. Precedence: options, then the environment
(``SANDBOX_URL``, ``SANDBOX_WEBHOOK_URL``, ``STRIPE_WEBHOOK_SECRET``), then the running demo, then
the default ports; except that a delivery to the running demo's own receiver is signed with the
demo's secret, which is the only one that receiver accepts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets as _random
import sys
import time
from pathlib import Path
from typing import Any

import requests

from sandbox.epicor_commands import EpicorCommandError, add_epicor_commands
from sandbox.signing import SIGNATURE_HEADER, sign_payload, split_secrets
from sandbox.stack import read_demo_env

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8100"
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8000/webhooks/stripe"
DEFAULT_EVENTS = ("charge.succeeded", "payment_intent.succeeded")
HTTP_TIMEOUT = 30
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


class CliError(Exception):
    """A problem that stops the command before it can do its job (exit 2)."""


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CliError, EpicorCommandError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except requests.ConnectionError as problem:
        print(f"error: cannot reach {problem.request.url if problem.request else 'server'}", file=sys.stderr)
        return 2


# parser --------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every subcommand."""
    parser = argparse.ArgumentParser(prog="stripe-epicor-sandbox", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    _add_serve(commands)
    _add_trigger(commands)
    _add_faults(commands)
    add_epicor_commands(commands, _add_sandbox_url)
    dump = commands.add_parser("dump", help="print the emulators' state as JSON")
    dump.add_argument("system", nargs="?", choices=["epicor", "stripe"])
    _add_sandbox_url(dump)
    dump.set_defaults(run=cmd_dump)
    reset = commands.add_parser("reset", help="empty both emulators")
    _add_sandbox_url(reset)
    reset.set_defaults(run=cmd_reset)
    return parser


def _add_sandbox_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sandbox-url", default=os.environ.get("SANDBOX_URL")
                        or read_demo_env().get("SANDBOX_URL", DEFAULT_SANDBOX_URL))


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the Stripe and Epicor emulators on one port")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8100)
    serve.add_argument("--data-dir", default=os.environ.get("SANDBOX_DATA_DIR", ".sandbox"))
    serve.add_argument("--quiet", action="store_true", help="no per-request log lines")
    serve.set_defaults(run=cmd_serve)


def _add_delivery_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--webhook-url", default=os.environ.get("SANDBOX_WEBHOOK_URL")
                        or read_demo_env().get("SANDBOX_WEBHOOK_URL", DEFAULT_WEBHOOK_URL))
    parser.add_argument("--secret", action="append", default=[],
                        help="webhook secret(s), repeatable or comma-separated (default: the running "
                             "demo's for its receiver, else $STRIPE_WEBHOOK_SECRET, all of them)")
    parser.add_argument("--deliveries", type=int, default=1, help="deliver each event this many times")
    parser.add_argument("--timestamp-offset", type=int, default=0,
                        help="seconds added to the signature time (e.g. -600 for a stale signature)")
    parser.add_argument("--json", action="store_true", help="print a JSON report")


def _add_trigger(commands: Any) -> None:
    trigger = commands.add_parser("trigger", help="send signed Stripe events to the receiver")
    kinds = trigger.add_subparsers(dest="kind", required=True)
    payment = kinds.add_parser("payment", help="make a payment and deliver its events")
    _add_sandbox_url(payment)
    _add_delivery_options(payment)
    payment.add_argument("--amount", type=int, help="minor units (default: the lines' total, else 2500)")
    payment.add_argument("--currency", default="usd")
    payment.add_argument("--customer", default="new", help="new | guest | cus_...")
    payment.add_argument("--email")
    payment.add_argument("--name")
    payment.add_argument("--line", action="extend", nargs="+", default=[], metavar="PART:QTY:UNIT_AMOUNT",
                         help="a line item; the product is named PART and carries epicor_part_num=PART")
    payment.add_argument("--no-part-metadata", action="store_true",
                         help="leave epicor_part_num off the line items' products")
    payment.add_argument("--checkout", action="store_true", help="pay through a Checkout Session")
    payment.add_argument("--metadata", action="extend", nargs="+", default=[], metavar="KEY=VALUE")
    payment.add_argument("--api-version", help="render the events for this API version")
    payment.add_argument("--events", help="comma-separated types to deliver (default: "
                         "charge.succeeded,payment_intent.succeeded, plus checkout.session.completed "
                         "when a session exists)")
    payment.set_defaults(run=cmd_trigger_payment)
    send = kinds.add_parser("send", help="sign and deliver an event file byte for byte")
    send.add_argument("--file", required=True, help="event JSON file, or - for stdin")
    _add_sandbox_url(send)
    _add_delivery_options(send)
    send.set_defaults(run=cmd_trigger_send)
    payout = kinds.add_parser("payout", help="pay out the balance of one currency and deliver its events")
    _add_sandbox_url(payout)
    _add_delivery_options(payout)
    payout.add_argument("--currency", default="usd")
    payout.add_argument("--source", action="extend", nargs="+", default=[], metavar="ID",
                        help="only these ch_/re_/dp_/po_/txn_ transactions (default: every unpaid one)")
    payout.add_argument("--fx-fee", type=int, help="first book a stripe_fx_fee of this many minor units")
    payout.add_argument("--api-version", help="render the events for this API version")
    payout.set_defaults(run=cmd_trigger_payout)
    failure = kinds.add_parser("payout-failure", help="fail a paid payout and deliver payout.failed")
    failure.add_argument("payout", help="the po_ id")
    failure.add_argument("--failure-code", default="account_closed",
                         choices=["account_closed", "no_account", "insufficient_funds"])
    _add_sandbox_url(failure)
    _add_delivery_options(failure)
    failure.add_argument("--api-version", help="render the events for this API version")
    failure.set_defaults(run=cmd_trigger_payout_failure)


def _add_faults(commands: Any) -> None:
    faults = commands.add_parser("faults", help="show or switch injected faults")
    systems = faults.add_subparsers(dest="system", required=True)
    epicor = systems.add_parser("epicor")
    _add_sandbox_url(epicor)
    epicor.add_argument("--latency-ms", type=int)
    epicor.add_argument("--error-rate", type=float)
    epicor.add_argument("--license-exhausted", choices=["on", "off"])
    epicor.add_argument("--license-burst", type=int)
    epicor.add_argument("--commit-then-timeout-rate", type=float)
    epicor.add_argument("--timeout-seconds", type=float, help="how long a committed create is held back")
    epicor.add_argument("--seed", type=int, help="seed the fault draws for a reproducible run")
    epicor.add_argument("--show", action="store_true")
    epicor.set_defaults(run=cmd_faults)
    stripe = systems.add_parser("stripe")
    _add_sandbox_url(stripe)
    stripe.add_argument("--latency-ms", type=int)
    stripe.add_argument("--error-rate", type=float)
    stripe.add_argument("--rate-limit-rate", type=float)
    stripe.add_argument("--show", action="store_true")
    stripe.set_defaults(run=cmd_faults)


# serve ---------------------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the sandbox app (gunicorn, one worker process, many threads) until SIGTERM or SIGINT."""
    from sandbox.http_server import bind, serve
    from sandbox.server import create_sandbox_app

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data_dir = args.data_dir
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    listener = bind(args.host, args.port)
    port = listener.getsockname()[1]
    print(f"sandbox on http://{args.host}:{port} (Stripe /v1, Epicor /KineticSandbox/api), "
          f"data in {Path(data_dir).resolve()}", flush=True)
    return serve(listener, lambda: create_sandbox_app(data_dir), quiet=args.quiet,
                 on_stop=lambda: print("sandbox stopped", flush=True))


# trigger -------------------------------------------------------------------------------------------

def cmd_trigger_payment(args: argparse.Namespace) -> int:
    """Create a payment through the admin endpoint, then deliver the chosen events."""
    signing_secrets = _secrets(args)
    wanted = _requested_types(args)
    payment = _post_json(f"{args.sandbox_url}/_sandbox/stripe/payments", payment_request(args))
    events = _chosen_events(payment, wanted)
    deliveries = [
        _deliver_event(args, signing_secrets, event, attempt)
        for event in events for attempt in range(1, args.deliveries + 1)
    ]
    _report_payment(args, payment, events, deliveries)
    return 0 if all(d["ok"] for d in deliveries) else 1


def payment_request(args: argparse.Namespace) -> dict[str, Any]:
    """The `POST /_sandbox/stripe/payments` body for the command-line options."""
    lines = [_line_item(spec, not args.no_part_metadata) for spec in args.line]
    body: dict[str, Any] = {
        "currency": args.currency,
        "customer": _customer_spec(args),
        "metadata": dict(_key_value(item) for item in args.metadata),
        "line_items": lines or None,
        "checkout": args.checkout,
    }
    if args.amount is not None or not lines:
        body["amount"] = 2500 if args.amount is None else args.amount
    if args.customer == "guest" and (args.email or args.name):
        body["billing_details"] = {"name": args.name or "Guest Buyer", "email": args.email,
                                   "address": _DEMO_ADDRESS}
    if args.api_version:
        body["api_version"] = args.api_version
    return body


_DEMO_ADDRESS = {"line1": "510 Townsend St", "line2": None, "city": "San Francisco", "state": "CA",
                 "postal_code": "94103", "country": "US"}


def _customer_spec(args: argparse.Namespace) -> dict[str, Any] | str | None:
    if args.customer == "guest":
        return None
    if args.customer.startswith("cus_"):
        return args.customer
    if args.customer != "new":
        raise CliError(f"--customer must be new, guest or a cus_ id, not {args.customer!r}")
    suffix = _random.token_hex(3)
    return {"name": args.name or "Jenny Rosen", "email": args.email or f"jenny.rosen+{suffix}@example.com",
            "phone": "+14155550100", "address": _DEMO_ADDRESS}


def _line_item(spec: str, with_part_metadata: bool) -> dict[str, Any]:
    try:
        part, quantity, unit_amount = spec.rsplit(":", 2)
        line = {"product_name": part, "quantity": int(quantity), "unit_amount": int(unit_amount)}
    except ValueError:
        raise CliError(f"--line wants PART:QTY:UNIT_AMOUNT, got {spec!r}") from None
    line["product_metadata"] = {"epicor_part_num": part} if with_part_metadata else {}
    return line


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise CliError(f"--metadata wants KEY=VALUE, got {item!r}")
    return key, value


def _requested_types(args: argparse.Namespace) -> list[str]:
    """The event types to deliver, checked before anything is created."""
    with_session = bool(args.checkout or args.line)
    if not args.events:
        return list(DEFAULT_EVENTS) + (["checkout.session.completed"] if with_session else [])
    types = [t.strip() for t in args.events.split(",") if t.strip()]
    possible = set(DEFAULT_EVENTS) | ({"checkout.session.completed"} if with_session else set())
    impossible = [t for t in types if t not in possible]
    if impossible:
        raise CliError(f"a payment does not produce {', '.join(impossible)}; it can produce "
                       f"{', '.join(sorted(possible))} (checkout.session.completed needs --checkout or --line)")
    return types


def _chosen_events(payment: dict[str, Any], types: list[str]) -> list[dict[str, Any]]:
    by_type = {event["type"]: event for event in payment["events"]}
    missing = [t for t in types if t not in by_type]
    if missing:
        raise CliError(f"the payment produced no {', '.join(missing)} event")
    return [by_type[t] for t in types]


def cmd_trigger_payout(args: argparse.Namespace) -> int:
    """Pay out the unpaid balance (optionally after a currency conversion fee), then deliver its events."""
    signing_secrets = _secrets(args)
    sources = list(args.source)
    if args.fx_fee:
        fee = _post_json(f"{args.sandbox_url}/_sandbox/stripe/fees",
                         {"type": "stripe_fx_fee", "amount": args.fx_fee, "currency": args.currency})
        sources += [fee["balance_transaction"]["id"]] if sources else []
    body: dict[str, Any] = {"currency": args.currency, **({"sources": sources} if sources else {})}
    if args.api_version:
        body["api_version"] = args.api_version
    return _deliver_scenario(args, signing_secrets, _post_json(f"{args.sandbox_url}/_sandbox/stripe/payouts", body))


def cmd_trigger_payout_failure(args: argparse.Namespace) -> int:
    """Fail a paid payout in the Stripe emulator, then deliver payout.updated and payout.failed."""
    signing_secrets = _secrets(args)
    body: dict[str, Any] = {"failure_code": args.failure_code}
    if args.api_version:
        body["api_version"] = args.api_version
    url = f"{args.sandbox_url}/_sandbox/stripe/payouts/{args.payout}/fail"
    return _deliver_scenario(args, signing_secrets, _post_json(url, body))


def _deliver_scenario(args: argparse.Namespace, signing_secrets: list[str], result: dict[str, Any]) -> int:
    """Deliver every event an admin scenario emitted, in order; report the payout and the deliveries."""
    deliveries = [_deliver_event(args, signing_secrets, event, attempt)
                  for event in result["events"] for attempt in range(1, args.deliveries + 1)]
    ok = all(d["ok"] for d in deliveries)
    if args.json:
        print(json.dumps({**result, "deliveries": deliveries, "ok": ok}, indent=2))
    else:
        payout = result["payout"]
        print(f"payout={payout['id']} status={payout['status']} amount={payout['amount']} {payout['currency']}")
        for delivery in deliveries:
            print(f"{delivery['type']} {_delivery_line(delivery)}")
    return 0 if ok else 1


def cmd_trigger_send(args: argparse.Namespace) -> int:
    """Deliver an event file, unchanged, with a valid signature."""
    signing_secrets = _secrets(args)
    body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    deliveries = [_deliver(args, signing_secrets, body, attempt) for attempt in range(1, args.deliveries + 1)]
    if args.json:
        print(json.dumps({"deliveries": deliveries, "ok": all(d["ok"] for d in deliveries)}, indent=2))
    else:
        for delivery in deliveries:
            print(_delivery_line(delivery))
    return 0 if all(d["ok"] for d in deliveries) else 1


def _secrets(args: argparse.Namespace) -> list[str]:
    given = [secret for value in args.secret for secret in split_secrets(value)]
    found = given or _demo_secret(args.webhook_url) or split_secrets(os.environ.get("STRIPE_WEBHOOK_SECRET"))
    if not found:
        raise CliError("no webhook secret: pass --secret whsec_... or set STRIPE_WEBHOOK_SECRET "
                       "(none is needed for the receiver of a running `make run`)")
    return found


def _demo_secret(webhook_url: str) -> list[str]:
    """The running demo's secret when the delivery goes to its receiver: the one secret it accepts."""
    demo = read_demo_env()
    return split_secrets(demo.get("STRIPE_WEBHOOK_SECRET")) if demo.get("SANDBOX_WEBHOOK_URL") == webhook_url else []


def _deliver_event(args: argparse.Namespace, signing_secrets: list[str], event: dict[str, Any],
                   attempt: int) -> dict[str, Any]:
    body = json.dumps(event, indent=2).encode("utf-8")
    delivery = {"event": event["id"], "type": event["type"],
                **_deliver(args, signing_secrets, body, attempt)}
    _record_delivery(args.sandbox_url, event["id"], args.webhook_url, delivery["status"])
    return delivery


def _deliver(args: argparse.Namespace, signing_secrets: list[str], body: bytes, attempt: int) -> dict[str, Any]:
    header = sign_payload(body, signing_secrets, int(time.time()) + args.timestamp_offset)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
               SIGNATURE_HEADER: header}
    try:
        answer = requests.post(args.webhook_url, data=body, headers=headers, timeout=HTTP_TIMEOUT)
    except requests.RequestException as failure:
        return {"attempt": attempt, "status": 0, "body": f"{type(failure).__name__}: {failure}", "ok": False}
    return {"attempt": attempt, "status": answer.status_code, "body": answer.text[:2000],
            "ok": 200 <= answer.status_code < 300}


def _record_delivery(sandbox_url: str, event_id: str, url: str, status: int) -> None:
    """Tell the emulator how the delivery went, for `GET /v1/events?delivery_success=`."""
    try:
        requests.post(f"{sandbox_url}/_sandbox/stripe/events/{event_id}/deliveries",
                      json={"url": url, "status": status}, timeout=HTTP_TIMEOUT)
    except requests.RequestException:
        pass  # bookkeeping only; the delivery result itself is already known


def _report_payment(args: argparse.Namespace, payment: dict[str, Any], events: list[dict[str, Any]],
                    deliveries: list[dict[str, Any]]) -> None:
    if args.json:
        report = {**payment, "events": events, "deliveries": deliveries,
                  "ok": all(d["ok"] for d in deliveries)}
        print(json.dumps(report, indent=2))
        return
    ids = {name: (payment.get(name) or {}).get("id")
           for name in ("customer", "payment_intent", "charge", "checkout_session")}
    print(" ".join(f"{name}={value}" for name, value in ids.items() if value))
    for delivery in deliveries:
        print(f"  {delivery['event']} {delivery['type']:<28} {_delivery_line(delivery)}")


def _delivery_line(delivery: dict[str, Any]) -> str:
    body = " ".join(delivery["body"].split())[:200]
    return f"delivery {delivery['attempt']}: {delivery['status'] or 'failed'} {body}"


# faults, dump, reset -------------------------------------------------------------------------------

_FAULT_OPTIONS = ("latency_ms", "error_rate", "rate_limit_rate", "license_exhausted", "license_burst",
                  "commit_then_timeout_rate", "timeout_seconds", "seed")


def cmd_faults(args: argparse.Namespace) -> int:
    """PUT the given fault settings, or GET them when none are given (or with --show)."""
    url = f"{args.sandbox_url}/_sandbox/{args.system}/faults"
    settings = {name: getattr(args, name) for name in _FAULT_OPTIONS if getattr(args, name, None) is not None}
    if "license_exhausted" in settings:
        settings["license_exhausted"] = settings["license_exhausted"] == "on"
    if settings:
        shown = _checked(requests.put(url, json=settings, timeout=HTTP_TIMEOUT))
    if args.show or not settings:
        shown = _checked(requests.get(url, timeout=HTTP_TIMEOUT))
    print(json.dumps(shown, indent=2))
    return 0


def cmd_dump(args: argparse.Namespace) -> int:
    """Print one emulator's dump, or both keyed by system."""
    systems = [args.system] if args.system else ["stripe", "epicor"]
    dumps = {name: _checked(requests.get(f"{args.sandbox_url}/_sandbox/{name}/dump", timeout=HTTP_TIMEOUT))
             for name in systems}
    print(json.dumps(dumps[args.system] if args.system else dumps, indent=2))
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    """Reset both emulators."""
    for name in ("stripe", "epicor"):
        _checked(requests.post(f"{args.sandbox_url}/_sandbox/{name}/reset", timeout=HTTP_TIMEOUT))
        print(f"{name}: reset")
    return 0


def _post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    return _checked(requests.post(url, json=body, timeout=HTTP_TIMEOUT))


def _checked(answer: requests.Response) -> dict[str, Any]:
    if answer.status_code >= 400:
        raise CliError(f"{answer.request.method} {answer.url} answered {answer.status_code}: {answer.text[:500]}")
    return answer.json()
