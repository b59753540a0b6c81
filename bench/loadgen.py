"""A small HTTP/1.1 load generator on asyncio: open loop at a fixed rate, or closed loop at saturation.

Open loop: request *i* is due at ``start + i / rate`` whatever happened to the earlier ones, and its
latency is measured from that scheduled time, not from when it was actually sent, so a server that
falls behind is charged for the queue it builds (no coordinated omission). Closed loop: a fixed number
of connections each send the next request as soon as the previous answer is in; requests per second
is then the server's capacity. Connections are kept alive, as Stripe's senders keep them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

Request = tuple[bytes, dict[str, str]]  # body, extra headers


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: Counter[int] = field(default_factory=Counter)
    elapsed: float = 0.0

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.completed / self.elapsed if self.elapsed else 0.0

    @property
    def failures(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != 200)


class Connection:
    """One keep-alive connection; reconnects once when the server closed it while idle."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, request: Request) -> int:
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                return await self._exchange(path, request)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 2:
                    return 599
        return 599

    async def _exchange(self, path: str, request: Request) -> int:
        assert self.reader is not None and self.writer is not None
        body, headers = request
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}",
                *(f"{name}: {value}" for name, value in headers.items())]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readuntil(b"\r\n")
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _open_loop(host: str, port: int, path: str, make: Callable[[int], Request], rate: float,
                     duration: float) -> Outcome:
    outcome, idle, pending = Outcome(), [], set()
    total = int(rate * duration)
    start = time.perf_counter()

    async def one(index: int, due: float) -> None:
        connection = idle.pop() if idle else Connection(host, port)
        status = await connection.post(path, make(index))
        outcome.latencies.append(time.perf_counter() - due)
        outcome.statuses[status] += 1
        idle.append(connection)

    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(one(index, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending)
    outcome.elapsed = time.perf_counter() - start
    for connection in idle:
        connection.close()
    return outcome


async def _closed_loop(host: str, port: int, path: str, make: Callable[[int], Request], concurrency: int,
                       duration: float) -> Outcome:
    outcome, counter = Outcome(), iter(range(10**9))
    start = time.perf_counter()
    stop_at = start + duration

    async def client() -> None:
        connection = Connection(host, port)
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            status = await connection.post(path, make(next(counter)))
            outcome.latencies.append(time.perf_counter() - sent)
            outcome.statuses[status] += 1
        connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    outcome.elapsed = time.perf_counter() - start
    return outcome


def open_loop(host: str, port: int, path: str, make: Callable[[int], Request], *, rate: float,
              duration: float) -> Outcome:
    return asyncio.run(_open_loop(host, port, path, make, rate, duration))


def closed_loop(host: str, port: int, path: str, make: Callable[[int], Request], *, concurrency: int,
                duration: float) -> Outcome:
    return asyncio.run(_closed_loop(host, port, path, make, concurrency, duration))
