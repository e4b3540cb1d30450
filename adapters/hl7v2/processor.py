"""One HL7 v2 message in, FHIR resources and a message-store row out, atomically, and the ACK to send.

Order of work: split and map the message and validate and index its resources as they will be
written if the store changes nothing (pure, no lock held; for bulk ingest in worker processes, see
`process_stream`), then in one database transaction: check for a duplicate, write the Patient,
practice, Encounter (re-folded from all the visit's messages), diagnoses, allergies, next of kin and a
Provenance, and record the message as processed. Anything that goes wrong rolls all of that back and
the message is kept as failed (dead-lettered) with the reason, and the sender gets AE. Unusable
messages are kept as rejected and get AR.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

import orjson
from sqlalchemy.exc import IntegrityError, OperationalError

from adapters.hl7v2 import messagestore as store
from adapters.hl7v2.ack import build_ack
from adapters.hl7v2.errors import Hl7Error, MessageInvalid, MessageRejected
from adapters.hl7v2.mapping import Header, MappedMessage, VisitEvent, header_of, map_message
from adapters.hl7v2.parser import Message, parse
from adapters.hl7v2.session import BatchSession, DirectSession
from adapters.hl7v2.strict import check_strictly
from adapters.hl7v2.visits import fold
from adapters.identity import NHS_NUMBER_SYSTEM, derived_id, local_system
from adapters.merge import system_value, union
from closer.errors import FhirError
from closer.store.extract import prepare
from closer.store.query import parse_search
from closer.store.sql import SqlRepository

log = logging.getLogger("closer.hl7v2")
JSON = dict[str, Any]

CLASH_RETRIES = 3  # attempts at a message whose writes clash with another connection's (PostgreSQL)
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
# Resources that point at a patient, re-pointed to the survivor on a merge (A40/A34).
PATIENT_REFERENCES = (
    ("Encounter", "subject"),
    ("Condition", "subject"),
    ("AllergyIntolerance", "patient"),
    ("RelatedPerson", "patient"),
)


@dataclass(frozen=True)
class Outcome:
    """What happened to one message and the ACK that says so."""

    code: str  # AA, AE or AR
    status: str  # processed, stored, duplicate, failed, rejected
    text: str = ""
    error: Hl7Error | None = None
    message: Message | None = None
    resources: list[str] = field(default_factory=list)

    @property
    def control_id(self) -> str:
        return self.message.control_id if self.message is not None else ""

    def ack(self) -> str:
        return build_ack(self.code, self.message, self.text, self.error)


class Hl7Processor:
    def __init__(self, repository: SqlRepository, *, strict: bool = False) -> None:
        self.repository = repository
        self.strict = strict
        store.create_table(repository.engine)

    # -- entry points ------------------------------------------------------------------------------
    def process(self, text: str) -> Outcome:
        """Process one message in its own transaction. Never raises: every failure is an Outcome."""
        return self.process_batch([text])[0]

    def process_batch(self, texts: list[str], mapped: list[MappedMessage | None] | None = None) -> list[Outcome]:
        """Process messages in one database transaction, so a bulk load pays for one commit, not one
        per message. If any message fails, the batch is rolled back and redone with a savepoint per
        message, so only the failing ones are dead-lettered and the rest are stored. `mapped` holds what
        map_in_worker made of the texts, if it ran."""
        premapped = mapped or [None] * len(texts)
        prepared = [self._prepare(text, m) for text, m in zip(texts, premapped, strict=True)]
        work = [(i, p) for i, p in enumerate(prepared) if not isinstance(p, Outcome)]
        outcomes: list[Outcome | None] = [p if isinstance(p, Outcome) else None for p in prepared]
        if not work:
            return [o for o in outcomes if o is not None]
        try:
            with self.repository.transaction() as tx:
                session = BatchSession(tx, [mapped for _, (_, mapped) in work])
                done = [(i, self._apply(session, message, mapped)) for i, (message, mapped) in work]
                session.finish()
        except Exception:
            done = self._apply_one_by_one(work)
        for index, outcome in done:
            outcomes[index] = outcome
        return [o for o in outcomes if o is not None]

    def process_stream(self, batches: Iterable[list[str]], workers: int = 0) -> Iterator[list[Outcome]]:
        """process_batch for each batch, in order. With `workers`, the batches ahead are mapped, validated
        and indexed in that many worker processes (forked: pure work, no database) while this process
        writes the current one. Writing stays here, one batch at a time in order, and each batch's
        outcomes are given only after it commits: order per patient and per visit, and "acknowledged
        means stored", are as without workers."""
        with _collecting_per_batch() as collect:
            if workers <= 0:
                for batch in batches:
                    yield self.process_batch(batch)
                    collect()
                return
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                ahead: deque[tuple[list[str], Future[list[MappedMessage | None]] | None]] = deque()
                for batch in batches:
                    ahead.append((batch, _submit(pool, batch, self.strict)))
                    if len(ahead) > workers:
                        texts, mapped = ahead.popleft()
                        yield self.process_batch(texts, _mapped_ahead(mapped))
                        collect()
                while ahead:
                    texts, mapped = ahead.popleft()
                    yield self.process_batch(texts, _mapped_ahead(mapped))
                    collect()

    def _apply_one_by_one(self, work: list[tuple[int, tuple[Message, MappedMessage]]]) -> list[tuple[int, Outcome]]:
        done: list[tuple[int, Outcome]] = []
        failed: list[tuple[int, Message, Hl7Error]] = []
        try:
            with self.repository.transaction() as tx:
                for index, (message, mapped) in work:
                    try:
                        done.append((index, self._apply_alone(tx, message, mapped)))
                    except Exception as exc:
                        failed.append((index, message, _as_error(exc)))
        except Exception as exc:  # the commit itself failed: nothing of this batch was stored
            error = _as_error(exc)
            done, failed = [], [(index, message, error) for index, (message, _) in work]
        return done + [(index, self._dead_letter(message, error)) for index, message, error in failed]

    def _apply_alone(self, tx: SqlRepository, message: Message, mapped: MappedMessage) -> Outcome:
        """One message in a savepoint. A unique-key clash means another connection created the same
        record (a new patient, a practice) and committed it first: rolled back to the savepoint, the
        message is applied again and now finds that record, instead of being dead-lettered."""
        for attempt in range(1, CLASH_RETRIES + 1):
            try:
                with tx.savepoint():
                    return self._apply(DirectSession(tx), message, mapped)
            except (IntegrityError, OperationalError) as exc:
                if attempt == CLASH_RETRIES or not _clash(exc):
                    raise
                time.sleep(random.uniform(0, 0.02 * attempt))  # let the other connection finish first
        raise AssertionError("unreachable")

    def replay(self, message_id: int) -> Outcome:
        """Process a stored (typically failed) message again, e.g. after a fix."""
        with self.repository.engine.connect() as conn:
            stored = store.get(conn, message_id)
        if stored is None:
            raise LookupError(f"No message with id {message_id}")
        return self.process(stored.raw)

    # -- steps -------------------------------------------------------------------------------------
    def _prepare(self, text: str, mapped: MappedMessage | None = None) -> tuple[Message, MappedMessage] | Outcome:
        """Split and map outside the transaction (unless a worker process has mapped it: `mapped`). Unusable
        messages are rejected here; content errors are dead-lettered (they may succeed on replay after a fix)."""
        try:
            message = parse(text)
            if mapped is not None:
                return message, mapped
            header = header_of(message)
        except MessageRejected as exc:
            return self._reject(text, exc)
        except Hl7Error as exc:
            return self._dead_letter(message, exc)
        try:
            return message, map_for_writing(message, header, self.strict)
        except Hl7Error as exc:
            return self._dead_letter(message, exc)
        except Exception as exc:
            log.exception("Mapping failed for message %s", message.control_id)
            return self._dead_letter(message, _as_error(exc))

    def _apply(self, session: DirectSession, message: Message, mapped: MappedMessage) -> Outcome:
        header = mapped.header
        existing = session.find_message(header.sending_facility, header.control_id)
        if existing is not None and existing.status in (store.PROCESSED, store.STORED):
            return Outcome("AA", "duplicate", "Duplicate: already accepted", message=message)
        written: list[str] = []
        if mapped.mapped:
            written = self._write_resources(session, mapped)
        status = store.PROCESSED if mapped.mapped else store.STORED
        try:
            session.save_message(
                existing,
                sender=header.sending_facility,
                control_id=header.control_id,
                message_type=f"{header.message_code}^{header.trigger}",
                status=status,
                event_time=store.to_us(header.sort_time),
                patient_id=mapped.patient_id or None,
                visit_key=mapped.visit_key or None,
                error=None,
                resources=orjson.dumps(written).decode(),
                raw=message.text,
            )
        except IntegrityError:  # the same message committed by another connection meanwhile
            raise _Duplicate("Duplicate: already accepted") from None
        text = "Accepted" if mapped.mapped else f"Accepted and stored raw ({header.message_code}^{header.trigger})"
        return Outcome("AA", status, text, message=message, resources=written)

    def _write_resources(self, session: DirectSession, mapped: MappedMessage) -> list[str]:
        header = mapped.header
        assert mapped.patient is not None
        patient_id = self._surviving_id(session, mapped.patient_id)
        if patient_id != mapped.patient_id:
            _repoint(mapped, patient_id)
        if mapped.practice is not None and not session.taken("Organization", mapped.practice["id"]):
            session.put(mapped.practice)
        latest = session.latest_patient_event(patient_id)
        if latest is None or header.sort_time is None or store.to_us(header.sort_time) >= latest:  # type: ignore[operator]
            session.put(_merge_patient(session.read("Patient", patient_id), mapped.patient))
        written = [f"Patient/{patient_id}"]
        if mapped.merged_patient_id and mapped.merged_patient_id != patient_id:
            written.extend(self._merge(session, mapped.merged_patient_id, patient_id))
        if mapped.visit is not None:
            history = self._visit_history(session, mapped)
            session.put(_prepared_if_same(mapped.encounter, _encounter(mapped, history, patient_id)))
        for resource in (*mapped.conditions, *mapped.allergies, *mapped.related):
            session.put(resource)
        written.extend(_made(mapped))
        session.put(_prepared_if_same(mapped.provenance, _provenance(header, written, mapped.recorded)))
        return written

    def _visit_history(self, session: DirectSession, mapped: MappedMessage) -> list[VisitEvent]:
        events = []
        for raw in session.visit_messages(mapped.visit_key):
            previous = map_message(parse(raw)).visit
            if previous is not None and previous.control_id != mapped.header.control_id:
                events.append(previous)
        return events

    def _surviving_id(self, session: DirectSession, patient_id: str) -> str:
        """A message about a record that was merged away is applied to the surviving record."""
        current = session.read("Patient", patient_id)
        for link in (current or {}).get("link", []):
            if link.get("type") == "replaced-by":
                return str(link["other"]["reference"]).split("/", 1)[1]
        return patient_id

    def _merge(self, session: DirectSession, old_id: str, survivor_id: str) -> list[str]:
        """A40/A34: the old record is replaced-by the survivor, and what pointed at the old record now
        points at the survivor, so a search by the surviving identifier finds the whole history."""
        old = session.read("Patient", old_id) or {"resourceType": "Patient", "id": old_id}
        old = {k: v for k, v in old.items() if k != "meta"}
        old["active"] = False
        old["link"] = [{"other": {"reference": f"Patient/{survivor_id}"}, "type": "replaced-by"}]
        session.put(old)
        survivor = session.read("Patient", survivor_id)
        assert survivor is not None
        links = [link for link in survivor.get("link", []) if link["other"]["reference"] != f"Patient/{old_id}"]
        links.append({"other": {"reference": f"Patient/{old_id}"}, "type": "replaces"})
        session.put({**{k: v for k, v in survivor.items() if k != "meta"}, "link": links})
        moved = [f"Patient/{old_id}"]
        for resource_type, element in PATIENT_REFERENCES:
            query = parse_search(resource_type, [(element, f"Patient/{old_id}"), ("_count", "1000")])
            for resource in session.search(query):
                changed = {k: v for k, v in resource.items() if k != "meta"}
                changed[element] = {"reference": f"Patient/{survivor_id}"}
                session.put(changed)
                moved.append(f"{resource_type}/{resource['id']}")
        return moved

    # -- failures ----------------------------------------------------------------------------------
    def _dead_letter(self, message: Message, error: Hl7Error) -> Outcome:
        if isinstance(error, _Duplicate):
            return Outcome("AA", "duplicate", "Duplicate: already accepted", message=message)
        log.warning("HL7 message %s failed: %s", message.control_id, error)
        self._keep(message.sending_facility, message.control_id, message.text, store.FAILED, error, message)
        return Outcome("AE", "failed", error.message, error, message)

    def _reject(self, text: str, error: MessageRejected) -> Outcome:
        log.warning("HL7 message rejected: %s", error)
        try:
            message: Message | None = parse(text)
        except MessageRejected:
            try:  # a later segment is broken: the MSH alone still names the sender and the control id to echo
                message = parse(text.strip("\r\n").replace("\r\n", "\r").replace("\n", "\r").split("\r", 1)[0])
            except MessageRejected:
                message = None
        sender = message.sending_facility if message else ""
        control_id = message.control_id if message and message.control_id else ""
        self._keep(sender, control_id, text, store.REJECTED, error, message)
        return Outcome("AR", "rejected", error.message, error, message)

    def _keep(
        self, sender: str, control_id: str, raw: str, status: str, error: Hl7Error, message: Message | None
    ) -> None:
        """Record a message we could not process. A failure to record it is logged, not raised: the
        sender gets AE/AR and will resend, so nothing is lost."""
        try:
            with self.repository.engine.begin() as conn:
                key = _storable(control_id, 200) or f"unidentified-{derived_id('m', raw, str(store.now_us()))}"
                sender = _storable(sender, 200)
                existing = store.find(conn, sender, key) if control_id else None
                if existing is not None and existing.status in (store.PROCESSED, store.STORED):
                    return
                store.save(
                    conn,
                    existing,
                    sender=sender,
                    control_id=key,
                    message_type=_storable(f"{message.message_code}^{message.trigger_event}", 40) if message else "",
                    status=status,
                    error=_storable(str(error)),
                    raw=_storable(raw),
                )
        except Exception:
            log.exception("Could not record failed HL7 message %s", control_id)


def _storable(text: str, limit: int | None = None) -> str:
    """Text the message store can hold on every backend: PostgreSQL refuses NUL characters in text and
    values longer than their column."""
    return text.replace("\x00", "\\x00")[:limit]


class _Duplicate(Hl7Error):
    """Another connection committed the same message first."""


def _clash(exc: Exception) -> bool:
    """Another connection got there first: a unique key it committed, or (PostgreSQL) a deadlock or
    serialisation failure PostgreSQL resolved by failing this statement. Rolled back to the savepoint,
    the message can be applied again."""
    if isinstance(exc, IntegrityError):
        return True
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in TRANSIENT_SQLSTATES


def _as_error(exc: Exception) -> Hl7Error:
    if isinstance(exc, Hl7Error):
        return exc
    if isinstance(exc, FhirError):
        return MessageInvalid(f"The FHIR resources made from this message are not valid: {exc}", code="207")
    return Hl7Error(f"Internal error while storing the message ({type(exc).__name__})", code="207")


def _merge_patient(existing: JSON | None, incoming: JSON) -> JSON:
    """The message's view of the patient over what we already hold: what the message does not say
    (other identifiers, the GP when PD1 is absent, links from merges) is kept."""
    if existing is None:
        return incoming
    merged = {k: v for k, v in existing.items() if k != "meta"}
    merged.update(incoming)
    merged["identifier"] = union(existing.get("identifier", []), incoming.get("identifier", []), system_value)
    if "deceasedDateTime" in merged and "deceasedBoolean" in merged:
        del merged["deceasedBoolean"]
    return merged


def _repoint(mapped: MappedMessage, patient_id: str) -> None:
    """Point the message's resources at the surviving patient. Copies, not changes: the resources may be
    prepared (validated and indexed) as they were."""
    reference = {"reference": f"Patient/{patient_id}"}
    assert mapped.patient is not None
    # The retired NHS number stays on the merged-away record; the survivor keeps its own.
    identifiers = [i for i in mapped.patient.get("identifier", []) if i.get("system") != NHS_NUMBER_SYSTEM]
    patient = {k: v for k, v in mapped.patient.items() if k != "identifier"}
    patient["id"] = patient_id
    if identifiers:
        patient["identifier"] = identifiers
    mapped.patient = patient
    mapped.patient_id = patient_id
    mapped.conditions = [{**resource, "subject": reference} for resource in mapped.conditions]
    mapped.allergies = [{**resource, "patient": reference} for resource in mapped.allergies]
    mapped.related = [{**resource, "patient": reference} for resource in mapped.related]


def _sending_system(application: str, facility: str) -> JSON:
    who: JSON = {"display": f"{application or 'unnamed application'} at {facility}"}
    if application:
        who["identifier"] = {"system": local_system("application", facility), "value": application}
    return who


def _provenance(header: Any, targets: list[str], recorded: str) -> JSON:
    """Who sent what: the sending system and the message control id, for every resource written."""
    sender = header.sending_facility or "unknown"
    return {
        "resourceType": "Provenance",
        "id": derived_id("prov", sender, header.control_id),
        "target": [{"reference": t} for t in dict.fromkeys(targets)],
        "occurredDateTime": header.event_time,
        "recorded": recorded,
        "activity": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "UPDATE"}]
        },
        "agent": [
            {
                "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author"}]},
                "who": _sending_system(header.sending_application, sender),
            }
        ],
        "entity": [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": local_system("hl7v2-message", sender), "value": header.control_id},
                    "display": f"HL7 v2 {header.message_code}^{header.trigger} {header.control_id}",
                },
            }
        ],
    }


def _submit(pool: ProcessPoolExecutor, texts: list[str], strict: bool) -> Future[list[MappedMessage | None]] | None:
    try:
        return pool.submit(map_in_worker, texts, strict)
    except BrokenExecutor:  # a worker died: the rest is mapped here
        return None


def _mapped_ahead(future: Future[list[MappedMessage | None]] | None) -> list[MappedMessage | None] | None:
    """What a worker made of a batch, or None (the writer maps it itself) if the worker could not."""
    try:
        return future.result() if future is not None else None
    except BrokenExecutor:
        log.warning("An HL7 v2 mapping worker stopped; mapping in the writing process instead")
        return None


FULL_COLLECTION_EVERY = 100  # batches between full collections while streaming


@contextmanager
def _collecting_per_batch() -> Iterator[Callable[[], None]]:
    """Garbage collection by batch instead of every 700 allocations. A batch allocates hundreds of
    thousands of objects that live until it is written, which the automatic collector scanned over and
    over (a quarter of the writer's time). After each batch what is alive is frozen (set aside, O(1)),
    so nothing is scanned twice; the few cycles a batch leaves (about 300 objects) wait for the full
    collection every FULL_COLLECTION_EVERY batches and at the end, when the collector is as before.
    Worker processes fork with it off and hold nothing between batches."""
    was_enabled = gc.isenabled()
    gc.disable()
    batches = 0

    def after_batch() -> None:
        nonlocal batches
        batches += 1
        if batches % FULL_COLLECTION_EVERY == 0:
            gc.unfreeze()
            gc.collect()
        gc.freeze()

    try:
        yield after_batch
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def _encounter(mapped: MappedMessage, history: list[VisitEvent], patient_id: str) -> JSON:
    """The visit's Encounter: this message's event folded with the visit's earlier ones."""
    assert mapped.visit is not None
    return fold(
        [mapped.visit, *history],
        encounter_id=mapped.encounter_id,
        visit_number=mapped.visit_key.rsplit("|", 1)[-1],
        facility=mapped.service_provider,
        patient_id=patient_id,
    )


def _made(mapped: MappedMessage) -> list[str]:
    """Type/id of the Encounter, Conditions, AllergyIntolerances and RelatedPersons the message writes."""
    made = [f"Encounter/{mapped.encounter_id}"] if mapped.visit is not None else []
    return made + [f"{r['resourceType']}/{r['id']}" for r in (*mapped.conditions, *mapped.allergies, *mapped.related)]


def map_for_writing(message: Message, header: Header, strict: bool = False) -> MappedMessage:
    """Map a message and prepare (validate and index) its resources as they will be written when the
    store changes nothing: a new patient, a visit's first message, no merge. Pure, so it can run in a
    worker process; the writer uses a prepared resource only when its own equals it, and otherwise
    validates and indexes its own, so what is stored never depends on the guess."""
    if strict:
        check_strictly(message.text)
    mapped = map_message(message, header)
    if not mapped.mapped:
        return mapped
    mapped.recorded = datetime.now(UTC).isoformat(timespec="seconds")
    mapped.patient = _prepared(mapped.patient)
    mapped.practice = _prepared(mapped.practice)
    mapped.conditions = [_prepared(r) for r in mapped.conditions]
    mapped.allergies = [_prepared(r) for r in mapped.allergies]
    mapped.related = [_prepared(r) for r in mapped.related]
    if mapped.visit is not None:
        mapped.encounter = _prepared(_encounter(mapped, [], mapped.patient_id))
    written = [f"Patient/{mapped.patient_id}", *_made(mapped)]
    mapped.provenance = _prepared(_provenance(header, written, mapped.recorded))
    return mapped


def map_in_worker(texts: list[str], strict: bool) -> list[MappedMessage | None]:
    """map_for_writing for each message, in a worker process; None where anything went wrong, for the
    writer to map that message again itself and report the failure as usual."""
    done: list[MappedMessage | None] = []
    for text in texts:
        try:
            message = parse(text)
            done.append(map_for_writing(message, header_of(message), strict))
        except Exception:
            done.append(None)
    return done


@overload
def _prepared(resource: JSON) -> JSON: ...
@overload
def _prepared(resource: None) -> None: ...
def _prepared(resource: JSON | None) -> JSON | None:
    """The resource validated and indexed, or as it is when it fails validation: the writer then
    validates it again and reports the failure as it always has."""
    if resource is None:
        return None
    try:
        return prepare(resource)
    except Exception:
        return resource


def _prepared_if_same(prepared: JSON | None, resource: JSON) -> JSON:
    """The prepared resource when the one to write turned out the same, else the one to write."""
    return prepared if prepared is not None and prepared == resource else resource
