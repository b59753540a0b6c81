"""Hostile traffic over HTTP: malformed, oversized, forged, stale and odd requests against both receivers.

``python -m bench.hostile`` starts the receiver with the Procfile's gunicorn command on the bench's
own Redis (with the sandbox and a Celery worker) and sends ``--requests`` (10,000) requests from
``--concurrency`` (32) keep-alive connections, spread over the kinds below and both receivers
(``/webhooks/stripe``, ``/webhooks/epicor``). Each kind has one expected answer: a 4xx (every kind
but the last group) or a 200 (a legal, correctly signed event whose text is odd). No 5xx, no
dropped connection. Afterwards nothing is lost: every event answered 200 is in Redis, recorded as
queued, and (with the worker, the default; ``--no-worker`` skips it) reaches a finished state;
nothing else is stored. It prints the answers per kind and exits non-zero when any check fails.
``tests/integration/test_hostile_http.py`` runs it with fewer requests in the suite.

Kinds, refused (4xx): a signature made with another secret; one older than the tolerance (300 s) or
from the future; no signature, an empty or garbage one, a ``v0`` scheme only; signature headers of
arbitrary bytes sent over a raw socket (UTF-8 non-ASCII, raw non-UTF-8 bytes, the UTF-8-like bytes
of a lone surrogate, control characters, 5,000 bytes, over gunicorn's field limit, a valid signature
with raw bytes beside it, a 5,000-digit or non-ASCII-digit timestamp); a validly signed body that is
not JSON, is JSON but not an event, is an event with its id or type missing or mistyped, nests
100,000 deep, holds a lone surrogate or NUL in its id, ``NaN``/``Infinity``, or a duplicate key; a
wrong content type; a body over ``WEBHOOK_MAX_BODY_BYTES`` announced by ``Content-Length`` or
streamed in chunks; a ``GET``; and a request line that is not HTTP at all.
Kinds, queued (200): correctly signed events whose payload text holds lone surrogates, NUL and
control characters; ``1e400`` and a 4,000-digit number; printable non-ASCII ids; a 900 kB string.
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
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.common import BenchRedis, bench_redis, bench_stack, print_machine, print_table, verdict
from sandbox.signing import sign_payload
from sandbox.stack import DEMO_EPICOR_SECRET, DEMO_SECRET, Stack

MAX_BODY = 1_048_576  # the receiver's default WEBHOOK_MAX_BODY_BYTES
WRONG_SECRET = "whsec_not_the_endpoint_secret"  # noqa: S105 - what a forger signs with
RECEIVERS = {"stripe": ("/webhooks/stripe", "Stripe-Signature", DEMO_SECRET),
             "epicor": ("/webhooks/epicor", "X-Epicor-Signature", DEMO_EPICOR_SECRET)}
FIRST_CUSTNUM = 1_000_000  # Epicor keys of the bench's events: none exists in the sandbox's seed
ODD_TEXT = "lone \ud800 and \udfff, NUL \x00, bell \x07, escape \x1b[31m, DEL \x7f, NEL \x85, LS \u2028 end"
RAW = "@@raw:"  # a string value json.dumps writes as "@@raw:<text>", replaced by <text> itself (numbers)


@dataclass(frozen=True)
class Attempt:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | Callable[[], Iterator[bytes]] | None = None
    raw: bytes | None = None  # sent as is over a fresh socket instead


@dataclass(frozen=True)
class Answer:
    status: str  # the status code as text, or what went wrong on the connection
    event_id: str | None = None  # for a 200: the event the receiver acknowledged
    extra: dict[str, Any] = field(default_factory=dict)


def event_body(receiver: str, index: int, **changes: Any) -> bytes:
    if receiver == "stripe":
        event: dict[str, Any] = {"id": f"evt_hostile{index}", "object": "event", "type": "charge.succeeded",
                                 "api_version": "2024-06-20", "created": int(time.time()),
                                 "data": {"object": {"id": f"ch_hostile{index}", "object": "charge"}}}
    else:
        event = {"id": f"hostile-{index}", "type": "Customer.Created", "company": "EPIC06",
                 "key": {"CustNum": FIRST_CUSTNUM + index}, "occurred_at": "2026-03-04T10:00:00Z"}
    event.update(changes)
    return raw_numbers(json.dumps({key: value for key, value in event.items() if value is not ...}))


def raw_numbers(text: str) -> bytes:
    """JSON with each ``"@@raw:<text>"`` string replaced by <text>: numbers json.dumps cannot write."""
    while f'"{RAW}' in text:
        start = text.index(f'"{RAW}')
        end = text.index('"', start + 1)
        text = text[:start] + text[start + 1 + len(RAW):end] + text[end + 1:]
    return text.encode()


def odd_payload(receiver: str, index: int, **values: Any) -> bytes:
    """A legal event of ``receiver`` whose free text (Stripe: the charge's; Epicor: occurred_at and an
    extra field) holds ``values``."""
    if receiver == "stripe":
        charge = {"id": f"ch_hostile{index}", "object": "charge", **values}
        return event_body(receiver, index, data={"object": charge})
    note = values.pop("description", "")
    return event_body(receiver, index, note=note, **values)


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


def raw_post(receiver: str, header: bytes, body: bytes) -> Attempt:
    """A POST whose signature header is the given bytes, over a raw socket (an HTTP client would refuse
    or re-encode them); gunicorn hands them to the receiver decoded as latin-1, or refuses them itself."""
    path, name, _ = RECEIVERS[receiver]
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n{name}: ").encode() + header + b"\r\n\r\n" + body
    return Attempt("POST", path, {}, raw=request)


def header_kinds(now: int) -> dict[str, Callable[[str, int], Attempt]]:
    """Signature headers of arbitrary bytes, each on a correctly formed event."""
    def with_header(make: Callable[[str, int, bytes], bytes]) -> Callable[[str, int], Attempt]:
        def attempt(receiver: str, index: int) -> Attempt:
            body = event_body(receiver, index)
            return raw_post(receiver, make(receiver, index, body), body)
        return attempt

    stamp = f"t={now},v1=".encode()
    high = bytes(range(0x80, 0x100))
    return {
        "header: UTF-8 non-ASCII": with_header(lambda r, i, b: stamp + "é日本😀".encode() * 8),
        "header: raw non-UTF-8 bytes": with_header(lambda r, i, b: stamp + high[i % 64:] + high[:i % 64]),
        "header: lone surrogate bytes": with_header(lambda r, i, b: stamp + b"\xed\xa0\x80" * 4),
        "header: control characters": with_header(lambda r, i, b: stamp + bytes([1 + i % 8]) + b"\x1b\x7f"),
        "header: 5,000 bytes": with_header(lambda r, i, b: stamp + b"a" * 5000),
        "header: over gunicorn's field limit": with_header(lambda r, i, b: stamp + b"a" * 9000),
        "header: valid signature, raw bytes beside it": with_header(
            lambda r, i, b: signed(r, b).encode() + b",v1=\xff\xfe" + high[:8]),
        "header: 5,000-digit timestamp": with_header(lambda r, i, b: b"t=" + b"9" * 5000 + b",v1=00"),
        "header: non-ASCII digits in t": with_header(lambda r, i, b: "t=١٧٧٢٦٢٥٦٠٠,v1=00".encode()),
    }


def refused_body_kinds() -> dict[str, Callable[[str, int], Attempt]]:
    """Correctly signed JSON that is not an event this service can take: each a 400 with its reason."""
    def valid(receiver: str, body: bytes) -> Attempt:
        path, header, _ = RECEIVERS[receiver]
        return Attempt("POST", path, {"Content-Type": "application/json", header: signed(receiver, body)}, body)

    return {
        "not JSON": lambda r, i: valid(r, b"{\"id\": " + str(i).encode()),
        "JSON, not an event": lambda r, i: valid(r, json.dumps([i, "event"]).encode()),
        "event without id": lambda r, i: valid(r, event_body(r, i, id=...)),
        "event with a mistyped type": lambda r, i: valid(r, event_body(r, i, type=12345)),
        "100,000 levels of nesting": lambda r, i: valid(r, b"[" * 100_000 + b"]" * 100_000),
        "signed: lone surrogate in the id": lambda r, i: valid(r, event_body(r, i, id=f"evt_\ud800{i}")),
        "signed: NUL in the id": lambda r, i: valid(r, event_body(r, i, id=f"evt_\x00{i}")),
        "signed: NaN and Infinity": lambda r, i: valid(r, event_body(r, i, amount=RAW + "NaN", fee=RAW + "-Infinity")),
        "signed: duplicate keys": lambda r, i: valid(r, b'{"id": "evt_first", ' + event_body(r, i)[1:]),
    }


def queued_body_kinds() -> dict[str, Callable[[str, int], Attempt]]:
    """Correctly signed, legal events whose text is odd: each must be queued (200) and processed."""
    def valid(receiver: str, body: bytes) -> Attempt:
        path, header, _ = RECEIVERS[receiver]
        return Attempt("POST", path, {"Content-Type": "application/json", header: signed(receiver, body)}, body)

    def unicode_ids(receiver: str, index: int) -> bytes:
        if receiver == "stripe":
            return event_body(receiver, index, id=f"evt_hostilé東京{index}")
        return event_body(receiver, index, id=f"hostilé-東京-{index}")

    return {
        "signed: surrogates, NUL, controls in text": lambda r, i: valid(r, odd_payload(
            r, i, description=ODD_TEXT, occurred_at="2026-03-04\ud800T10:00\x00Z", metadata={"\udfff": ODD_TEXT})),
        "signed: 1e400 and a 4,000-digit number": lambda r, i: valid(r, odd_payload(
            r, i, amount=RAW + "1e400", amount_captured=RAW + "9" * 4000)),
        "signed: printable non-ASCII ids": lambda r, i: valid(r, unicode_ids(r, i)),
        "signed: a 900 kB string": lambda r, i: valid(r, odd_payload(r, i, description="x" * 900_000)),
    }


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

    return {
        "forged signature": lambda r, i: post(r, event_body(r, i), signed(r, event_body(r, i), secret=WRONG_SECRET)),
        "stale signature": lambda r, i: post(r, event_body(r, i), signed(r, event_body(r, i), timestamp=now - 301)),
        "future signature": lambda r, i: post(r, event_body(r, i), signed(r, event_body(r, i), timestamp=now + 900)),
        "no signature": lambda r, i: post(r, event_body(r, i), None),
        "empty signature": lambda r, i: post(r, event_body(r, i), ""),
        "garbage signature": lambda r, i: post(r, event_body(r, i), f"t=abc,v1=\x7f{i}"),
        "v0 scheme only": lambda r, i: post(r, event_body(r, i), f"t={now},v0={'0' * 64}"),
        **header_kinds(now),
        **refused_body_kinds(),
        "wrong content type": lambda r, i: post(r, event_body(r, i), signed(r, event_body(r, i)), "text/plain"),
        "over the size limit (Content-Length)": lambda r, i: post(r, b"x" * (MAX_BODY + 1), None),
        "over the size limit (chunked)": lambda r, i: post(r, chunks(MAX_BODY + 65536), None),
        "GET": lambda r, i: Attempt("GET", RECEIVERS[r][0], json_type),
        "not HTTP": lambda r, i: Attempt("POST", RECEIVERS[r][0], {},
                                         raw=b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n"),
        **queued_body_kinds(),
    }


HEAVY = {"over the size limit (Content-Length)", "over the size limit (chunked)", "100,000 levels of nesting",
         "signed: a 900 kB string"}
QUEUED = frozenset(queued_body_kinds())  # the kinds that must be answered 200; every other kind a 4xx


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


def send(base: str, host: str, port: int, attempt: Attempt) -> Answer:
    if attempt.raw is not None:
        return send_raw(host, port, attempt.raw)
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    body = attempt.body() if callable(attempt.body) else attempt.body
    try:
        response = session.request(attempt.method, base + attempt.path, data=body, headers=attempt.headers,
                                   timeout=30)
    except requests.RequestException as exc:
        _local.session = None
        return Answer(f"error: {type(exc).__name__}")
    return answer_of(str(response.status_code), response.content)


def send_raw(host: str, port: int, request: bytes) -> Answer:
    """Send bytes over a fresh socket; the answer's status, and its body once Content-Length is read."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        if not reply.startswith(b"HTTP/"):
            return Answer(f"closed: {reply[:20]!r}")
        head, _, body = reply.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return answer_of(reply.split(b" ", 2)[1].decode(), body)


def answer_of(status: str, body: bytes) -> Answer:
    if status != "200":
        return Answer(status)
    try:
        acknowledged = json.loads(body)
        return Answer(status, str(acknowledged["event_id"]), {"status": acknowledged.get("status")})
    except (ValueError, KeyError, TypeError):
        return Answer(status)


def run(stack: Stack, total: int, concurrency: int) -> tuple[dict[str, Counter[str]], list[str]]:
    """Answers per kind, and the ids of the events acknowledged with a 200."""
    makers = kinds()
    host, port = "127.0.0.1", stack.ports.web
    base = f"http://{host}:{port}"

    def one(item: tuple[str, str, int]) -> tuple[str, Answer]:
        name, receiver, index = item
        return name, send(base, host, port, makers[name](receiver, index))

    answers: dict[str, Counter[str]] = {name: Counter() for name in makers}
    accepted: list[str] = []
    with ThreadPoolExecutor(concurrency) as pool:
        for name, answer in pool.map(one, plan(total)):
            answers[name][answer.status] += 1
            if answer.status == "200":
                accepted.append(answer.event_id or f"<no event id from a 200 to {name}>")
    return answers, accepted


def states(accepted: list[str]) -> Counter[str]:
    """The state of each acknowledged event in Redis ("missing" when there is no record, "not queued"
    when it is recorded without its queued mark)."""
    found: Counter[str] = Counter()
    for state, queued_at, _ in records(accepted):
        found["missing" if state is None else state if queued_at or state == "ignored" else "not queued"] += 1
    return found


def records(accepted: list[str]) -> list[list[str | None]]:
    db = bench_redis()
    pipe = db.pipeline(transaction=False)
    for event_id in accepted:
        pipe.hmget(f"sec:event:{event_id}", "state", "queued_at", "last_error")
    return list(pipe.execute())


def dead_reasons(accepted: list[str]) -> Counter[str]:
    """Why the acknowledged events that ended dead did (their Stripe charge or Epicor customer does not
    exist: a permanent not-found, not a fault of the text they carried)."""
    return Counter(str(json.loads(error or "{}").get("reason")) for state, _, error in records(accepted)
                   if state == "dead")


def wait_finished(accepted: list[str], timeout: float) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = states(accepted)
        if set(found) <= {"done", "dead", "ignored"} or time.monotonic() > deadline:
            return found
        time.sleep(1)


def stored(accepted: list[str]) -> dict[str, int]:
    """What Redis holds beyond the acknowledged events: records nobody acknowledged, queued messages."""
    from tasks.broker import queue_depth

    db = bench_redis()
    records = sum(1 for _ in db.scan_iter("sec:event:*", count=1000))
    return {"event records not acknowledged": records - len(set(accepted)),
            "queued messages": queue_depth(db, "pipeline"), "dead letters queued": queue_depth(db, "dead_letter"),
            "keys": int(db.dbsize())}


def failures(answers: dict[str, Counter[str]], found: Counter[str], left: dict[str, int], worker: bool) -> list[str]:
    """Every kind answered as it must be; every acknowledged event recorded and queued (and, with the
    worker, finished); nothing stored for a refused request."""
    def expected(name: str, status: str) -> bool:
        if name in QUEUED:
            return status == "200"
        return status.isdigit() and 400 <= int(status) < 500

    problems = [f"{name}: {status} x{count}" for name, counter in answers.items()
                for status, count in counter.items() if not expected(name, status)]
    finished = {"done", "dead", "ignored"} if worker else {"received", "processing", "done", "dead", "ignored"}
    problems += [f"acknowledged events {state}: {count}" for state, count in found.items() if state not in finished]
    problems += [f"{what}: {count}" for what, count in left.items()
                 if what == "event records not acknowledged" and count
                 or what == "queued messages" and count and worker]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-worker", dest="worker", action="store_false",
                        help="only the receiver: acknowledged events must be recorded and queued, not finished")
    parser.add_argument("--finish-timeout", type=float, default=300.0)
    args = parser.parse_args()
    print_machine()
    stack = bench_stack("hostile")
    with BenchRedis():
        try:
            stack.start(["sandbox", "web", "worker"] if args.worker else ["web"])
            bench_redis().flushdb()
            started = time.monotonic()
            answers, accepted = run(stack, args.requests, args.concurrency)
            elapsed = time.monotonic() - started
            found = wait_finished(accepted, args.finish_timeout) if args.worker else states(accepted)
            finished_after = time.monotonic() - started - elapsed
            reasons = dead_reasons(accepted)
            left = stored(accepted)
        finally:
            stack.stop()
    print_table(f"Hostile requests ({args.requests} over HTTP, {args.concurrency} connections, "
                f"{elapsed:.1f} s): answers per kind, both receivers",
                ["kind", "expected", "requests", "answers"],
                [[name, "200" if name in QUEUED else "4xx", sum(counter.values()),
                  " ".join(f"{code}={count}" for code, count in sorted(counter.items()))]
                 for name, counter in answers.items()])
    problems = failures(answers, found, left, args.worker)
    print(f"\nacknowledged (200): {len(accepted)} events; their states"
          f"{f' {finished_after:.1f} s after the last request' if args.worker else ''}: {dict(sorted(found.items()))}")
    print(f"why the dead ones are dead: {dict(reasons.most_common())}")
    print(f"stored afterwards: {left}")
    print(f"every kind answered as expected (no 5xx), nothing lost, nothing else stored: {verdict(not problems)}")
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
