"""The HL7 v2 message store: every message received, its outcome and, for failures, why.

A processed message's row is written in the same database transaction as its FHIR resources, so
"acknowledged" always means "stored". The unique (sender, control id) key makes a resent message a
duplicate that changes nothing. Failed messages stay here (the dead-letter store) until replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)

from closer.store.schema import metadata

PROCESSED = "processed"  # mapped to FHIR and stored
STORED = "stored"  # an event we keep raw only
FAILED = "failed"  # dead-lettered: AE, kept for replay
REJECTED = "rejected"  # unusable (AR)

hl7_messages = Table(
    "hl7_messages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("sender", String(200), nullable=False),
    Column("control_id", String(200), nullable=False),
    Column("message_type", String(40), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("event_time", BigInteger, nullable=True),
    Column("patient_id", String(64), nullable=True),
    Column("visit_key", String(400), nullable=True),
    Column("attempts", Integer, nullable=False, default=1),
    Column("error", Text, nullable=True),
    Column("resources", Text, nullable=True),  # JSON list of Type/id written
    Column("raw", Text, nullable=False),
    UniqueConstraint("sender", "control_id", name="uq_hl7_messages_sender_control"),
    Index("ix_hl7_messages_visit", "visit_key", "status"),
    Index("ix_hl7_messages_patient", "patient_id", "status"),
    Index("ix_hl7_messages_status", "status", "id"),
)


def create_table(engine: Engine) -> None:
    hl7_messages.create(engine, checkfirst=True)


def now_us() -> int:
    return int(datetime.now(UTC).timestamp() * 1_000_000)


def to_us(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1_000_000) if moment else None


@dataclass(frozen=True)
class StoredMessage:
    id: int
    sender: str
    control_id: str
    message_type: str
    status: str
    received_at: int
    attempts: int
    error: str | None
    resources: str | None
    raw: str

    @classmethod
    def accepted(cls, values: dict[str, Any]) -> StoredMessage:
        """The row a batch is about to insert, so later messages in the batch see it."""
        fields = {name: values.get(name) for name in cls.__dataclass_fields__}
        return cls(**{**fields, "id": 0, "attempts": values.get("attempts") or 1})  # type: ignore[arg-type]

    @property
    def received(self) -> str:
        return datetime.fromtimestamp(self.received_at / 1_000_000, UTC).isoformat(timespec="seconds")


_COLUMNS = [hl7_messages.c[name] for name in StoredMessage.__dataclass_fields__]


def find(conn: Connection, sender: str, control_id: str) -> StoredMessage | None:
    return find_many(conn, {(sender, control_id)}).get((sender, control_id))


def get(conn: Connection, message_id: int) -> StoredMessage | None:
    row = conn.execute(select(*_COLUMNS).where(hl7_messages.c.id == message_id)).first()
    return StoredMessage(*row) if row else None


def save(conn: Connection, existing: StoredMessage | None, **values: Any) -> None:
    """Insert the message's row, or update it when this is a retry of a failed one."""
    values.setdefault("received_at", now_us())
    if existing is None:
        conn.execute(insert(hl7_messages).values(**values))
    else:
        values["attempts"] = existing.attempts + 1
        conn.execute(update(hl7_messages).where(hl7_messages.c.id == existing.id).values(**values))


CHUNK = 400  # keys per IN list: well inside both databases' limits on bound parameters


def _chunks(keys: set[Any]) -> list[list[Any]]:
    ordered = sorted(keys)
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


def find_many(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], StoredMessage]:
    found = {}
    senders: dict[str, set[str]] = {}
    for sender, control_id in keys:  # sender = ? AND control_id IN (...): the unique index serves it
        senders.setdefault(sender, set()).add(control_id)
    for sender, control_ids in senders.items():
        for chunk in _chunks(control_ids):
            query = select(*_COLUMNS).where(hl7_messages.c.sender == sender, hl7_messages.c.control_id.in_(chunk))
            for row in conn.execute(query):
                message = StoredMessage(*row)
                found[(message.sender, message.control_id)] = message
    return found


def latest_patient_events(conn: Connection, patient_ids: set[str]) -> dict[str, int | None]:
    latest: dict[str, int | None] = dict.fromkeys(patient_ids)
    for chunk in _chunks(patient_ids):
        query = (
            select(hl7_messages.c.patient_id, func.max(hl7_messages.c.event_time))
            .where(hl7_messages.c.patient_id.in_(chunk), hl7_messages.c.status == PROCESSED)
            .group_by(hl7_messages.c.patient_id)
        )
        latest.update({patient: event for patient, event in conn.execute(query)})
    return latest


def visit_messages_many(conn: Connection, visit_keys: set[str]) -> dict[str, list[str]]:
    visits: dict[str, list[str]] = {key: [] for key in visit_keys}
    for chunk in _chunks(visit_keys):
        query = select(hl7_messages.c.visit_key, hl7_messages.c.raw).where(
            hl7_messages.c.visit_key.in_(chunk), hl7_messages.c.status == PROCESSED
        )
        for visit_key, raw in conn.execute(query):
            visits[visit_key].append(raw)
    return visits


def insert_many(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(hl7_messages), rows)


def visit_messages(conn: Connection, visit_key: str) -> list[str]:
    """Raw text of the processed messages of one visit, for re-folding its Encounter."""
    return visit_messages_many(conn, {visit_key})[visit_key]


def latest_patient_event(conn: Connection, patient_id: str) -> int | None:
    return latest_patient_events(conn, {patient_id})[patient_id]


def listing(conn: Connection, status: str | None = None, limit: int = 50) -> list[StoredMessage]:
    query = select(*_COLUMNS).order_by(hl7_messages.c.id.desc()).limit(limit)
    if status:
        query = query.where(hl7_messages.c.status == status)
    return [StoredMessage(*row) for row in conn.execute(query)]
