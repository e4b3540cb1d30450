"""Reading what the workflow needs from the store (IO): a person's active episode, plans and open Tasks,
their latest tier and triage decision, and emergency admissions in a few set-based scans
(stratify.facts) rather than a search per person."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from datetime import date
from typing import Any

from casemgmt import codes
from casemgmt.plans import kind_of, number_of
from casemgmt.reviews import is_open
from closer.errors import not_supported
from closer.store.query import parse_search
from closer.store.repository import Repository
from closer.store.sql import SqlRepository
from stratify import codes as strat
from stratify.facts import load_facts
from stratify.triage import decision_of

JSON = dict[str, Any]
PAGE = 1000
ID_CHUNK = 200
# "Top factors: 1. Age 85+; 2. Heart failure." in the note stratify writes (stratify.resources.explanation).
TOP_FACTORS = re.compile(r"Top factors: (\d+\. .*?(?:; \d+\. .*?)*)\.(?:\s|$)")
NOT_IN_FORCE = ("cancelled", "entered-in-error")


def engine_of(repo: Repository) -> Any:
    """Set-based reads (facts, runs) need the SQL store itself, as stratification does."""
    if not isinstance(repo, SqlRepository):
        raise not_supported("Case management needs the SQL store", 501)
    return repo.engine


def search_all(repo: Repository, resource_type: str, criteria: list[tuple[str, str]]) -> Iterator[JSON]:
    """Every match of a search, page by page."""
    offset = 0
    while True:
        query = parse_search(resource_type, [*criteria, ("_count", str(PAGE))], strict=True, max_count=PAGE)
        query.offset, query.total = offset, "none"
        result = repo.search(query)
        yield from result.matches
        if not result.has_more or not result.matches:
            return
        offset += len(result.matches)


def read_current(repo: Repository, resource_type: str, ids: Collection[str]) -> dict[str, JSON]:
    """The current, undeleted resources of one type by id, read with `_id` searches (no locks taken)."""
    wanted = sorted(set(ids))
    found: dict[str, JSON] = {}
    for start in range(0, len(wanted), ID_CHUNK):
        chunk = ",".join(wanted[start : start + ID_CHUNK])
        found.update((str(r["id"]), r) for r in search_all(repo, resource_type, [("_id", chunk)]))
    return found


def _episode_type() -> tuple[str, str]:
    return ("type", f"{codes.EPISODE_TYPE_SYSTEM}|{codes.CASE_MANAGEMENT_EPISODE}")


def episodes_of(repo: Repository, patient_id: str) -> list[JSON]:
    """All of a person's case management episodes, any status."""
    return list(search_all(repo, "EpisodeOfCare", [("patient", f"Patient/{patient_id}"), _episode_type()]))


def active_episode(repo: Repository, patient_id: str) -> JSON | None:
    return next((e for e in episodes_of(repo, patient_id) if e.get("status") == "active"), None)


def active_episodes(repo: Repository, care_manager: str | None = None) -> list[JSON]:
    criteria = [("status", "active"), _episode_type()]
    if care_manager:
        criteria.append(("care-manager", care_manager))
    return list(search_all(repo, "EpisodeOfCare", criteria))


def all_episodes(repo: Repository) -> list[JSON]:
    return list(search_all(repo, "EpisodeOfCare", [_episode_type()]))


def active_plans(repo: Repository, patient_id: str) -> dict[str, JSON]:
    """kind (care | emergency | end-of-life) -> the person's active plan of that kind."""
    found: dict[str, JSON] = {}
    for plan in search_all(repo, "CarePlan", [("patient", f"Patient/{patient_id}"), ("status", "active")]):
        kind = kind_of(plan)
        if kind is not None:
            found[kind] = plan
    return found


def plan_counts(repo: Repository, patient_id: str) -> dict[str, int]:
    """kind -> the highest n of the person's plans of that kind, so a new one takes the next id."""
    counts: dict[str, int] = {}
    for plan in search_all(repo, "CarePlan", [("patient", f"Patient/{patient_id}")]):
        kind = kind_of(plan)
        if kind is not None:
            counts[kind] = max(counts.get(kind, 0), number_of(plan))
    return counts


def open_tasks(repo: Repository, patient_id: str) -> list[JSON]:
    return [t for t in search_all(repo, "Task", [("patient", f"Patient/{patient_id}")]) if is_open(t)]


def open_review_tasks(repo: Repository, patient_ids: Collection[str] | None = None) -> list[JSON]:
    """Open review Tasks (of `patient_ids`, or everyone's)."""
    criteria = [("code", f"{codes.ACTIVITY_SYSTEM}|{codes.REVIEW}")]
    if patient_ids is not None:
        if not patient_ids:
            return []
        criteria.append(("patient", ",".join(f"Patient/{p}" for p in patient_ids)))
    return [t for t in search_all(repo, "Task", criteria) if is_open(t)]


def latest_assessment(repo: Repository, patient_id: str) -> JSON | None:
    """The person's newest RiskAssessment in force (a quarter's or a rescore)."""
    found = [
        ra
        for ra in search_all(repo, "RiskAssessment", [("patient", f"Patient/{patient_id}")])
        if ra.get("status") not in NOT_IN_FORCE
    ]
    return max(found, key=lambda ra: (str(ra.get("occurrenceDateTime", "")), str(ra.get("id"))), default=None)


def tier_of_assessment(assessment: JSON | None) -> str | None:
    for prediction in (assessment or {}).get("prediction", []):
        for coding in (prediction.get("qualitativeRisk") or {}).get("coding", []):
            if coding.get("system") == strat.TIER_SYSTEM:
                return str(coding.get("code"))
    return None


def probability_of(assessment: JSON | None) -> float | None:
    for prediction in (assessment or {}).get("prediction", []):
        if isinstance(prediction.get("probabilityDecimal"), int | float):
            return float(prediction["probabilityDecimal"])
    return None


def top_factors(assessment: JSON | None) -> tuple[str, ...]:
    """The ranked factors stratification wrote in the assessment's note ("Top factors: 1. ...; 2. ...")."""
    for note in (assessment or {}).get("note", []):
        found = TOP_FACTORS.search(str(note.get("text", "")))
        if found:
            items = re.split(r"; (?=\d+\. )", found.group(1))
            return tuple(re.sub(r"^\d+\. ", "", item).strip() for item in items)
    return ()


def latest_triage(repo: Repository, patient_id: str) -> tuple[str, str | None, str] | None:
    """(decision, focus reference, authoredOn) of the person's latest triage decision, if any."""
    criteria = [("patient", f"Patient/{patient_id}"), ("code", f"{strat.TASK_CODE_SYSTEM}|{strat.TRIAGE_TASK}")]
    latest: tuple[str, str | None, str] | None = None
    for task in search_all(repo, "Task", criteria):
        read = decision_of(task)
        if read is None:
            continue
        stamp = str(task.get("authoredOn", ""))
        if latest is None or stamp >= latest[2]:
            latest = (read[1], (task.get("focus") or {}).get("reference"), stamp)
    return latest


def emergency_admissions(
    repo: Repository, practices: Collection[str], patient_ids: Collection[str]
) -> dict[str, list[date]]:
    """patient -> the start days of their emergency admissions, oldest first."""
    if not patient_ids:
        return {}
    facts = load_facts(engine_of(repo), practices, patient_ids=set(patient_ids))
    return {
        pid: sorted(stay.start for stay in person.stays if stay.kind == "emergency") for pid, person in facts.items()
    }


def practice_of(patient: JSON) -> tuple[str, str] | None:
    """(ODS code, reference) of the person's registered practice: the first generalPractitioner that is an
    Organization, its identifier's value or else its id (as stratification reads it)."""
    for gp in patient.get("generalPractitioner", []):
        kind, _, ident = str(gp.get("reference", "")).partition("/")
        if kind == "Organization":
            code = str((gp.get("identifier") or {}).get("value") or ident).upper()
            return code, str(gp["reference"])
    return None
