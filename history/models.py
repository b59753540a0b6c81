"""The history's tables (SQLAlchemy 2 declarative models).

Times are stored as epoch seconds (``Float``): the same in SQLite and PostgreSQL, cheap to index and
to bucket (a minute is ``at // 60 * 60``); ``history.queries`` turns them into ISO 8601 with a zone.
Amounts are integers in Stripe's minor unit of their currency, never floats.

Search is by index, never by scan: every Stripe id an event touched and every Epicor key it created
is a row of ``history_refs`` (``ref`` → event id); documents keep their Epicor numbers in columns
of their own. The overview reads the rollup tables, written in the same transaction as the events, so
its 30-day figures cost a few thousand rows whatever the number of events.

Integration pairs (``tasks.pairs``): an event's row names its pair and every rollup row is one pair's
(``pair``, part of the key; 0004), so the overview narrows its figures to a pair by an index on the pair
and the time. Rows written before pairs existed are the pair ``default``'s.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Event(Base):
    """One Stripe or Epicor event: where it is now, and what it touched."""

    __tablename__ = "history_events"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str | None] = mapped_column(String(120))
    flow: Mapped[str | None] = mapped_column(String(60))
    source: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[str | None] = mapped_column(String(20))
    stage: Mapped[str | None] = mapped_column(String(30))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    object_id: Mapped[str | None] = mapped_column(String(255))
    payment: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(20))  # the final state counted in the rollups
    error_reason: Mapped[str | None] = mapped_column(String(120))
    error_message: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    epicor_keys: Mapped[str | None] = mapped_column(Text)  # JSON
    mapping_version: Mapped[str | None] = mapped_column(Text)  # JSON {document: version} it was built with (0003)
    pair: Mapped[str | None] = mapped_column(String(32))  # its integration pair; None: the default pair (0004)
    __table_args__ = (
        Index("ix_history_events_received", "received_at"),
        Index("ix_history_events_state", "state", "received_at"),
        Index("ix_history_events_flow", "flow", "received_at"),
    )


class Transition(Base):
    """One step of an event's timeline: a state (and stage, attempt, error) at a time."""

    __tablename__ = "history_transitions"
    rid: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255))
    at: Mapped[float] = mapped_column(Float)
    state: Mapped[str | None] = mapped_column(String(20))
    stage: Mapped[str | None] = mapped_column(String(30))
    attempt: Mapped[int | None] = mapped_column(Integer)
    error_reason: Mapped[str | None] = mapped_column(String(120))
    error_message: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_history_transitions_event", "event_id", "at"),)


class Ref(Base):
    """An id an event touched: a Stripe id (``ch_…``, ``pi_…``, …) or an Epicor key (``OrderNum:5001``)."""

    __tablename__ = "history_refs"
    ref: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    __table_args__ = (Index("ix_history_refs_event", "event_id"),)


class Document(Base):
    """An Epicor document an event created or changed."""

    __tablename__ = "history_documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rid: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    entity: Mapped[str] = mapped_column(String(60))
    doc_key: Mapped[str] = mapped_column(String(255))  # canonical keys, "GroupID=CR1;HeadNum=7"
    keys: Mapped[str] = mapped_column(Text)  # JSON
    external_ref: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    at: Mapped[float] = mapped_column(Float)
    cust_num: Mapped[int | None] = mapped_column(BigInteger)
    order_num: Mapped[int | None] = mapped_column(BigInteger)
    invoice_num: Mapped[int | None] = mapped_column(BigInteger)
    head_num: Mapped[int | None] = mapped_column(BigInteger)
    group_id: Mapped[str | None] = mapped_column(String(60))
    __table_args__ = (
        UniqueConstraint("event_id", "entity", "doc_key", name="uq_history_documents_event_doc"),
        Index("ix_history_documents_cust", "cust_num"),
        Index("ix_history_documents_order", "order_num"),
        Index("ix_history_documents_invoice", "invoice_num"),
        Index("ix_history_documents_head", "head_num"),
        Index("ix_history_documents_ref", "external_ref"),
        Index("ix_history_documents_at", "at"),
        Index("ix_history_documents_group", "group_id"),  # search by cash group id (0002)
    )


class Writeback(Base):
    """Epicor numbers written onto a Stripe object's metadata."""

    __tablename__ = "history_writebacks"
    rid: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_object: Mapped[str] = mapped_column(String(255), index=True)
    fields: Mapped[str] = mapped_column(Text)  # JSON
    at: Mapped[float] = mapped_column(Float)


class OperatorAction(Base):
    """Who did what to which event or dead letter, when, why, and how it went."""

    __tablename__ = "history_operator_actions"
    rid: Mapped[str] = mapped_column(String(32), primary_key=True)
    who: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(255), index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)  # JSON
    at: Mapped[float] = mapped_column(Float, index=True)


class MappingChange(Base):
    __tablename__ = "history_mapping_changes"
    rid: Mapped[str] = mapped_column(String(32), primary_key=True)
    who: Mapped[str] = mapped_column(String(120))
    mapping: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str | None] = mapped_column(String(60))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Float, index=True)
    diff: Mapped[str | None] = mapped_column(Text)  # from the version before, for a published version (0003)
    content: Mapped[str | None] = mapped_column(Text)  # the published YAML, so it can be restored from here (0003)


# -- rollups: written with the events, read by the overview ------------------------------------
DEFAULT_PAIR = "default"


def pair_column() -> Mapped[str]:
    """A rollup row's integration pair: the last part of its key, so a range on the time still reads the
    primary key, and rows written before pairs existed are the default pair's."""
    return mapped_column(String(32), primary_key=True, server_default=text(f"'{DEFAULT_PAIR}'"))


class MinuteCount(Base):
    """Events finished per minute, by flow and outcome (done, dead, ignored)."""

    __tablename__ = "history_rollup_minute"
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    flow: Mapped[str] = mapped_column(String(60), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20), primary_key=True)
    pair: Mapped[str] = pair_column()
    n: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_history_rollup_minute_pair", "pair", "minute"),)


class LatencyBucket(Base):
    """Receipt-to-done latencies per hour as a histogram: bucket ``b`` holds [1.25^(b-1), 1.25^b) × 0.01 s."""

    __tablename__ = "history_rollup_latency"
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair: Mapped[str] = pair_column()
    n: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_history_rollup_latency_pair", "pair", "hour"),)


class DayAmount(Base):
    """Amounts of finished (done) events per day, currency and flow, in minor units."""

    __tablename__ = "history_rollup_amount"
    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    flow: Mapped[str] = mapped_column(String(60), primary_key=True)
    pair: Mapped[str] = pair_column()
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    n: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_history_rollup_amount_pair", "pair", "day"),)


class HourErrors(Base):
    """Epicor errors (every failed attempt whose reason is ``epicor.*``) per hour and reason."""

    __tablename__ = "history_rollup_errors"
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reason: Mapped[str] = mapped_column(String(120), primary_key=True)
    pair: Mapped[str] = pair_column()
    n: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_history_rollup_errors_pair", "pair", "hour"),)
