"""A consumer's request, end to end: the guarded repository it is given, and the audit of what it was shown.

The HTTP layer calls `guard_for` with the authenticated client and, when the request is done, turns the
guard's decisions into audit records with `disclosures`: one per patient touched, naming what was
disclosed (or that it was refused) and the consent decision, so the audit answers "who saw what of whose
record, and on what grounds".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from datetime import datetime

from closer.audit import Disclosure
from closer.auth.principal import Principal
from closer.store.repository import Repository
from consent.engine import ConsentEngine, Decision
from consent.guard import DEFAULT_SCAN_LIMIT, Decided, GuardedRepository
from consent.source import StoreConsents, consent_engine, consent_request, consumer

SUCCESS, REFUSED, FAILED = "0", "4", "8"  # AuditEvent.outcome codes
NOTHING_SENT = "the request failed, so nothing was disclosed"


def guard_for(
    inner: Repository,
    who: Principal,
    moment: datetime,
    *,
    audit_only: bool = False,
    scan_limit: int = DEFAULT_SCAN_LIMIT,
) -> GuardedRepository:
    """The repository for one request by `who`. A consumer's is filtered by the patients' Consents; with
    `audit_only` (an internal client calling `$alerts`) everything is allowed, but still recorded."""
    engine = ConsentEngine([], default=Decision.AUTHORIZED) if audit_only else consent_engine(StoreConsents(inner))
    request = consent_request(consumer(inner, who.name, who.organization), who.purpose, moment)
    return GuardedRepository(inner, engine, request, scan_limit=scan_limit)


def disclosures(
    decisions: Sequence[Decided],
    shown: Set[str],
    who: Principal,
    *,
    action: str,
    query: str | None,
    request_id: str | None,
    failed: bool = False,
) -> list[Disclosure]:
    """One audit record per patient touched (plus one for resources of no patient), in first-seen order.
    Its entities are what was `shown`; what was judged but not sent (counted, or past the page) is not a
    disclosure. A request that touched nothing is still recorded, once, as the search or read it was."""

    def record(patient: str | None, entities: Iterable[str], outcome: str, decision: str) -> Disclosure:
        return Disclosure(
            recipient=who.name,
            organization=who.organization,
            patient=patient,
            action=action,
            entities=tuple(entities),
            outcome=outcome,
            decision=decision,
            purpose=who.purpose,
            query=query,
            request_id=request_id,
        )

    if not decisions:
        if failed:
            return [record(None, (), FAILED, NOTHING_SENT)]
        return [record(None, (), SUCCESS, "nothing matched, so nothing was disclosed")]
    by_patient: dict[str | None, list[Decided]] = {}
    for decided in decisions:
        owners: list[str | None] = [*sorted(decided.patients)] or [None]
        for owner in owners:
            by_patient.setdefault(owner, []).append(decided)
    found = []
    for patient, items in by_patient.items():
        permitted = [d for d in items if d.verdict.permitted]
        if failed:  # the reply was an error: whatever was judged, nothing of it left
            found.append(record(patient, (), FAILED, NOTHING_SENT))
            continue
        sent = list(dict.fromkeys(d.reference for d in permitted if d.reference in shown))
        if permitted:
            reasons = "; ".join(dict.fromkeys(_words(d) for d in permitted))
            found.append(
                record(patient, sent, SUCCESS, f"permit: {reasons}" if sent else f"counted, not shown: {reasons}")
            )
        else:
            found.append(record(patient, (), REFUSED, "deny: " + _words(items[0])))
    return found


def _words(decided: Decided) -> str:
    """A verdict as one line: the deciding Consent and provision, and the reason."""
    v = decided.verdict
    where = " ".join(part for part in (v.consent, v.provision) if part)
    return f"{where}: {v.reason}" if where else v.reason
