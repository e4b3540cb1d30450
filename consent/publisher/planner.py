"""Planning: the store's outbox in, deliveries out. Each pass reads the events after the cursor, decides
for every registered endpoint what to send (consent/publisher/plan.py, asking the consent engine), and
commits the deliveries, what the endpoints will hold, and the new cursor in one transaction, so a crash
plans an event fully or not at all.

Planning is single-writer. The pass reads without locks, then, in its write transaction, locks the cursor
row (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's write lock serialises) and checks that the cursor's
revision is the one it read. If another worker planned meanwhile, the pass is dropped and nothing is
written: the events are planned once. Outbox gaps on PostgreSQL are handled by consent/publisher/cursor.py.

What planning decides:

- a CarePlan, AllergyIntolerance or Flag changes: each endpoint that receives it gets this version if the
  patient's Consent permits (action `disclose`, the endpoint's ODS code and purpose of use), or a retraction
  if it held it and no longer may;
- it is deleted: each endpoint that held it gets a retraction;
- a Consent changes: for each endpoint, the patient's whole record of the types it receives is weighed
  again: what is held and no longer permitted is retracted, what is permitted and not held is sent;
- an Endpoint or Organization changes: the registrations are read again;
- (`sweep`, every `sweep_interval`) a Consent period of a patient whose record an endpoint holds started
  or ended: their record is weighed again, as for a Consent change.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from closer.errors import FhirError
from closer.store.dates import from_us, to_us
from closer.store.engine import is_postgres, writing
from closer.store.repository import OutboxEvent, Resource
from closer.store.sql import SqlRepository
from consent.engine import ConsentEngine, Consumer
from consent.model import ResourceView
from consent.publisher.cursor import advance, gaps
from consent.publisher.endpoints import Registrations
from consent.publisher.plan import DELETE, PUT, Change, boundary_crossed, decide, wanted
from consent.publisher.settings import SHAREABLE, PublishSettings, Registration
from consent.publisher.tables import (
    CURSOR,
    PENDING,
    SUPERSEDED,
    ensure_tables,
    publish_cursor,
    publish_deliveries,
    publish_holdings,
    publish_seen,
)
from consent.source import StoreConsents, consent_engine, consent_request, consumer

log = logging.getLogger("closer.publisher.plan")
REGISTRY_TYPES = frozenset({"Endpoint", "Organization"})
PLANNER_LEASE = 10.0  # seconds the last planner keeps planning to itself (others then only send)
FACTS_SECONDS = 300.0  # parsed Consents are read afresh at least this often (bounds the memory they take)

Held = dict[tuple[str, str, str], tuple[str, int]]  # (endpoint, type, id) -> (patient, version)
Record = dict[tuple[str, str], Resource]  # a patient's current resources of the registered types, by (type, id)


@dataclass
class PlanResult:
    events: int = 0  # outbox events planned
    changes: list[Change] = field(default_factory=list)
    skipped: tuple[int, ...] = ()  # outbox seqs given up as never committed
    raced: bool = False  # another worker planned first; nothing was written
    registry_changed: bool = False  # an Endpoint or Organization changed

    @property
    def busy(self) -> bool:
        return self.events > 0


@dataclass(frozen=True)
class CursorState:
    mark: int
    revision: int
    seen: dict[int, int]
    planner: str | None = None  # the worker holding the planner lease, until when (us)
    planner_until: int = 0
    swept: int = 0  # when Consent periods were last checked (us)


def read_cursor(conn: Connection) -> CursorState:
    c = publish_cursor.c
    row = conn.execute(select(c.seq, c.revision, c.planner, c.planner_until, c.swept).where(c.name == CURSOR)).first()
    seen = {int(r.seq): int(r.seen_at) for r in conn.execute(select(publish_seen.c.seq, publish_seen.c.seen_at))}
    if row is None:
        return CursorState(0, 0, seen)
    return CursorState(
        int(row.seq), int(row.revision), seen, row.planner, int(row.planner_until or 0), int(row.swept or 0)
    )


class Planner:
    """Plans outbox events into deliveries as `worker`; `registrations` gives the registrations in force.

    The parsed Consents (and the consumers' Organizations) are kept from one pass to the next, and a
    patient's are dropped when a Consent event of theirs is planned. They are only trusted while this
    worker is the one planning: when the cursor's revision is not the one this worker last committed,
    another worker planned in between (and may have seen Consent events this one has not), so they are
    read again. A worker that plans holds a short planner lease so the others leave planning to it.
    """

    def __init__(
        self,
        repo: SqlRepository,
        settings: PublishSettings,
        registrations: Callable[[], Registrations],
        *,
        worker: str = "planner",
        batch: int = 200,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.registrations = registrations
        self.worker = worker
        self.batch = batch
        self._facts: _Facts | None = None
        self._committed: int | None = None  # the cursor revision this worker last committed
        ensure_cursor(repo.engine)

    def plan_once(self, now: datetime | None = None) -> PlanResult:
        """One pass over at most `batch` new events; commits them or, when another worker won, nothing."""
        moment = now or datetime.now(UTC)
        with self.repo.engine.connect() as conn:
            state = read_cursor(conn)
        if self._someone_else_plans(state, moment):
            return PlanResult()
        events = self._new_events(state)
        if state.mark == 0 and not state.seen and events:  # nothing planned yet: seqs need not start at 1
            state = replace(state, mark=min(e.seq for e in events) - 1)
        result = PlanResult(events=len(events))
        if not events:
            if state.seen:  # nothing new, but a gap may have timed out
                self._commit(state, [], [], {}, moment, result)
            return result
        result.registry_changed = any(e.resource_type in REGISTRY_TYPES for e in events)
        facts = self._facts_for(state, result.registry_changed)
        with self.repo.engine.connect() as conn:  # one read connection for the pass's reads
            pass_ = _Pass(SqlRepository(self.repo.engine, conn=conn), conn, self.registrations(), moment, facts)
            pass_.plan(events)
        self._commit(state, events, pass_.changes, pass_.held_changes, moment, result)
        if result.raced:
            self._facts = None
        else:
            result.changes = pass_.changes
        return result

    def sweep(self, now: datetime | None = None) -> PlanResult:
        """Weigh again the record of every patient an endpoint holds something of whose Consent periods
        started or ended since the last sweep: a Consent that lapses is not written, so no event says so.
        The Consents are weighed at `now` (default: the clock), which the next sweep starts from."""
        moment = now or datetime.now(UTC)
        with self.repo.engine.connect() as conn:
            state = read_cursor(conn)
            holders = sorted(set(conn.execute(select(publish_holdings.c.patient)).scalars()))
        result = PlanResult()
        if self._someone_else_plans(state, moment):
            return result
        facts = self._facts_for(state, False)
        since = from_us(state.swept)
        lapsed = [p for p in holders if boundary_crossed(facts.consents(p), since, moment)]
        with self.repo.engine.connect() as conn:
            pass_ = _Pass(SqlRepository(self.repo.engine, conn=conn), conn, self.registrations(), moment, facts)
            for patient in lapsed:  # each patient once: their record is not kept past their turn
                pass_.reweigh(patient, keep=False)
        self._commit(state, [], pass_.changes, pass_.held_changes, datetime.now(UTC), result, swept=moment)
        if result.raced:
            self._facts = None
        else:
            result.changes = pass_.changes
        return result

    def _someone_else_plans(self, state: CursorState, moment: datetime) -> bool:
        """Another worker planned lately and its planner lease runs: leave planning to it."""
        return state.planner not in (None, self.worker) and state.planner_until > to_us(moment)

    def _facts_for(self, state: CursorState, registry_changed: bool) -> _Facts:
        """The kept facts, or fresh ones when another worker planned since, the registrations changed, or
        they are FACTS_SECONDS old."""
        facts = self._facts
        if (
            facts is None
            or self._committed != state.revision
            or registry_changed
            or time.monotonic() - facts.born > FACTS_SECONDS
        ):
            facts = self._facts = _Facts(self.repo)
        return facts

    def _new_events(self, state: CursorState) -> list[OutboxEvent]:
        """Events not planned yet: any that filled a gap, then those after the highest planned seq."""
        found: list[OutboxEvent] = []
        for first, last in gaps(state.mark, state.seen):
            found.extend(e for e in self.repo.events(first - 1, limit=last - first + 1) if e.seq <= last)
        top = max(state.seen, default=state.mark)
        found.extend(self.repo.events(top, limit=max(0, self.batch - len(found))))
        return found[: self.batch]

    def _commit(
        self,
        state: CursorState,
        events: list[OutboxEvent],
        changes: list[Change],
        held: dict[tuple[str, str, str], tuple[str, int] | None],
        moment: datetime,
        result: PlanResult,
        *,
        swept: datetime | None = None,
    ) -> None:
        now = to_us(moment)
        seen = {**state.seen, **{e.seq: now for e in events}}
        moved = advance(state.mark, seen, now, int(self.settings.gap_timeout * 1_000_000))
        c = publish_cursor.c
        with writing(self.repo.engine) as conn:
            locked = select(c.revision).where(c.name == CURSOR).with_for_update(skip_locked=True)
            row = conn.execute(locked).first()
            if row is None or int(row.revision) != state.revision:  # locked or moved by another planner
                result.raced = True
                return
            _write_changes(conn, changes, held, now)
            kept = {s: t for s, t in seen.items() if s not in moved.drop}
            fresh = [{"seq": s, "seen_at": t} for s, t in kept.items() if s not in state.seen]
            if fresh:
                conn.execute(insert(publish_seen), fresh)
            gone = [s for s in moved.drop if s in state.seen]
            if gone:
                conn.execute(delete(publish_seen).where(publish_seen.c.seq.in_(gone)))
            conn.execute(
                update(publish_cursor)
                .where(c.name == CURSOR)
                .values(
                    seq=moved.mark,
                    revision=state.revision + 1,
                    planner=self.worker,
                    planner_until=now + int(PLANNER_LEASE * 1_000_000),
                    swept=to_us(swept) if swept is not None else state.swept,
                )
            )
        self._committed = state.revision + 1
        if moved.skipped:
            log.warning("outbox gap skipped", extra={"seqs": list(moved.skipped)})
        result.skipped = moved.skipped


def ensure_cursor(engine: Engine) -> None:
    """The tables, and the cursor row at the start of the outbox (made once, whoever comes first)."""
    ensure_tables(engine)
    dialect_insert = postgresql.insert if is_postgres(engine) else sqlite.insert
    with writing(engine) as conn:
        conn.execute(dialect_insert(publish_cursor).values(name=CURSOR, seq=0, revision=0).on_conflict_do_nothing())


def _write_changes(
    conn: Connection,
    changes: list[Change],
    held: dict[tuple[str, str, str], tuple[str, int] | None],
    now: int,
) -> None:
    d, h = publish_deliveries.c, publish_holdings.c
    retracted = [
        {"e": c.endpoint, "t": c.res_type, "i": c.res_id} for c in changes if c.action == DELETE
    ]  # a PUT still queued for what is retracted would only be retracted again
    if retracted:
        conn.execute(
            update(publish_deliveries)
            .where(
                d.endpoint == bindparam("e"),
                d.res_type == bindparam("t"),
                d.res_id == bindparam("i"),
                d.action == PUT,
                d.status == PENDING,
            )
            .values(status=SUPERSEDED, last_error="retracted before it was sent"),
            retracted,
        )
    if changes:
        conn.execute(insert(publish_deliveries), [_row(change, now) for change in changes])
    if held:
        keys = [{"e": e, "t": t, "i": i} for (e, t, i) in held]
        conn.execute(
            delete(publish_holdings).where(
                h.endpoint == bindparam("e"), h.res_type == bindparam("t"), h.res_id == bindparam("i")
            ),
            keys,
        )
        rows = [
            {"endpoint": e, "res_type": t, "res_id": i, "patient": value[0], "version": value[1]}
            for (e, t, i), value in held.items()
            if value is not None
        ]
        if rows:
            conn.execute(insert(publish_holdings), rows)


def _row(change: Change, now: int) -> dict[str, Any]:
    return {
        "endpoint": change.endpoint,
        "patient": change.patient,
        "res_type": change.res_type,
        "res_id": change.res_id,
        "version": change.version,
        "action": change.action,
        "body": change.body,
        "idempotency_key": str(uuid.uuid4()),
        "decision": change.decision,
        "consent": change.consent,
        "status": PENDING,
        "attempts": 0,
        "queued": now,
        "committed": _committed(change.body) or now,
        "next_attempt": now,
        "leased_until": None,
        "worker": None,
        "last_status": None,
        "last_error": None,
        "delivered": None,
    }


def _committed(body: str | None) -> int | None:
    """When the version was written (its meta.lastUpdated), for the latency of the whole path."""
    if body is None:
        return None
    try:
        stamp = orjson.loads(body).get("meta", {}).get("lastUpdated")
        return to_us(datetime.fromisoformat(stamp)) if stamp else None
    except (ValueError, TypeError, AttributeError):
        return None


class _Facts:
    """What planning reads again and again: the patients' parsed Consents, the engine deciding with them,
    and the consumers (a registration's ODS code and Organization)."""

    def __init__(self, repo: SqlRepository) -> None:
        self.repo = repo
        self.consents = StoreConsents(repo)
        self.engine: ConsentEngine = consent_engine(self.consents)
        self.consumers: dict[str, Consumer] = {}
        self.born = time.monotonic()

    def consumer(self, registration: Registration) -> Consumer:
        if registration.name not in self.consumers:
            self.consumers[registration.name] = consumer(self.repo, registration.name, registration.ods)
        return self.consumers[registration.name]


class _Pass:
    """One planning pass: the endpoints' holdings, read once and kept up to date as the pass's own changes
    are decided. `repo` reads through `conn`, the pass's one read connection."""

    def __init__(
        self, repo: SqlRepository, conn: Connection, registrations: Registrations, moment: datetime, facts: _Facts
    ) -> None:
        self.repo = repo
        self.conn = conn
        self.registrations = registrations.active
        self.types = sorted({t for registration in self.registrations for t in registration.resources})
        self.moment = moment
        self.facts = facts
        self.held: Held = {}
        self.holding: dict[tuple[str, str], set[tuple[str, str]]] = {}  # (endpoint, patient) -> keys in `held`
        self.loaded: set[str] = set()  # patients whose holdings are loaded
        self.held_changes: dict[tuple[str, str, str], tuple[str, int] | None] = {}
        self.changes: list[Change] = []
        self.records: dict[str, Record] = {}  # patient -> their record, read once a pass
        self.bodies: dict[tuple[str, str, int], str] = {}  # (type, id, version) -> the version's JSON

    # -- events ------------------------------------------------------------------------------------------
    def plan(self, events: list[OutboxEvent]) -> None:
        versions = {e.seq: self._version(e) for e in events if e.resource_type in SHAREABLE and e.action != "delete"}
        self._load_holdings({p for resource in versions.values() if resource for p in _patients(resource)})
        for event in events:
            if event.resource_type == "Consent":
                patient = self._consent_patient(event)
                if patient is not None:
                    self.facts.consents.forget(patient)
                    self.reweigh(patient)
            elif event.resource_type in SHAREABLE:
                self._resource_event(event, versions.get(event.seq))

    def _resource_event(self, event: OutboxEvent, resource: dict[str, Any] | None) -> None:
        key = (event.resource_type, event.resource_id)
        patients = _patients(resource) if resource is not None else self._holders_patients(key)
        for registration in self.registrations:
            if event.resource_type not in registration.resources:
                continue
            for patient in patients:
                self._decide(registration, patient, key, event.version, resource)

    def reweigh(self, patient: str, *, keep: bool = True) -> None:
        """Weigh the patient's whole record again for every endpoint (their Consent changed or a period of
        it lapsed). With `keep` False their record is not kept for the rest of the pass."""
        for registration in self.registrations:
            self.recompute(registration, patient)
        if not keep:
            self.records.pop(patient, None)

    def recompute(self, registration: Registration, patient: str) -> None:
        """Weigh the patient's whole record for one endpoint again (their Consent changed)."""
        self._load_holdings({patient})
        current = {key: r for key, r in self._record(patient).items() if key[0] in registration.resources}
        held_keys = set(self.holding.get((registration.name, patient), ()))
        for key in sorted(set(current) | held_keys):
            found = current.get(key)
            version = int((found or {}).get("meta", {}).get("versionId", 0))
            self._decide(registration, patient, key, version, found)

    def _decide(
        self,
        registration: Registration,
        patient: str,
        key: tuple[str, str],
        version: int,
        resource: dict[str, Any] | None,
    ) -> None:
        self._load_holdings({patient})
        holding = self.held.get((registration.name, *key))
        held = holding[1] if holding is not None and holding[0] == patient else None
        verdict = None
        if resource is not None and wanted(registration, resource):
            who = self.facts.consumer(registration)
            verdict = self.facts.engine.can_see(
                consent_request(who, registration.purpose, self.moment, disclose=True), resource
            )
        change = decide(registration, patient, key, version, resource, verdict, held)
        if change is None:
            return
        if change.action == PUT and resource is not None:
            change = replace(change, body=self._body(key, version, resource))
        self.changes.append(change)
        state = (patient, version) if change.action == PUT else None
        self.held_changes[(registration.name, *key)] = state
        self._hold((registration.name, *key), state)

    def _body(self, key: tuple[str, str], version: int, resource: dict[str, Any]) -> str:
        """The version's JSON, serialised once however many endpoints it is sent to."""
        found = self.bodies.get((*key, version))
        if found is None:
            found = self.bodies[(*key, version)] = orjson.dumps(resource).decode()
        return found

    def _hold(self, key: tuple[str, str, str], state: tuple[str, int] | None) -> None:
        """What the endpoint holds of `key` from now on (None: nothing), in `held` and its index."""
        before = self.held.pop(key, None)
        if before is not None:
            self.holding.get((key[0], before[0]), set()).discard(key[1:])
        if state is not None:
            self.held[key] = state
            self.holding.setdefault((key[0], state[0]), set()).add((key[1], key[2]))

    # -- reads -------------------------------------------------------------------------------------------
    def _version(self, event: OutboxEvent) -> dict[str, Any] | None:
        try:
            return self.repo.vread(event.resource_type, event.resource_id, str(event.version))
        except FhirError:
            return None

    def _record(self, patient: str) -> Record:
        """The patient's current resources of every type an endpoint receives, in one read a pass."""
        record = self.records.get(patient)
        if record is None:
            found = self.repo.referring(self.types, "patient", "Patient", [patient.removeprefix("Patient/")])
            record = self.records[patient] = {(str(r["resourceType"]), str(r["id"])): r for r in found}
        return record

    def _consent_patient(self, event: OutboxEvent) -> str | None:
        """The patient a changed (or deleted) Consent is about (None: none, or not one of ours)."""
        version = event.version - 1 if event.action == "delete" else event.version
        try:
            consent = self.repo.vread("Consent", event.resource_id, str(version))
        except FhirError:
            return None
        return min(ResourceView(consent).patients, default=None)

    def _holders_patients(self, key: tuple[str, str]) -> list[str]:
        """Whose record a deleted resource was, from what the endpoints hold of it."""
        h = publish_holdings.c
        rows = self.conn.execute(select(h.patient).where(h.res_type == key[0], h.res_id == key[1]))
        patients = {row.patient for row in rows}
        self._load_holdings(patients)
        return sorted(patients)

    def _load_holdings(self, patients: set[str]) -> None:
        """What every endpoint holds of these patients' records (those not loaded yet), in a few queries."""
        wanted_patients = sorted(patients - self.loaded)
        h = publish_holdings.c
        for start in range(0, len(wanted_patients), 500):
            chunk = wanted_patients[start : start + 500]
            rows = self.conn.execute(
                select(h.endpoint, h.res_type, h.res_id, h.patient, h.version).where(h.patient.in_(chunk))
            )
            for row in rows:
                key = (row.endpoint, row.res_type, row.res_id)
                if key not in self.held_changes and key not in self.held:  # this pass's own decisions stand
                    self._hold(key, (row.patient, int(row.version)))
        self.loaded.update(wanted_patients)


def _patients(resource: dict[str, Any]) -> list[str]:
    return sorted(ResourceView(resource).patients)
