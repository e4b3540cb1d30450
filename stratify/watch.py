"""Deterioration between runs: a new emergency admission or A&E attendance of someone in the latest
run's cohort has them rescored at once, and a tier that rises raises a Flag.

`closer stratify watch` follows the store's outbox (every write's event, in commit order) from a cursor
it keeps in the database, so a restart neither misses nor repeats work, and polls every few seconds
(default 10), which keeps "rescored within a minute" with room to spare. Each rescore writes:

- a RiskAssessment `ra-rescore-<patient>-<day>` (status preliminary, the same model as the run, its
  basis naming the new Encounter among the rest, its note saying what triggered it);
- when the tier is more severe than the person's tier in the latest run, a Flag
  `tier-rise-<patient>-<day>` (one a day: a second admission the same day updates it) for their case
  manager when they have an active case management EpisodeOfCare, else for the practice's triage queue.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from closer.store.cursor import OutboxCursor, cursor_table
from closer.store.query import parse_search
from closer.store.repository import OutboxEvent
from closer.store.sql import SqlRepository
from stratify import codes
from stratify import resources as fhir
from stratify.codelists import load_codelists
from stratify.facts import KINDS, load_facts
from stratify.features import compute, in_cohort
from stratify.models.base import RiskModel, load_model
from stratify.runstore import RunRecord, latest_run, results_of
from stratify.settings import StratifySettings
from stratify.tiering import ORDER, Decision, Scored, rule_tier

log = logging.getLogger("closer.stratify.watch")
CURSOR = "deterioration"
TRIGGERS = {"emergency", "ae"}

stratify_cursor = cursor_table("stratify_cursor")
_cursor = OutboxCursor(stratify_cursor, CURSOR)


@dataclass(frozen=True)
class Rescore:
    patient_id: str
    trigger: str  # "Encounter/<id>"
    before: str  # tier in the latest run
    after: str
    probability: float
    flag_id: str | None  # the tier-rise Flag, when the tier rose


def read_cursor(engine: Engine) -> int:
    return _cursor.read(engine)


def triggers(repo: SqlRepository, events: list[OutboxEvent]) -> dict[str, str]:
    """patient id -> the Encounter that triggers their rescore, for new or changed emergency admissions
    and A&E attendances among `events`."""
    keys = {("Encounter", e.resource_id) for e in events if e.resource_type == "Encounter" and e.action != "delete"}
    if not keys:
        return {}
    with repo.transaction() as tx:
        found = tx.read_many(keys)
    out: dict[str, str] = {}
    for (_, encounter_id), (encounter, deleted) in sorted(found.items()):
        if deleted or encounter.get("status") in ("entered-in-error", "cancelled"):
            continue
        kinds = {
            KINDS.get(str(c.get("code")))
            for concept in encounter.get("type", [])
            for c in concept.get("coding", [])
            if c.get("system") == codes.SNOMED
        }
        kind, _, patient = str((encounter.get("subject") or {}).get("reference", "")).partition("/")
        if kinds & TRIGGERS and kind == "Patient":
            out[patient] = f"Encounter/{encounter_id}"
    return out


def poll_once(repo: SqlRepository, settings: StratifySettings, today: date, batch: int = 500) -> list[Rescore]:
    """Process every outbox event after the cursor; return the rescores done."""
    engine = repo.engine
    cursor = read_cursor(engine)
    done: list[Rescore] = []
    run = latest_run(engine)
    if run is not None:  # what the run already saw is not news
        cursor = max(cursor, int(run.counts.get("outbox_seq", 0)))
    while True:
        events = list(repo.events(cursor, limit=batch))
        if not events:
            return done
        if run is not None:
            done.extend(rescore(repo, settings, run, triggers(repo, events), today))
        cursor = events[-1].seq
        _cursor.save(repo, cursor)


def rescore(
    repo: SqlRepository, settings: StratifySettings, run: RunRecord, triggered: dict[str, str], today: date
) -> list[Rescore]:
    """Rescore the triggered people who were in the run's cohort, write what changed."""
    tiers = {r.patient_id: (r.tier, r.locality) for r in results_of(repo.engine, run.run_id, triggered)}
    if not tiers:
        return []
    model: RiskModel = load_model(run.model, run.model_version, repo.engine)
    facts = load_facts(repo.engine, settings.practices, patient_ids=set(tiers))
    lists = load_codelists()
    writes: list[dict[str, Any]] = []
    done = []
    for patient_id, (before, locality) in sorted(tiers.items()):
        person = facts.get(patient_id)
        if person is None or not in_cohort(person, today, settings.min_age, settings.practices):
            continue
        evidence = compute(person, today, lists)
        prediction = model.predict(evidence.features)
        tier, reason = rule_tier(
            Scored(patient_id, locality, prediction.probability, evidence.features.frailty), settings.tiering
        )
        trigger = triggered[patient_id]
        assessment = fhir.Assessment(
            patient_id,
            person.practice,
            locality,
            prediction,
            Decision(tier, tier in settings.tiering.candidate_tiers, reason),
            tuple(dict.fromkeys((trigger, *evidence.basis))),
            None,
            f"Rescored after {trigger} (tier in run {run.run_id}: {codes.TIER_DISPLAY[before].lower()}).",
        )
        ra = fhir.rescore_assessment(assessment, today, (model.name, model.version))
        writes.append(ra)
        flag_id = None
        if ORDER.index(tier) > ORDER.index(before):
            flag = fhir.tier_rise_flag(patient_id, before, tier, today, ra["id"], _case_managed(repo, patient_id))
            writes.append(flag)
            flag_id = flag["id"]
        done.append(Rescore(patient_id, trigger, before, tier, prediction.probability, flag_id))
    with repo.transaction() as tx:
        tx.put_many(writes)
    return done


def _case_managed(repo: SqlRepository, patient_id: str) -> bool:
    """Whether the person has an active case management EpisodeOfCare (enrolment makes one)."""
    query = parse_search(
        "EpisodeOfCare",
        [
            ("patient", f"Patient/{patient_id}"),
            ("status", "active"),
            ("type", f"{codes.EPISODE_TYPE_SYSTEM}|{codes.CASE_MANAGEMENT_EPISODE}"),
            ("_summary", "count"),
        ],
    )
    return bool(repo.search(query).total)


def watch(repo: SqlRepository, settings: StratifySettings, interval: float, once: bool = False) -> None:
    """Poll the outbox until stopped (Ctrl-C / SIGTERM)."""
    while True:
        for done in poll_once(repo, settings, date.today()):
            log.info(
                "rescored",
                extra={
                    "patient": done.patient_id,
                    "trigger": done.trigger,
                    "before": done.before,
                    "after": done.after,
                    "flag": done.flag_id,
                },
            )
        if once:
            return
        time.sleep(interval)
