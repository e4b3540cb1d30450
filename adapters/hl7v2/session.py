"""How the processor reads and writes inside one database transaction: directly, or batched.

`DirectSession` sends every read and write straight to the database: one message at a time, merges,
and the one-by-one retry of a batch that failed. `BatchSession` serves a whole batch of messages with
a handful of statements: it looks up in bulk everything the batch will read (message rows, patients,
practices, visit histories), keeps the batch's own writes in memory so later messages see earlier
ones, and writes them at the end with one `put_many` and one insert of message rows. Both give the
processor the same answers, so the mapping logic exists once.
"""

from __future__ import annotations

from typing import Any

from adapters.hl7v2 import messagestore as store
from adapters.hl7v2.mapping import MappedMessage
from adapters.writing import current, exists
from closer.store.engine import is_postgres
from closer.store.query import SearchQuery
from closer.store.sql import SqlRepository

JSON = dict[str, Any]
Key = tuple[str, str]


class NeedsDirect(Exception):
    """The batch holds something only the direct session does (a merge, a merged-away patient)."""


class DirectSession:
    def __init__(self, tx: SqlRepository) -> None:
        self.tx = tx

    def read(self, resource_type: str, resource_id: str) -> JSON | None:
        """The current resource, or None when there is none or it was deleted."""
        return current(self.tx, resource_type, resource_id)

    def taken(self, resource_type: str, resource_id: str) -> bool:
        """Whether the id is in use, by a live or a deleted resource."""
        return exists(self.tx, resource_type, resource_id)

    def put(self, resource: JSON) -> None:
        self.tx.update(resource)

    def search(self, query: SearchQuery) -> list[JSON]:
        return self.tx.search(query).matches

    def find_message(self, sender: str, control_id: str) -> store.StoredMessage | None:
        return store.find(self.tx.connection, sender, control_id)

    def latest_patient_event(self, patient_id: str) -> int | None:
        return store.latest_patient_event(self.tx.connection, patient_id)

    def visit_messages(self, visit_key: str) -> list[str]:
        return store.visit_messages(self.tx.connection, visit_key)

    def save_message(self, existing: store.StoredMessage | None, **values: Any) -> None:
        store.save(self.tx.connection, existing, **values)

    def finish(self) -> None:
        """Nothing is held back: every write has been made."""


class BatchSession(DirectSession):
    def __init__(self, tx: SqlRepository, batch: list[MappedMessage]) -> None:
        super().__init__(tx)
        if any(m.merged_patient_id for m in batch):
            raise NeedsDirect("a merge needs searches the batch cannot answer")
        conn = tx.connection
        self.messages = store.find_many(conn, {(m.header.sending_facility, m.header.control_id) for m in batch})
        patients = {m.patient_id for m in batch if m.patient_id}
        self.latest = store.latest_patient_events(conn, patients)
        self.visits = store.visit_messages_many(conn, {m.visit_key for m in batch if m.visit_key})
        wanted = {("Patient", p) for p in patients} | {("Organization", m.practice["id"]) for m in batch if m.practice}
        # On SQLite this transaction has held the write lock since it began, so a key the lookup did not
        # find is still absent and need not be asked again; PostgreSQL lets another connection create it.
        self.looked_up = set() if is_postgres(tx.engine) else wanted
        self.found = tx.read_many(wanted)
        self.overlay: dict[Key, JSON] = {}
        self.pending: list[JSON] = []
        self.new_messages: list[dict[str, Any]] = []

    def read(self, resource_type: str, resource_id: str) -> JSON | None:
        key = (resource_type, resource_id)
        if key in self.overlay:
            return self.overlay[key]
        if key in self.found:
            resource, deleted = self.found[key]
            return None if deleted else resource
        if key in self.looked_up:
            return None
        return super().read(resource_type, resource_id)

    def taken(self, resource_type: str, resource_id: str) -> bool:
        key = (resource_type, resource_id)
        if key in self.overlay or key in self.found:
            return True
        return key not in self.looked_up and super().taken(resource_type, resource_id)

    def put(self, resource: JSON) -> None:
        self.overlay[(resource["resourceType"], str(resource["id"]))] = resource
        self.pending.append(resource)

    def search(self, query: SearchQuery) -> list[JSON]:
        raise NeedsDirect("searches see only what is committed")

    def find_message(self, sender: str, control_id: str) -> store.StoredMessage | None:
        return self.messages.get((sender, control_id))

    def latest_patient_event(self, patient_id: str) -> int | None:
        if patient_id not in self.latest:
            self.latest[patient_id] = super().latest_patient_event(patient_id)
        return self.latest[patient_id]

    def visit_messages(self, visit_key: str) -> list[str]:
        if visit_key not in self.visits:
            self.visits[visit_key] = super().visit_messages(visit_key)
        return self.visits[visit_key]

    def save_message(self, existing: store.StoredMessage | None, **values: Any) -> None:
        if existing is not None:  # a retry of a failed message: rare, written at once
            super().save_message(existing, **values)
        else:
            values.setdefault("received_at", store.now_us())
            self.new_messages.append(values)
        self.messages[(values["sender"], values["control_id"])] = store.StoredMessage.accepted(values)
        if values["status"] == store.PROCESSED:
            patient, event = values.get("patient_id"), values.get("event_time")
            if patient and event is not None:
                self.latest[patient] = max(event, self.latest_patient_event(patient) or event)
            if values.get("visit_key"):
                self.visit_messages(values["visit_key"]).append(values["raw"])

    def finish(self) -> None:
        """Write the batch: its resources in one put_many, its message rows in one insert."""
        self.tx.put_many(self.pending)
        store.insert_many(self.tx.connection, self.new_messages)
