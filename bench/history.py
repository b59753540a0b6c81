"""History store at scale: fill N events (default 1,000,000) with their timeline, refs and documents,
then time what the console asks: a search by each id kind, the 30-day and 24-hour overview figures
and the event list. Prints the figures (targets: search < 100 ms, 30-day figures < 1 s).

    python -m bench.history                        # SQLite, a file of its own under .run/bench/
    python -m bench.history --database postgresql  # a database of its own on BENCH_POSTGRES_URL
    python -m bench.history --events 100000

The fill bypasses the drainer (bulk inserts: sqlite3 ``executemany``, PostgreSQL ``COPY``), then
writes the rollups the drainer would have written; the queries timed are ``history.queries``'s own.
Each event is a paid order over the last 30 days (3 % dead letters, 2 % ignored) with 3 timeline
steps, 6 refs (evt is the key; ch, pi, cus, OrderNum, HeadNum, InvoiceNum) and 3 documents (plus
50,000 customers).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from history import db, queries, writer

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CHUNK = 50_000


def rows(n: int, now: float) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Chunks of rows per table for ``n`` events spread over 30 days."""
    rng = random.Random(7)
    for start in range(0, n, CHUNK):
        chunk: dict[str, list[tuple[Any, ...]]] = {"events": [], "transitions": [], "refs": [], "documents": []}
        for i in range(start, min(n, start + CHUNK)):
            _one(i, rng, now, chunk)
        yield chunk


def _one(i: int, rng: random.Random, now: float, chunk: dict[str, list[tuple[Any, ...]]]) -> None:
    received = now - rng.random() * 30 * 86400
    latency = rng.lognormvariate(0.5, 0.6)
    roll = rng.random()
    state = "dead" if roll < 0.03 else "ignored" if roll < 0.05 else "done"
    finished = received + latency
    amount, currency = rng.randrange(100, 500_000), rng.choice(("usd", "usd", "usd", "eur", "gbp"))
    evt, ch, pi, cus = f"evt_b{i:09d}", f"ch_b{i:09d}", f"pi_b{i:09d}", f"cus_b{i % 50_000:06d}"
    order, head, invoice = 100_000 + i, 200_000 + i, 300_000 + i
    error = ("epicor.business_rule", "part NEWPART-9 is not in Epicor") if state == "dead" else (None, None)
    keys = f'{{"CustNum":{i % 50_000},"OrderNum":{order},"InvoiceNum":{invoice},"HeadNum":{head}}}'
    chunk["events"].append((evt, "charge.succeeded", "order_to_cash", "stripe", state, "status_update", 1, ch, pi,
                            received, finished, finished, state, error[0], error[1], amount, currency, keys))
    chunk["transitions"] += [(f"r{i}a", evt, received, "received", None, None, None, None),
                             (f"r{i}b", evt, received + latency / 2, "processing", "post", 1, None, None),
                             (f"r{i}c", evt, finished, state, "status_update", 1, error[0], error[1])]
    chunk["refs"] += [(ch, evt), (pi, evt), (cus, evt), (f"OrderNum:{order}", evt), (f"HeadNum:{head}", evt),
                      (f"InvoiceNum:{invoice}", evt)]
    if i < 50_000:  # each customer is created once, by its first payment
        chunk["documents"].append((f"d{i}k", evt, "Customer", f"CustNum={i}", f'{{"CustNum":{i}}}', pi, None, None,
                                   finished, i, None, None, None, None))
    if state == "done":
        chunk["documents"] += [
            (f"d{i}a", evt, "SalesOrder", f"OrderNum={order}", f'{{"OrderNum":{order}}}', pi, amount, currency,
             finished, None, order, None, None, None),
            (f"d{i}b", evt, "ARInvoice", f"InvoiceNum={invoice}", f'{{"InvoiceNum":{invoice}}}', pi, amount,
             currency, finished, None, None, invoice, None, None),
            (f"d{i}c", evt, "CashReceipt", f"GroupID=CR;HeadNum={head}", f'{{"GroupID":"CR","HeadNum":{head}}}', pi,
             amount, currency, finished, None, None, None, head, "CR")]


COLUMNS = {
    "events": ("history_events", "id, type, flow, source, state, stage, attempts, object_id, payment, received_at, "
               "updated_at, finished_at, outcome, error_reason, error_message, amount, currency, epicor_keys"),
    "transitions": ("history_transitions", "rid, event_id, at, state, stage, attempt, error_reason, error_message"),
    "refs": ("history_refs", "ref, event_id"),
    "documents": ("history_documents", "rid, event_id, entity, doc_key, keys, external_ref, amount, currency, at, "
                  "cust_num, order_num, invoice_num, head_num, group_id"),
}


class Rollups:
    def __init__(self) -> None:
        self.minutes: Counter[tuple[int, str, str]] = Counter()
        self.latency: Counter[tuple[int, int]] = Counter()
        self.amounts: Counter[tuple[int, str, str]] = Counter()
        self.counts: Counter[tuple[int, str, str]] = Counter()
        self.errors: Counter[tuple[int, str]] = Counter()

    def add(self, events: list[tuple[Any, ...]]) -> None:
        for row in events:
            state, received, finished, amount, currency = row[4], row[9], row[11], row[15], row[16]
            self.minutes[(int(finished // 60 * 60), "order_to_cash", state)] += 1
            if state == "done":
                self.latency[(int(finished // 3600 * 3600), writer.latency_bucket(finished - received))] += 1
                self.amounts[(int(finished // 86400 * 86400), currency, "order_to_cash")] += amount
                self.counts[(int(finished // 86400 * 86400), currency, "order_to_cash")] += 1
            if row[13]:
                self.errors[(int(finished // 3600 * 3600), row[13])] += 1

    def tables(self) -> dict[str, tuple[str, list[tuple[Any, ...]]]]:
        return {
            "minute": ("history_rollup_minute (minute, flow, outcome, n)", [(*k, v) for k, v in self.minutes.items()]),
            "latency": ("history_rollup_latency (hour, bucket, n)", [(*k, v) for k, v in self.latency.items()]),
            "amount": ("history_rollup_amount (day, currency, flow, amount, n)",
                       [(*k, v, self.counts[k]) for k, v in self.amounts.items()]),
            "errors": ("history_rollup_errors (hour, reason, n)", [(*k, v) for k, v in self.errors.items()]),
        }


def fill(url: str, n: int, now: float) -> float:
    started = time.perf_counter()
    rollups = Rollups()
    raw = db.engine(url).raw_connection()
    try:
        for chunk in rows(n, now):
            rollups.add(chunk["events"])
            for name, table_rows in chunk.items():
                table, columns = COLUMNS[name]
                _bulk(raw, f"{table} ({columns})", table_rows)
            raw.commit()
        for target, table_rows in rollups.tables().values():
            _bulk(raw, target, table_rows)
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def _bulk(raw: Any, target: str, table_rows: list[tuple[Any, ...]]) -> None:
    if not table_rows:
        return
    cursor = raw.cursor()
    if hasattr(cursor, "copy"):  # psycopg 3: COPY is PostgreSQL's bulk path
        with cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for row in table_rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * len(table_rows[0]))
        cursor.executemany(f"INSERT INTO {target} VALUES ({marks})", table_rows)  # noqa: S608 - our own names
    cursor.close()


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def report(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    print(f"  {name:<34} p50 {statistics.median(ordered):8.1f} ms   p95 {p95:8.1f} ms   (n={len(ordered)})")


def measure(n: int) -> None:
    rng = random.Random(11)
    picks = [rng.randrange(n) for _ in range(200)]
    kinds: dict[str, Callable[[int], str]] = {
        "evt_ (event id)": lambda i: f"evt_b{i:09d}", "ch_ (charge)": lambda i: f"ch_b{i:09d}",
        "pi_ (payment intent)": lambda i: f"pi_b{i:09d}",
        "cus_ (customer, ~20 events)": lambda i: f"cus_b{i % 50_000:06d}",
        "OrderNum": lambda i: str(100_000 + i), "HeadNum (cash receipt)": lambda i: str(200_000 + i),
        "InvoiceNum": lambda i: str(300_000 + i),
    }
    for name, make in kinds.items():
        queries.search(make(picks[0]))  # warm
        it = iter(picks)
        report(f"search {name}", timed(lambda make=make, it=it: queries.search(make(next(it))), len(picks)))
    for window in ("30d", "24h", "1h"):
        queries.stats(window)
        report(f"stats({window!r})", timed(lambda window=window: queries.stats(window), 10))
    report("list_events(limit=50)", timed(lambda: queries.list_events(limit=50), 20))
    report("list_events(state='dead')", timed(lambda: queries.list_events(state="dead", limit=50), 20))
    report("event_detail", timed(lambda: queries.event_detail(f"evt_b{rng.randrange(n):09d}"), 100))


def prepare(database: str) -> str:
    if database == "sqlite":
        path = ROOT / ".run" / "bench" / "history.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text('DROP DATABASE IF EXISTS "history_bench" WITH (FORCE)'))
        connection.execute(text('CREATE DATABASE "history_bench"'))
    admin.dispose()
    return POSTGRES.rsplit("/", 1)[0] + "/history_bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    url = prepare(args.database)
    os.environ["DATABASE_URL"] = url
    db.dispose_engines()
    db.migrate()
    seconds = fill(db.database_url(), args.events, time.time())
    with db.engine().begin() as connection:  # planner statistics, as autovacuum would gather them (committed)
        connection.execute(text("ANALYZE"))
    print(f"{args.database}: {args.events:,} events filled in {seconds:.0f} s "
          f"({args.events / seconds:,.0f} events/s with their timeline, refs and documents)")
    measure(args.events)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
