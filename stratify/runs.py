"""A stratification run: cohort -> features -> model -> tiers -> RiskAssessments and Flags, recorded.

Idempotent for its period (the quarter of the run date): the RiskAssessment of a person and quarter has
one id, so a second run of the quarter updates it (an unchanged one is not even a new version), and a
person's candidate Flag has one id across quarters. A practice whose result a GP has signed off is left
as signed: a re-run of that quarter does not rewrite its RiskAssessments. Someone in the quarter's
previous run who is no longer in the cohort (died, moved practice) has their RiskAssessment cancelled.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import false, func, select

from closer.store.schema import outbox, resources
from closer.store.sql import SqlRepository
from stratify import resources as fhir
from stratify.codelists import load_codelists
from stratify.facts import load_facts
from stratify.features import Evidence, PersonFacts, compute, in_cohort
from stratify.models.base import Prediction, RiskModel
from stratify.runstore import (
    Result,
    RunRecord,
    ensure_tables,
    latest_run,
    lock_period,
    now_text,
    record_run,
    results_of,
    signed_off,
    signed_practices,
)
from stratify.settings import BELOW_THRESHOLD, StratifySettings
from stratify.tiering import Decision, Scored, decide
from stratify.triage import excluded_until

WRITE_BATCH = 2000
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Write:
    resource: dict[str, Any]
    practice: str | None = None  # a RiskAssessment's practice: not written once that practice is signed off


@dataclass(frozen=True)
class Scoring:
    """One person's result before it is written."""

    assessment: fhir.Assessment
    evidence: Evidence


def score(
    facts_by_id: dict[str, PersonFacts],
    settings: StratifySettings,
    as_of: date,
    model: RiskModel,
    excluded: dict[str, date],
) -> dict[str, Scoring]:
    """Pure: the cohort on `as_of`, each member's features, prediction and tier (sorted by patient id)."""
    lists = load_codelists()
    cohort = sorted(
        (f for f in facts_by_id.values() if in_cohort(f, as_of, settings.min_age, settings.practices)),
        key=lambda f: f.patient_id,
    )
    evidence: dict[str, Evidence] = {f.patient_id: compute(f, as_of, lists) for f in cohort}
    predictions: dict[str, Prediction] = {pid: model.predict(ev.features) for pid, ev in evidence.items()}
    decisions = decide(
        (
            Scored(
                f.patient_id,
                settings.practices[f.practice],
                predictions[f.patient_id].probability,
                evidence[f.patient_id].features.frailty,
            )
            for f in cohort
        ),
        settings.tiering,
    )
    review = fhir.add_months(as_of, settings.review_months)
    scored = {}
    for f in cohort:
        decision, note, next_review = decisions[f.patient_id], "", None
        if f.patient_id in excluded:
            until = excluded[f.patient_id]
            note = f"Excluded from case management at triage; not proposed again before {until.isoformat()}."
            decision, next_review = Decision(decision.tier, False, decision.reason), until
        elif decision.tier == BELOW_THRESHOLD:
            next_review = review
        item = fhir.Assessment(
            f.patient_id,
            f.practice,
            settings.practices[f.practice],
            predictions[f.patient_id],
            decision,
            evidence[f.patient_id].basis,
            next_review,
            note,
        )
        scored[f.patient_id] = Scoring(item, evidence[f.patient_id])
    return scored


def run(
    repo: SqlRepository,
    settings: StratifySettings,
    as_of: date,
    model: RiskModel,
    progress: Progress | None = None,
) -> RunRecord:
    """Score everyone, write the quarter's resources and record the run."""
    tell = progress or (lambda stage, done, total: None)
    engine = repo.engine
    ensure_tables(engine)
    started, began = now_text(), time.perf_counter()
    period = fhir.period_of(as_of)
    tell("reading the store", 0, 1)
    seen_up_to = _outbox_position(repo)
    facts = load_facts(engine, settings.practices)
    tell("reading the store", 1, 1)
    scored = score(facts, settings, as_of, model, excluded_until(engine, as_of))
    signed = signed_off(engine, period)
    previous = latest_run(engine)
    earlier_in_period = (
        {r.patient_id for r in results_of(engine, previous.run_id)} if previous and previous.period == period else set()
    )
    writes = _resources(repo, scored, period, as_of, (model.name, model.version), signed, earlier_in_period)
    actions = _write(repo, writes, period, tell)
    results = [
        Result(
            pid,
            s.assessment.practice,
            s.assessment.locality,
            s.assessment.decision.tier,
            round(s.assessment.prediction.probability, 4),
            s.assessment.decision.candidate,
            s.evidence.features.frailty,
            s.evidence.features.ltc_count,
        )
        for pid, s in scored.items()
    ]
    counts = _counts(results, actions, signed, len(facts))
    counts["seconds"] = round(time.perf_counter() - began, 1)
    counts["outbox_seq"] = seen_up_to  # changes after this are news to `stratify watch`
    record = RunRecord(
        0, period, as_of.isoformat(), started, now_text(), model.name, model.version, settings.as_record(), counts
    )
    with repo.transaction() as tx:
        run_id = record_run(tx.connection, record, results)
    return RunRecord(run_id, *list(record.__dict__.values())[1:])


def _resources(
    repo: SqlRepository,
    scored: dict[str, Scoring],
    period: str,
    as_of: date,
    model: tuple[str, str],
    signed: dict[str, tuple[str, str]],
    earlier_in_period: set[str],
) -> list[Write]:
    """RiskAssessments of practices not yet signed off, candidate Flags raised or retired, and the
    quarter's assessments of people who have left the cohort cancelled."""
    out: list[Write] = []
    flags = _candidate_flags(repo)
    for pid, s in scored.items():
        if s.assessment.practice in signed:
            continue
        ra = fhir.risk_assessment(s.assessment, period, as_of, model)
        out.append(Write(ra, s.assessment.practice))
        flag = flags.get(pid)
        if s.assessment.decision.candidate:
            active = flag is not None and flag.get("status") == "active"
            since = date.fromisoformat(flag["period"]["start"]) if active and flag else as_of
            out.append(Write(fhir.candidate_flag(pid, s.assessment.decision.tier, since, ra["id"])))
        elif flag is not None and flag.get("status") == "active":
            out.append(Write(fhir.retired_flag(flag, as_of)))
    for pid, flag in flags.items():
        if pid not in scored and flag.get("status") == "active":
            out.append(Write(fhir.retired_flag(flag, as_of)))
    gone = {fhir.risk_assessment_id(period, pid) for pid in earlier_in_period - set(scored)}
    if gone:
        with repo.transaction() as tx:
            found = tx.read_many({("RiskAssessment", ra_id) for ra_id in gone})
        for resource, deleted in found.values():
            if not deleted and resource.get("status") in ("preliminary", "final"):
                out.append(Write(fhir.cancelled(resource)))
    return out


def _outbox_position(repo: SqlRepository) -> int:
    """The last change the run can have seen (read before the facts are)."""
    with repo.engine.connect() as conn:
        return int(conn.execute(select(func.max(outbox.c.seq))).scalar() or 0)


def _candidate_flags(repo: SqlRepository) -> dict[str, dict[str, Any]]:
    """Every candidate Flag there is, by patient id (one scan of the ids we give them)."""
    r = resources.c
    prefix = fhir.flag_id("")
    query = select(r.res_id, r.content).where(r.res_type == "Flag", r.deleted == false(), r.res_id.startswith(prefix))
    with repo.engine.connect() as conn:
        return {res_id[len(prefix) :]: orjson.loads(content) for res_id, content in conn.execute(query)}


def _write(repo: SqlRepository, writes: list[Write], period: str, tell: Progress) -> Counter[str]:
    """Write in batches. Each batch holds the period's lock and re-reads the sign-offs, so a practice a GP
    signs off while the run is writing keeps its final assessments."""
    actions: Counter[str] = Counter()
    for start in range(0, len(writes), WRITE_BATCH):
        with repo.transaction() as tx:
            lock_period(tx.connection, period)
            signed = signed_practices(tx.connection, period)
            batch = [w for w in writes[start : start + WRITE_BATCH] if w.practice is None or w.practice not in signed]
            actions["RiskAssessment.kept-signed"] += min(WRITE_BATCH, len(writes) - start) - len(batch)
            for result in tx.put_many([w.resource for w in batch]):
                actions[f"{result.resource['resourceType']}.{result.action}"] += 1
        tell("writing", min(start + WRITE_BATCH, len(writes)), len(writes))
    if not actions["RiskAssessment.kept-signed"]:
        del actions["RiskAssessment.kept-signed"]
    return actions


def _counts(
    results: list[Result], actions: Counter[str], signed: dict[str, tuple[str, str]], people_read: int
) -> dict[str, Any]:
    by_tier = Counter(r.tier for r in results)
    by_locality_tier = Counter(f"{r.locality}/{r.tier}" for r in results)
    return {
        "people_read": people_read,
        "cohort": len(results),
        "candidates": sum(r.candidate for r in results),
        "tiers": dict(sorted(by_tier.items())),
        "locality_tiers": dict(sorted(by_locality_tier.items())),
        "written": dict(sorted(actions.items())),
        "signed_off_practices_kept": sorted(signed),
    }
