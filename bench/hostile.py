"""Hostile traffic over HTTP: malformed, oversized, forged and stale requests against both receivers.

``python -m bench.hostile`` starts the receiver with the Procfile's gunicorn command on the bench's
own Redis and sends ``--requests`` (10,000) requests from ``--concurrency`` (32) keep-alive
connections, spread over the kinds below and both receivers (``/webhooks/stripe``,
``/webhooks/epicor``). Every answer must be a 4xx (no 2xx, no 5xx, no dropped connection) and
afterwards Redis must hold nothing: no event record, no queued message. It prints the answers per
kind and exits non-zero when any check fails. ``tests/integration/test_hostile_http.py`` runs it
with fewer requests in the suite.

Kinds: a signature made with another secret; one older than the tolerance (300 s) or from the future;
no signature, an empty or garbage one, a ``v0`` scheme only; a validly signed body that is not JSON,
is JSON but not an event, is an event with its id or type missing or mistyped, or nests 100,000
deep; a wrong content type; a body over ``WEBHOOK_MAX_BODY_BYTES`` announced by ``Content-Length``
or streamed in chunks; a ``GET``; and a request line that is not HTTP at all.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from bench.common import BenchRedis, bench_redis, bench_stack, print_machine, print_table, verdict
from sandbox.signing import sign_payload
from sandbox.stack import DEMO_EPICOR_SECRET, DEMO_SECRET, Stack

MAX_BODY = 1_048_576  # the receiver's default WEBHOOK_MAX_BODY_BYTES
WRONG_SECRET = "whsec_not_the_endpoint_secret"  # noqa: S105 - what a forger signs with
RECEIVERS = {"stripe": ("/webhooks/stripe", "Stripe-Signature", DEMO_SECRET),
             "epicor": ("/webhooks/epicor", "X-Epicor-Signature", DEMO_EPICOR_SECRET)}


@dataclass(frozen=True)
class Attempt:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | Callable[[], Iterator[bytes]] | None = None
    raw: bytes | None = None  # sent as is over a fresh socket instead


def event_body(receiver: str, index: int, **changes: Any) -> bytes:
    if receiver == "stripe":
        event: dict[str, Any] = {"id": f"evt_hostile{index}", "object": "event", "type": "charge.succeeded",
                                 "api_version": "2024-06-20", "created": int(time.time()),
                                 "data": {"object": {"id": f"ch_hostile{index}", "object": "charge"}}}
    else:
        event = {"id": f"hostile-{index}", "type": "Customer.Created", "company": "EPIC06",
                 "key": {"CustNum": index}, "occurred_at": "2026-03-04T10:00:00Z"}
    event.update(changes)
    return json.dumps({key: value for key, value in event.items() if value is not ...}).encode()


def signed(receiver: str, body: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
    return sign_payload(body, [secret or RECEIVERS[receiver][2]], timestamp=timestamp)


def chunks(size: int) -> Callable[[], Iterator[bytes]]:
    def stream() -> Iterator[bytes]:
        sent = 0
        while sent < size:
            piece = min(65536, size - sent)
            sent += piece
            yield b"x" * piece
    return stream


def kinds() -> dict[str, Callable[[str, int], Attempt]]:
    """Each kind makes the request for (receiver, index)."""
    now = int(time.time())
    json_type = {"Content-Type": "application/json"}

    def post(receiver: str, body: bytes | Callable[[], Iterator[bytes]], signature: str | None,
             content_type: str = "application/json") -> Attempt:
        path, header, _ = RECEIVERS[receiver]
        headers = {"Content-Type": content_type} if content_type else {}
        if signature is not None:
            headers[header] = signature
        return Attempt("POST", path, headers, body)

    def valid(receiver: str, body: bytes, content_type: str = "application/json") -> Attempt:
        return post(receiver, body, signed(receiver, body), content_type)

    return {
        "forged signature": lambda r, i: post(r, event_body(r, i), signed(r, event_body(r, i), secret=WRONG_SECRET)),
        "stale signature": lambda r, i: post(r, event_body(r, i), signed(r, event_body(r, i), timestamp=now - 301)),
        "future signature": lambda r, i: post(r, event_body(r, i), signed(r, event_body(r, i), timestamp=now + 900)),
        "no signature": lambda r, i: post(r, event_body(r, i), None),
        "empty signature": lambda r, i: post(r, event_body(r, i), ""),
        "garbage signature": lambda r, i: post(r, event_body(r, i), f"t=abc,v1=\x7f{i}"),
        "v0 scheme only": lambda r, i: post(r, event_body(r, i), f"t={now},v0={'0' * 64}"),
        "not JSON": lambda r, i: valid(r, b"{\"id\": " + str(i).encode()),
        "JSON, not an event": lambda r, i: valid(r, json.dumps([i, "event"]).encode()),
        "event without id": lambda r, i: valid(r, event_body(r, i, id=...)),
        "event with a mistyped type": lambda r, i: valid(r, event_body(r, i, type=12345)),
        "100,000 levels of nesting": lambda r, i: valid(r, b"[" * 100_000 + b"]" * 100_000),
        "wrong content type": lambda r, i: valid(r, event_body(r, i), "text/plain"),
        "over the size limit (Content-Length)": lambda r, i: post(r, b"x" * (MAX_BODY + 1), None),
        "over the size limit (chunked)": lambda r, i: post(r, chunks(MAX_BODY + 65536), None),
        "GET": lambda r, i: Attempt("GET", RECEIVERS[r][0], json_type),
        "not HTTP": lambda r, i: Attempt("POST", RECEIVERS[r][0], {},
                                         raw=b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n"),
    }


HEAVY = {"over the size limit (Content-Length)", "over the size limit (chunked)", "100,000 levels of nesting"}


def plan(total: int) -> list[tuple[str, str, int]]:
    """(kind, receiver, index) for ``total`` requests: every kind in turn, the heavy ones 1 in 10 turns."""
    names = list(kinds())
    light = [name for name in names if name not in HEAVY]
    out: list[tuple[str, str, int]] = []
    turn = 0
    while len(out) < total:
        for name in names if turn % 10 == 0 else light:
            for receiver in RECEIVERS:
                if len(out) < total:
                    out.append((name, receiver, len(out)))
        turn += 1
    return out


_local = threading.local()


def send(base: str, host: str, port: int, attempt: Attempt) -> str:
    """The status code as text, or what went wrong on the connection."""
    if attempt.raw is not None:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(attempt.raw)
            reply = sock.recv(64)
        return reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/") else f"closed: {reply[:20]!r}"
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    body = attempt.body() if callable(attempt.body) else attempt.body
    try:
        response = session.request(attempt.method, base + attempt.path, data=body, headers=attempt.headers,
                                   timeout=30)
    except requests.RequestException as exc:
        _local.session = None
        return f"error: {type(exc).__name__}"
    return str(response.status_code)


def run(stack: Stack, total: int, concurrency: int) -> dict[str, Counter[str]]:
    makers = kinds()
    host, port = "127.0.0.1", stack.ports.web
    base = f"http://{host}:{port}"
    requests_planned = plan(total)

    def one(item: tuple[str, str, int]) -> tuple[str, str]:
        name, receiver, index = item
        return name, send(base, host, port, makers[name](receiver, index))

    answers: dict[str, Counter[str]] = {name: Counter() for name in makers}
    with ThreadPoolExecutor(concurrency) as pool:
        for name, status in pool.map(one, requests_planned):
            answers[name][status] += 1
    return answers


def stored() -> dict[str, int]:
    from tasks.broker import queue_depth

    db = bench_redis()
    return {"event records": sum(1 for _ in db.scan_iter("sec:event:*", count=1000)),
            "queued messages": queue_depth(db, "pipeline") + queue_depth(db, "dead_letter"),
            "keys": int(db.dbsize())}


def failures(answers: dict[str, Counter[str]], left: dict[str, int]) -> list[str]:
    found = [f"{name}: {status} x{count}" for name, counter in answers.items() for status, count in counter.items()
             if not (status.isdigit() and 400 <= int(status) < 500)]
    found += [f"{what}: {count}" for what, count in left.items() if what != "keys" and count]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print_machine()
    stack = bench_stack("hostile")
    with BenchRedis():
        try:
            stack.start(["web"])
            bench_redis().flushdb()
            started = time.monotonic()
            answers = run(stack, args.requests, args.concurrency)
            elapsed = time.monotonic() - started
            left = stored()
        finally:
            stack.stop()
    print_table(f"Hostile requests ({args.requests} over HTTP, {args.concurrency} connections, "
                f"{elapsed:.1f} s): answers per kind, both receivers",
                ["kind", "requests", "answers"],
                [[name, sum(counter.values()), " ".join(f"{code}={count}" for code, count in sorted(counter.items()))]
                 for name, counter in answers.items()])
    problems = failures(answers, left)
    print(f"\nstored afterwards: {left}")
    print(f"only 4xx, nothing stored or queued: {verdict(not problems)}")
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
