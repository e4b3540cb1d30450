"""Sending: claim due deliveries, send each one signed, audit it, and record the outcome.

Claiming is one short write transaction. A delivery is due when it is pending and its next attempt has
come, or leased by a worker whose lease has run out (it died). Per endpoint and patient only the oldest
open delivery can be claimed, so a patient's changes reach each endpoint in the order they were planned.
On PostgreSQL the claim takes the rows `FOR UPDATE SKIP LOCKED`, so workers claiming at once take
different rows; SQLite's write lock serialises claims. The claim sets a lease (`leased_until`, `worker`).

The batch is then sent, in parallel (it holds at most one delivery per endpoint and patient, so order
holds), audited (closer.audit, one transaction) and settled (one transaction). If the worker is killed,
what it sent but had not settled yet (at most one batch) is sent again by the next worker, with the same
Idempotency-Key: that window is the only way a receiver sees a version twice. Settling checks the lease
is still ours.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.engine import Engine

from closer.audit import Disclosure, record
from closer.store.dates import format_instant, to_us
from closer.store.engine import writing
from consent.publisher.endpoints import Registrations
from consent.publisher.payload import Delivery, outgoing
from consent.publisher.retry import DEAD, DELIVERED, RETRY, Outcome, backoff, classify, retry_after
from consent.publisher.settings import PublishSettings, Registration
from consent.publisher.signing import Signer
from consent.publisher.tables import DEAD as DEAD_STATUS
from consent.publisher.tables import DONE, LEASED, OPEN, PENDING, publish_deliveries

log = logging.getLogger("closer.publisher.send")
AUDIT_OUTCOME = {DELIVERED: "0", RETRY: "4", DEAD: "8"}
_COLUMNS = tuple(Delivery.__dataclass_fields__)


@dataclass(frozen=True)
class Attempt:
    """One delivery tried: the outcome, a Retry-After (seconds), and the audit record (None if not sent)."""

    delivery: Delivery
    outcome: Outcome
    wait: float | None = None
    disclosure: Disclosure | None = None


@dataclass
class SendResult:
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.delivered or self.retried or self.dead)


class Sender:
    """Claims and sends deliveries as `worker` (a name unique among running workers)."""

    def __init__(
        self,
        engine: Engine,
        settings: PublishSettings,
        signer: Signer,
        registrations: Callable[[], Registrations],
        worker: str,
        *,
        batch: int = 50,
        concurrency: int = 8,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.signer = signer
        self.registrations = registrations
        self.worker = worker
        self.batch = batch
        self.rng = rng or random.Random()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="publisher-send")
        self._local = threading.local()  # each sending thread keeps its own sessions
        self._all_sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for session in self._all_sessions:
            session.close()
        self._all_sessions.clear()

    def release_own_leases(self) -> int:
        """Give back deliveries leased under this worker's name: a previous run of it died holding them."""
        d = publish_deliveries.c
        with writing(self.engine) as conn:
            released = conn.execute(
                update(publish_deliveries)
                .where(d.status == LEASED, d.worker == self.worker)
                .values(status=PENDING, leased_until=None, worker=None)
            )
        return int(released.rowcount or 0)

    def claim(self, now: datetime) -> list[Delivery]:
        """Lease up to `batch` due deliveries, at most one per endpoint and patient."""
        at = to_us(now)
        d = publish_deliveries.alias("d")
        e = publish_deliveries.alias("e")
        earlier = (
            select(e.c.id)
            .where(e.c.endpoint == d.c.endpoint, e.c.patient == d.c.patient, e.c.id < d.c.id, e.c.status.in_(OPEN))
            .correlate(d)
        )
        due = or_(
            and_(d.c.status == PENDING, d.c.next_attempt <= at),
            and_(d.c.status == LEASED, d.c.leased_until < at),
        )
        stmt = (
            select(*(d.c[name] for name in _COLUMNS))
            .where(due, ~exists(earlier))
            .order_by(d.c.id)
            .limit(self.batch)
            .with_for_update(skip_locked=True, of=d)
        )
        until = at + int(self.settings.lease * 1_000_000)
        with writing(self.engine) as conn:
            rows = conn.execute(stmt).all()
            if not rows:
                return []
            conn.execute(
                update(publish_deliveries)
                .where(publish_deliveries.c.id.in_([row.id for row in rows]))
                .values(
                    status=LEASED,
                    leased_until=until,
                    worker=self.worker,
                    attempts=publish_deliveries.c.attempts + 1,
                )
            )
        return [Delivery(**{**row._asdict(), "attempts": row.attempts + 1}) for row in rows]

    def send_once(self) -> SendResult:
        """Claim a batch, send it (in parallel: one delivery per endpoint and patient, so order holds), audit
        it, and settle it; returns what happened."""
        claimed = self.claim(datetime.now(UTC))
        if not claimed:
            return SendResult()
        started = time.monotonic()
        by_name = self.registrations().by_name()
        tried = list(self._pool.map(lambda d: self._attempt(d, by_name.get(d.endpoint), started), claimed))
        attempts = [a for a in tried if a is not None]
        released = [d for d, a in zip(claimed, tried, strict=True) if a is None]
        try:
            record(self.engine, [a.disclosure for a in attempts if a.disclosure is not None])
        except Exception:  # unaudited sends must not count as delivered: send them again soon
            self._release(claimed)
            raise
        self._settle(attempts)
        if released:
            self._release(released)  # their turn would have outlived the lease
        result = SendResult()
        for attempt in attempts:
            verdict = attempt.outcome.verdict
            result.delivered += verdict == DELIVERED
            result.retried += verdict == RETRY
            result.dead += verdict == DEAD
        return result

    def _attempt(self, delivery: Delivery, registration: Registration | None, started: float) -> Attempt | None:
        """Send one delivery; None when the lease would run out before its timeout."""
        if registration is None:
            return Attempt(delivery, Outcome(DEAD, None, f"endpoint '{delivery.endpoint}' is no longer registered"))
        if time.monotonic() - started + registration.timeout >= self.settings.lease:
            return None
        now = datetime.now(UTC)
        request = outgoing(registration, delivery, self.signer, format_instant(now))
        wait: float | None = None
        try:
            response = self._session(registration).request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=registration.timeout,
                allow_redirects=False,
                # per request: requests lets REQUESTS_CA_BUNDLE override a session's own `verify`
                verify=registration.tls.ca_bundle or True,
                cert=_client_cert(registration),
            )
        except requests.RequestException as exc:
            outcome = classify(delivery.action, None, error=f"{type(exc).__name__}: {exc}")
        else:
            outcome = classify(delivery.action, response.status_code, response.text)
            wait = retry_after(response.headers.get("Retry-After"), now, self.settings.backoff_cap)
        outcome = self._expire(delivery, outcome, now)
        log.info(
            "delivery",
            extra={
                "delivery": delivery.id,
                "endpoint": delivery.endpoint,
                "resource": delivery.versioned,
                "action": delivery.action,
                "outcome": outcome.verdict,
                "status": outcome.status,
            },
        )
        return Attempt(delivery, outcome, wait, self._disclosure(registration, delivery, outcome, request.url))

    def _expire(self, delivery: Delivery, outcome: Outcome, now: datetime) -> Outcome:
        """A retry past the maximum age is a dead letter."""
        age = (to_us(now) - delivery.queued) / 1_000_000
        if outcome.verdict == RETRY and age >= self.settings.max_age:
            return Outcome(DEAD, outcome.status, f"undelivered after {age:.0f} s (max_age): {outcome.reason}")
        return outcome

    def _disclosure(self, registration: Registration, delivery: Delivery, outcome: Outcome, url: str) -> Disclosure:
        return Disclosure(
            recipient=registration.name,
            organization=registration.ods,
            patient=delivery.patient,
            action="push" if delivery.action == "put" else "retract",
            entities=(delivery.versioned,),
            outcome=AUDIT_OUTCOME[outcome.verdict],
            decision=f"{delivery.decision}; {outcome.verdict}: {outcome.reason}",
            purpose=registration.purpose,
            query=url,
            request_id=delivery.idempotency_key,
        )

    def _settle(self, attempts: list[Attempt]) -> None:
        """Record the outcomes in one transaction, each only where the lease is still ours."""
        if not attempts:
            return
        now = datetime.now(UTC)
        d = publish_deliveries.c
        lost = []
        with writing(self.engine) as conn:
            for attempt in attempts:
                settled = conn.execute(
                    update(publish_deliveries)
                    .where(d.id == attempt.delivery.id, d.status == LEASED, d.worker == self.worker)
                    .values(**self._settled(attempt, now))
                )
                if not settled.rowcount:
                    lost.append(attempt.delivery.id)
        if lost:
            log.warning("lease lost before settling", extra={"deliveries": lost, "worker": self.worker})

    def _settled(self, attempt: Attempt, now: datetime) -> dict[str, object]:
        outcome = attempt.outcome
        values: dict[str, object] = {"leased_until": None, "last_status": outcome.status}
        if outcome.verdict == DELIVERED:
            return values | {"status": DONE, "delivered": to_us(now), "last_error": None}
        if outcome.verdict == RETRY:
            delay = backoff(attempt.delivery.attempts, self.settings.backoff_base, self.settings.backoff_cap, self.rng)
            delay = max(delay, attempt.wait or 0.0)
            due = to_us(now + timedelta(seconds=delay))
            return values | {"status": PENDING, "next_attempt": due, "last_error": outcome.reason, "worker": None}
        return values | {"status": DEAD_STATUS, "last_error": outcome.reason}

    def _release(self, deliveries: list[Delivery]) -> None:
        d = publish_deliveries.c
        with writing(self.engine) as conn:
            conn.execute(
                update(publish_deliveries)
                .where(d.id.in_([x.id for x in deliveries]), d.status == LEASED, d.worker == self.worker)
                .values(status=PENDING, leased_until=None, worker=None, attempts=d.attempts - 1)
            )

    def _session(self, registration: Registration) -> requests.Session:
        """One session per endpoint and sending thread (keep-alive), made again when the registration changes."""
        sessions: dict[str, tuple[Registration, requests.Session]] = self._local.__dict__.setdefault("sessions", {})
        known = sessions.get(registration.name)
        if known is not None and known[0] == registration:
            return known[1]
        if known is not None:
            known[1].close()
        session = requests.Session()
        sessions[registration.name] = (registration, session)
        with self._lock:
            self._all_sessions.append(session)
        return session


def _client_cert(registration: Registration) -> tuple[str, str] | None:
    tls = registration.tls
    return (tls.client_cert, tls.client_key) if tls.client_cert and tls.client_key else None
