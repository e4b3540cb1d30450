"""Load a social care extract: read it safely (xmlreader), check and match each person (mapping,
matching), hold the ones that cannot be matched safely for review (review), and store the others' plans in
batches with the shared plan store (a transaction per batch, a savepoint per person on failure).

What a file can cost: nothing is stored from a file that is refused as a whole (too large, unsafe, not
well-formed, wrong encoding or header); otherwise each person stands alone, so a person who breaks the
schema, fails a check, is held for review or is refused by the store is reported on their line and the
others load.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from adapters.planstore import BATCH_ROWS, Mapped, RowRejected, apply_plan, describe, store_batch
from adapters.report import IngestReport
from adapters.rows import RowError
from adapters.social_care import review
from adapters.social_care.mapping import Link, Source, check_person, la_person_system, plan_person
from adapters.social_care.matching import Held, match_person, other_la_ids
from adapters.social_care.model import Person
from adapters.social_care.xmlreader import (
    MAX_FILE_BYTES,
    ExtractFile,
    ExtractRefused,
    PersonEntry,
    SchemaError,
    StrayContent,
    open_extract,
    parse_person,
)
from adapters.social_care.xmlwriter import person_bytes
from closer.errors import FhirError
from closer.store.query import parse_search
from closer.store.sql import SqlRepository
from fhir_profiles.nhs_number import is_valid_nhs_number

logger = logging.getLogger(__name__)

FEED_NAME = "Social care"


@dataclass(frozen=True)
class _Checked:
    """A person who passed the schema and the checks, waiting for their batch."""

    location: str
    line: int
    person: Person
    nhs: str


def load_extract(
    repo: SqlRepository, path: Path, *, max_bytes: int = MAX_FILE_BYTES, progress: Callable[[int], None] | None = None
) -> IngestReport:
    """Both passes: refuse the file or load every person that can be loaded; report the rest."""
    report = IngestReport(f"{FEED_NAME} {path.name}")
    try:
        extract = open_extract(path, max_bytes)
    except ExtractRefused as exc:
        report.fail(_where(path.name, exc.line), f"{exc.message}; nothing in the file was stored")
        return report
    load_people(repo, extract, report, progress)
    return report


def load_people(
    repo: SqlRepository,
    extract: ExtractFile,
    report: IngestReport,
    progress: Callable[[int], None] | None = None,
) -> None:
    """The second pass over a file `open_extract` accepted."""
    review.create_table(repo.engine)
    source = Source.from_header(extract.header)
    name = extract.path.name
    stored_at: dict[str, int] = {}  # plan key -> line it was stored from, to spot a person sent twice
    batch: list[_Checked] = []
    try:
        for entry in extract.entries():
            if isinstance(entry, StrayContent):
                report.fail(_where(name, entry.line), entry.message)
                continue
            if progress is not None:
                progress(1)
            checked = _check(entry, source, name, report)
            if checked is not None:
                batch.append(checked)
            if len(batch) >= BATCH_ROWS:
                _store(repo, batch, source, name, stored_at, report)
                batch = []
    except ExtractRefused as exc:  # the file changed since the first pass
        report.fail(_where(name, exc.line), f"{exc.message}; the people after this point were not read")
    _store(repo, batch, source, name, stored_at, report)


def _check(entry: PersonEntry, source: Source, name: str, report: IngestReport) -> _Checked | None:
    location = f"{_where(name, entry.line)} (LA person {entry.la_person_id or '?'})"
    if entry.person is None:
        first = entry.errors[0] if entry.errors else SchemaError(entry.line, "not valid against the extract schema")
        where = f"{_where(name, first.line)} (LA person {entry.la_person_id or '?'})"
        report.fail(where, f"{_schema_problems(entry.errors, first)}; person not stored")
        return None
    try:
        nhs = check_person(entry.person, source)
    except RowError as exc:
        report.fail(location, f"{exc}; person not stored")
        return None
    return _Checked(location, entry.line, entry.person, nhs)


def _schema_problems(errors: tuple[SchemaError, ...], first: SchemaError) -> str:
    """Every violation, each with its line: the first one is where the issue is located."""
    rest = "".join(f"; line {error.line}: {error.message}" for error in errors[1:])
    return f"not valid against the extract schema: {first.message}{rest}"


def _store(
    repo: SqlRepository,
    batch: list[_Checked],
    source: Source,
    name: str,
    stored_at: dict[str, int],
    report: IngestReport,
) -> None:
    """Match the batch's people against what is committed, record who is held (and who is no longer),
    then store the plans of everyone matched."""
    if not batch:
        return
    mapped: list[Mapped] = []
    held: list[tuple[_Checked, Held]] = []
    linked: list[tuple[_Checked, Link]] = []
    for item in batch:
        try:
            outcome = match_person(repo, item.person, item.nhs, source)
            if isinstance(outcome, Held):
                held.append((item, outcome))
                continue
            mapped.append(Mapped(item.location, item.line, plan_person(item.person, outcome, source)))
            linked.append((item, outcome))
        except Exception as exc:
            logger.debug("unexpected error matching %s", item.location, exc_info=True)
            report.fail(item.location, f"unexpected error, person not stored: {exc.__class__.__name__}: {exc}")
    problem = _record_review(repo, held, linked, source, name)
    for item, outcome in held:
        kept = "" if problem else "; held for review (closer matching list)"
        report.fail(item.location, f"not matched to a Patient: {outcome.reason}{kept}{problem}")
    store_batch(repo, mapped, stored_at, report)


def _record_review(
    repo: SqlRepository,
    held: list[tuple[_Checked, Held]],
    linked: list[tuple[_Checked, Link]],
    source: Source,
    name: str,
) -> str:
    """Put held people on the review list and take matched ones off it; "" or why that failed."""
    if not held and not linked:
        return ""
    try:
        with repo.transaction() as tx:
            conn = tx.connection
            for item, outcome in held:
                review.hold(conn, _hold(item, outcome, source, name))
            for item, link in linked:
                review.close(conn, source.local_authority, item.person.la_person_id, link.patient_id, review.MATCHED)
    except Exception as exc:
        logger.debug("review list update failed", exc_info=True)
        return f"; could not be put on the review list either ({exc.__class__.__name__}: {exc})"
    return ""


def _hold(item: _Checked, outcome: Held, source: Source, name: str) -> review.Hold:
    return review.Hold(
        la_code=source.local_authority,
        la_name=source.local_authority_name,
        person=item.person,
        nhs_number=item.nhs,
        reason=outcome.reason,
        candidates=outcome.candidates,
        source=name,
        extract_date=source.extract_date.isoformat(),
        record=person_bytes(item.person).decode("utf-8"),
    )


def _where(name: str, line: int | None) -> str:
    return f"{name} line {line}" if line else name


# -- resolving a held person by hand ---------------------------------------------------------------------
class ResolveRefused(Exception):
    """The review item cannot be resolved as asked; the message says why."""


def resolve(repo: SqlRepository, item_id: int, patient: str) -> str:
    """Link a held person to the Patient someone has identified and load their records (in one
    transaction with closing the review item). `patient` is an NHS number (a stub Patient is created
    when absent) or the id of an existing Patient."""
    review.create_table(repo.engine)
    with repo.engine.connect() as conn:
        item = review.get(conn, item_id)
    if item is None:
        raise ResolveRefused(f"no review item {item_id}")
    if item.status != review.OPEN:
        raise ResolveRefused(f"review item {item_id} is already {item.status} (Patient/{item.patient_id})")
    patient_id = patient.replace(" ", "")
    nhs = _nhs_number(patient_id)
    try:
        person = parse_person(item.record.encode("utf-8"))
    except ExtractRefused as exc:
        raise ResolveRefused(f"the stored record of review item {item_id} cannot be read: {exc.message}") from None
    source = Source(item.la_code, date.fromisoformat(item.extract_date), item.la_name)
    try:
        person_nhs = check_person(person, source)
    except RowError as exc:
        raise ResolveRefused(str(exc)) from None
    if person_nhs and person_nhs != patient_id:
        raise ResolveRefused(f"the extract gives this person NHS number {person_nhs}, not {patient_id}")
    _check_link(repo, person, patient_id, nhs, source)
    plan = plan_person(person, Link(patient_id, "review", nhs), source)
    try:
        with repo.transaction() as tx:
            apply_plan(tx, plan)
            review.close(tx.connection, item.la_code, item.la_person_id, patient_id, review.RESOLVED)
    except RowRejected as exc:
        raise ResolveRefused(f"rejected by the store: {exc}") from None
    except FhirError as exc:
        raise ResolveRefused(f"rejected by the store: {describe(exc)}") from None
    return f"LA person {item.la_person_id} of {item.la_code} linked to Patient/{patient_id}; their records are loaded"


def _nhs_number(patient_id: str) -> str:
    """The id as an NHS number when it looks like one ("" otherwise); a 10-digit id with a bad check
    digit is refused rather than taken for a local id."""
    if not (len(patient_id) == 10 and patient_id.isascii() and patient_id.isdigit()):
        return ""
    if not is_valid_nhs_number(patient_id):
        raise ResolveRefused(f"{patient_id} fails the NHS number Modulus 11 check digit")
    return patient_id


def _check_link(repo: SqlRepository, person: Person, patient_id: str, nhs: str, source: Source) -> None:
    """The same safety checks the automatic rule makes, for a link someone asked for."""
    system = la_person_system(source.local_authority)
    query = parse_search("Patient", [("identifier", f"{system}|{person.la_person_id}")], strict=True)
    others = sorted(found["id"] for found in repo.search(query).matches if found["id"] != patient_id)
    if others:
        raise ResolveRefused(f"LA person id {person.la_person_id} is already linked to Patient/{others[0]}")
    try:
        target = repo.read("Patient", patient_id)
    except FhirError as exc:
        if exc.status == 404 and nhs:
            return  # a stub is created
        raise ResolveRefused(f"Patient/{patient_id} cannot be used: {describe(exc)}") from None
    conflict = other_la_ids(target, system, person.la_person_id)
    if conflict:
        raise ResolveRefused(f"Patient/{patient_id} is already linked to LA person id {conflict[0]}")
