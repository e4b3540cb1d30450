"""The two stratification operations on the FHIR API: GP sign-off of a practice's quarter and MDT triage.

- `POST [base]/RiskAssessment/$sign-off` (practice, period, signedBy): the practice's GP accepts the
  quarter's result. In one transaction every preliminary RiskAssessment of that practice in the period's
  latest run becomes final, the sign-off is recorded (so a re-run of the quarter leaves them as signed)
  and a Provenance says who verified which assessment versions, and when.
- `POST [base]/Patient/<id>/$triage` (decision, reason, nextReview, decidedBy, focus): the MDT includes
  or excludes a proposed person. The decision is a Task (stratify.triage); an exclusion also retires the
  person's candidate Flag at once, and runs before the next review date do not propose them again.

`signedBy` and `decidedBy` are names the caller states: requests are not authenticated yet (a later issue
adds authentication, and then the signer must come from the authenticated user, not from a parameter).

Sign-off is idempotent for its signer: the same signer signing the same practice and period again gets
200 with the existing sign-off (a client that lost the first reply can safely retry), while a different
signer gets 409 naming who signed and when. Pure builders and checks come first; the handlers (IO) last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from adapters.localtime import LONDON
from closer.api.interactions import Reply, version_headers
from closer.api.operations import Operation, OperationCall, Params, param_expression
from closer.errors import FhirError, conflict, invalid, not_found, not_supported, processing
from closer.store.repository import Repository
from closer.store.sql import SqlRepository
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM
from stratify.resources import flag_id, retired_flag, risk_assessment_id
from stratify.runstore import (
    ensure_tables,
    lock_period,
    record_signoff,
    stratify_results,
    stratify_runs,
    stratify_signoffs,
)
from stratify.triage import TriageError, triage_task

JSON = dict[str, Any]
ODS_CODE = re.compile(r"^[A-Z0-9]{3,10}$")
PERIOD = re.compile(r"^\d{4}-Q[1-4]$")
DATA_OPERATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
FOCUS_TYPES = ("RiskAssessment", "ServiceRequest")


# -- pure: requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignOffRequest:
    practice: str
    period: str | None  # None: the latest recorded run's period
    signed_by: str


def sign_off_request(params: Params) -> SignOffRequest:
    """The checked inputs of $sign-off; 400 naming the parameter for a missing or malformed one."""
    given = params.identifier("practice", required=True)
    assert given is not None
    system, code = given
    if system not in (None, ODS_ORGANIZATION_SYSTEM):
        raise invalid(
            f"practice must be an ODS code (system {ODS_ORGANIZATION_SYSTEM}), not a {system} identifier",
            param_expression("practice"),
        )
    practice = code.upper()
    if not ODS_CODE.match(practice):
        raise invalid(f"practice '{code}' is not an ODS organisation code", param_expression("practice"))
    period = params.text("period")
    if period is not None and not PERIOD.match(period):
        raise invalid(f"period '{period}' is not a quarter like 2026-Q4", param_expression("period"))
    signed_by = params.text("signedBy", required=True)
    assert signed_by is not None
    return SignOffRequest(practice, period, signed_by)


@dataclass(frozen=True)
class TriageRequest:
    decision: str
    reason: str
    next_review: date | None
    decided_by: str
    focus: str | None  # None: the patient's RiskAssessment in the latest run, if any


def triage_request(params: Params) -> TriageRequest:
    """The inputs of $triage; missing ones are a 400 here, the decision rules are stratify.triage's."""
    decision = params.text("decision", required=True)
    reason = params.text("reason", required=True)
    decided_by = params.text("decidedBy", required=True)
    focus = params.reference("focus")
    if focus is not None and focus.split("/")[0] not in FOCUS_TYPES:
        raise invalid(f"focus must be a {' or '.join(FOCUS_TYPES)}, not {focus}", param_expression("focus"))
    assert decision is not None and reason is not None and decided_by is not None
    return TriageRequest(decision, reason, params.day("nextReview"), decided_by, focus)


# -- pure: resources -----------------------------------------------------------------------------------


def provenance_id(period: str, practice: str) -> str:
    """One sign-off per practice and quarter, so its Provenance has an id derived from both."""
    return f"signoff-{period.replace('-', '')}-{practice}"


def signed(assessment: JSON) -> JSON:
    """The assessment as the GP accepted it: final, same content (the server sets version and time)."""
    meta = {k: v for k, v in (assessment.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    return {**assessment, "meta": meta, "status": "final"}


def sign_off_reason(practice: str, period: str) -> str:
    return f"GP sign-off of the risk stratification result for practice {practice}, period {period}"


def sign_off_provenance(
    resource_id: str, targets: list[str], practice: str, period: str, signed_by: str, at: str
) -> JSON:
    """Who verified which assessment versions, and when (targets are version-specific references)."""
    return {
        "resourceType": "Provenance",
        "id": resource_id,
        "target": [{"reference": ref} for ref in targets],
        "recorded": at,
        "activity": {"coding": [{"system": DATA_OPERATION_SYSTEM, "code": "UPDATE", "display": "revise"}]},
        "agent": [
            {
                "type": {"coding": [{"system": PARTICIPANT_TYPE_SYSTEM, "code": "verifier", "display": "Verifier"}]},
                "who": {"display": signed_by},
            }
        ],
        "reason": [{"text": sign_off_reason(practice, period)}],
    }


def sign_off_result(practice: str, period: str, signed_by: str, signed_at: str, assessments: int) -> JSON:
    """The Parameters $sign-off returns."""
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "practice", "valueIdentifier": {"system": ODS_ORGANIZATION_SYSTEM, "value": practice}},
            {"name": "period", "valueString": period},
            {"name": "signedBy", "valueString": signed_by},
            {"name": "signedAt", "valueDateTime": signed_at},
            {"name": "assessments", "valueInteger": assessments},
            {"name": "provenance", "valueReference": {"reference": f"Provenance/{provenance_id(period, practice)}"}},
        ],
    }


def today_in_england(now: datetime) -> date:
    """Dates the MDT means are English calendar days, whatever the server's zone."""
    return now.astimezone(LONDON).date()


# -- IO ------------------------------------------------------------------------------------------------


def _sql(repo: Repository) -> SqlRepository:
    """Stratification keeps its run tables beside the store's, so it needs the SQL repository."""
    if not isinstance(repo, SqlRepository):
        raise not_supported("Stratification operations need the SQL store", 501)
    return repo


def _latest_run_of(engine: Engine, period: str | None) -> tuple[int, str] | None:
    """(run id, period) of the latest run of `period`, or of any period when it is None."""
    r = stratify_runs.c
    query = select(r.run_id, r.period).order_by(r.run_id.desc()).limit(1)
    if period is not None:
        query = query.where(r.period == period)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return (int(row.run_id), str(row.period)) if row is not None else None


def _patients_of(engine: Engine, run_id: int, practice: str) -> list[str]:
    c = stratify_results.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.patient_id).where(c.run_id == run_id, c.practice == practice))
        return sorted(str(pid) for (pid,) in rows)


def _practice_ever_run(engine: Engine, practice: str) -> bool:
    c = stratify_results.c
    with engine.connect() as conn:
        return conn.execute(select(c.run_id).where(c.practice == practice).limit(1)).first() is not None


def _existing_signoff(conn: Connection, period: str, practice: str) -> tuple[str, str, int] | None:
    s = stratify_signoffs.c
    row = conn.execute(
        select(s.signed_by, s.signed_at, s.assessments).where(s.period == period, s.practice == practice)
    ).first()
    return (str(row.signed_by), str(row.signed_at), int(row.assessments)) if row is not None else None


def _already_signed(request: SignOffRequest, period: str, existing: tuple[str, str, int]) -> Reply:
    """The same signer again gets the sign-off they made; anyone else a 409 saying who signed when."""
    by, at, count = existing
    if by == request.signed_by:
        return Reply(200, sign_off_result(request.practice, period, by, at, count))
    raise conflict(f"The result of practice {request.practice} for {period} was already signed off by {by} at {at}")


def sign_off(call: OperationCall) -> Reply:
    """POST RiskAssessment/$sign-off: the practice's preliminary assessments of the quarter become final."""
    repo = _sql(call.repository)
    ensure_tables(repo.engine)
    request = sign_off_request(call.params)
    latest = _latest_run_of(repo.engine, request.period)
    if latest is None:
        raise not_found(
            f"No stratification run is recorded for period {request.period}"
            if request.period
            else "No stratification run is recorded yet"
        )
    run_id, period = latest
    patients = _patients_of(repo.engine, run_id, request.practice)
    if not patients:
        if not _practice_ever_run(repo.engine, request.practice):
            raise not_found(f"Practice {request.practice} is not in any stratification run")
        raise not_found(f"The latest run for {period} (run {run_id}) has no one registered with {request.practice}")
    try:
        return _sign_off(repo, request, period, patients)
    except IntegrityError:  # someone else signed the practice off between our check and our insert
        with repo.engine.connect() as conn:
            existing = _existing_signoff(conn, period, request.practice)
        if existing is None:
            raise
        return _already_signed(request, period, existing)


def _sign_off(repo: SqlRepository, request: SignOffRequest, period: str, patients: list[str]) -> Reply:
    with repo.transaction() as tx:
        # The period's lock first: a concurrent sign-off, or a run writing this period, waits for our commit.
        lock_period(tx.connection, period)
        found = tx.read_many({("RiskAssessment", risk_assessment_id(period, pid)) for pid in patients})
        existing = _existing_signoff(tx.connection, period, request.practice)
        if existing is not None:
            return _already_signed(request, period, existing)
        changed = [
            signed(resource)
            for _, (resource, deleted) in sorted(found.items())
            if not deleted and resource.get("status") == "preliminary"
        ]
        if not changed:
            raise processing(f"Practice {request.practice} has no preliminary RiskAssessment for {period} to sign off")
        written = tx.put_many(changed)
        at = record_signoff(tx.connection, period, request.practice, request.signed_by, len(written))
        targets = [f"RiskAssessment/{w.resource['id']}/_history/{w.resource['meta']['versionId']}" for w in written]
        provenance = sign_off_provenance(
            provenance_id(period, request.practice), targets, request.practice, period, request.signed_by, at
        )
        tx.put_many([provenance])
    return Reply(200, sign_off_result(request.practice, period, request.signed_by, at, len(written)))


def _default_focus(engine: Engine, patient_id: str) -> str | None:
    """The patient's RiskAssessment in the latest run, if they were in it."""
    latest = _latest_run_of(engine, None)
    if latest is None:
        return None
    run_id, period = latest
    c = stratify_results.c
    with engine.connect() as conn:
        row = conn.execute(select(c.patient_id).where(c.run_id == run_id, c.patient_id == patient_id)).first()
    return f"RiskAssessment/{risk_assessment_id(period, patient_id)}" if row is not None else None


def _check_focus(repo: Repository, focus: str, patient_id: str) -> None:
    """A focus given by the caller must exist and be about this patient."""
    kind, _, ident = focus.partition("/")
    try:
        target = repo.read(kind, ident)
    except FhirError:
        raise processing(f"focus {focus} is not a resource on this server") from None
    subject = (target.get("subject") or {}).get("reference")
    if subject != f"Patient/{patient_id}":
        raise processing(f"focus {focus} is about {subject or 'no patient'}, not Patient/{patient_id}")


def triage(call: OperationCall) -> Reply:
    """POST Patient/<id>/$triage: record the MDT's decision; an exclusion retires the candidate Flag."""
    repo = _sql(call.repository)
    ensure_tables(repo.engine)
    patient = call.target()
    patient_id = str(patient["id"])
    request = triage_request(call.params)
    if request.focus is not None:
        _check_focus(repo, request.focus, patient_id)
    focus = request.focus or _default_focus(repo.engine, patient_id)
    now = datetime.now(UTC)
    today = today_in_england(now)
    try:
        task = triage_task(
            repo.new_id(),
            patient_id,
            request.decision,
            request.reason,
            now,
            request.decided_by,
            focus,
            request.next_review,
            today,
        )
    except TriageError as exc:
        raise processing(str(exc)) from None
    with repo.transaction() as tx:
        stored = tx.create(task, resource_id=task["id"]).resource
        if request.decision == "exclude":
            key = ("Flag", flag_id(patient_id))
            flag, deleted = tx.read_many({key}).get(key, (None, True))
            if flag is not None and not deleted and flag.get("status") == "active":
                tx.put_many([retired_flag(flag, today)])
    return Reply(201, stored, version_headers(call.base, stored))


SIGN_OFF = Operation(
    name="sign-off",
    resource_type="RiskAssessment",
    handler=sign_off,
    inputs=("practice", "period", "signedBy"),
    scopes=("system/RiskAssessment.write",),
    documentation="GP sign-off of a practice's quarterly risk stratification result: its preliminary "
    "RiskAssessments become final, with a Provenance. Inputs: practice (ODS code), period (e.g. 2026-Q4; "
    "default the latest run's), signedBy.",
)

TRIAGE = Operation(
    name="triage",
    resource_type="Patient",
    instance=True,
    handler=triage,
    inputs=("decision", "reason", "nextReview", "decidedBy", "focus"),
    scopes=("system/Task.write", "system/Flag.write"),  # an exclusion also retires the candidate Flag
    documentation="MDT triage of a proposed person: include or exclude (with a next review date) from case "
    "management, recorded as a Task; an exclusion retires the candidate Flag.",
)
