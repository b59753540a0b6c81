"""The history store: a durable, relational audit trail of what the service did.

Redis keeps the pipeline's *working* records (they expire, and dead letters are removed when
replayed); this package keeps what happened for good (``HISTORY_RETENTION_DAYS``, 400 by default):
every event's states with their times, the Epicor documents created, the write-backs to Stripe, each
operator action and mapping change, and rollups that answer the console's overview quickly.

Policy, and why:

- **Never in the pipeline's way.** The pipeline only appends JSON records to the Redis stream
  ``sec:history`` (``history.recorder``), inside the Redis round trips it makes anyway. A drainer
  (``history.drainer``) moves them to the database in batches, in the background.
- **Nothing lost.** A record leaves the stream only after the transaction that wrote it committed;
  while the database is away the records wait in Redis (which is durable: AOF) and are written when
  it returns. Writing is idempotent (each record carries its own id), so a batch written twice
  (a drainer killed between commit and delete) changes nothing.
- **One database URL.** ``DATABASE_URL`` chooses it: SQLite (the default, a file under ``.run/``) for
  one host, PostgreSQL for several. Alembic migrations ship in the package and run at start.

Imports: ``app/`` and ``tasks/`` both use this package; it uses nothing of ``tasks`` but the Redis
client and settings helpers (``tasks.store``, ``tasks.settings``).
"""
