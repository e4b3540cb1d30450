"""Reading what the workflow needs from the store (IO): a person's active episode, plans and open Tasks,
their latest tier and triage decision, and emergency admissions in a few set-based scans
(stratify.facts) rather than a search per person. A person's practice is stratify.facts.practice_of, the one
rule stratification uses too."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from typing import Any

from casemgmt import codes
from casemgmt.plans import kind_of, number_of
from casemgmt.reviews import is_open
from closer.errors import not_supported
from closer.store.repository import Repository
from closer.store.searching import search_all
from closer.store.sql import SqlRepository
from stratify import codes as strat
from stratify.facts import load_facts
from stratify.triage import LatestDecision, latest_of

JSON = dict[str, Any]
PAGE = 1000  # the page size of the searches here (closer.store.searching.search_all)
ID_CHUNK = 200
# "Top factors: 1. Age 85+; 2. Heart failure." in the note stratify writes (stratify.resources.explanation).
TOP_FACTORS = re.compile(r"Top factors: (\d+\. .*?(?:; \d+\. .*?)*)\.(?:\s|$)")
NOT_IN_FORCE = ("cancelled", "entered-in-error")


def engine_of(repo: Repository) -> Any:
    """Set-based reads (facts, runs) need the SQL store itself, as stratification does."""
    if not isinstance(repo, SqlRepository):
        raise not_supported("Case management needs the SQL store", 501)
    return repo.engine


def read_current(repo: Repository, resource_type: str, ids: Collection[str]) -> dict[str, JSON]:
    """The current, undeleted resources of one type by id, read with `_id` searches (no locks taken)."""
    wanted = sorted(set(ids))
    found: dict[str, JSON] = {}
    for start in range(0, len(wanted), ID_CHUNK):
        chunk = ",".join(wanted[start : start + ID_CHUNK])
        found.update((str(r["id"]), r) for r in search_all(repo, resource_type, [("_id", chunk)], PAGE))
    return found


def _episode_type() -> tuple[str, str]:
    return ("type", f"{codes.EPISODE_TYPE_SYSTEM}|{codes.CASE_MANAGEMENT_EPISODE}")


def episodes_of(repo: Repository, patient_id: str) -> list[JSON]:
    """All of a person's case management episodes, any status."""
    return list(search_all(repo, "EpisodeOfCare", [("patient", f"Patient/{patient_id}"), _episode_type()], PAGE))


def active_episode(repo: Repository, patient_id: str) -> JSON | None:
    return next((e for e in episodes_of(repo, patient_id) if e.get("status") == "active"), None)


def active_episodes(repo: Repository, care_manager: str | None = None) -> list[JSON]:
    criteria = [("status", "active"), _episode_type()]
    if care_manager:
        criteria.append(("care-manager", care_manager))
    return list(search_all(repo, "EpisodeOfCare", criteria, PAGE))


def all_episodes(repo: Repository) -> list[JSON]:
    return list(search_all(repo, "EpisodeOfCare", [_episode_type()], PAGE))


def active_plans(repo: Repository, patient_id: str) -> dict[str, JSON]:
    """kind (care | emergency | end-of-life) -> the person's active plan of that kind."""
    return active_plans_of(repo, [patient_id]).get(patient_id, {})


def active_plans_of(repo: Repository, patient_ids: Collection[str]) -> dict[str, dict[str, JSON]]:
    """patient -> kind -> their active plan of that kind, for many people in a few searches."""
    found: dict[str, dict[str, JSON]] = {}
    for plan in _about_each(repo, "CarePlan", patient_ids, [("status", "active")]):
        kind = kind_of(plan)
        if kind is not None:
            found.setdefault(_subject_id(plan), {})[kind] = plan
    return found


def _about_each(
    repo: Repository, resource_type: str, patient_ids: Collection[str], criteria: list[tuple[str, str]]
) -> list[JSON]:
    """The matches of `criteria` about any of `patient_ids` (`patient` searches of ID_CHUNK people each), in
    the store's order."""
    wanted = sorted(set(patient_ids))
    found: list[JSON] = []
    for start in range(0, len(wanted), ID_CHUNK):
        refs = ",".join(f"Patient/{p}" for p in wanted[start : start + ID_CHUNK])
        found.extend(search_all(repo, resource_type, [("patient", refs), *criteria], PAGE))
    return found


def _subject_id(resource: JSON) -> str:
    return str((resource.get("subject") or {}).get("reference", "")).partition("/")[2]


def plan_counts(repo: Repository, patient_id: str) -> dict[str, int]:
    """kind -> the highest n of the person's plans of that kind, so a new one takes the next id."""
    counts: dict[str, int] = {}
    for plan in search_all(repo, "CarePlan", [("patient", f"Patient/{patient_id}")], PAGE):
        kind = kind_of(plan)
        if kind is not None:
            counts[kind] = max(counts.get(kind, 0), number_of(plan))
    return counts


def open_tasks(repo: Repository, patient_id: str) -> list[JSON]:
    return [t for t in search_all(repo, "Task", [("patient", f"Patient/{patient_id}")], PAGE) if is_open(t)]


def open_review_tasks(repo: Repository, patient_ids: Collection[str] | None = None) -> list[JSON]:
    """Open review Tasks (of `patient_ids`, or everyone's)."""
    criteria = [("code", f"{codes.ACTIVITY_SYSTEM}|{codes.REVIEW}")]
    if patient_ids is not None:
        if not patient_ids:
            return []
        criteria.append(("patient", ",".join(f"Patient/{p}" for p in patient_ids)))
    return [t for t in search_all(repo, "Task", criteria, PAGE) if is_open(t)]


def latest_assessment(repo: Repository, patient_id: str) -> JSON | None:
    """The person's newest RiskAssessment in force (a quarter's or a rescore)."""
    return latest_assessments(repo, [patient_id]).get(patient_id)


def latest_assessments(repo: Repository, patient_ids: Collection[str]) -> dict[str, JSON]:
    """patient -> their newest RiskAssessment in force (the latest occurrenceDateTime, ties to the greater id),
    for many people in a few searches."""
    latest: dict[str, JSON] = {}
    for ra in _about_each(repo, "RiskAssessment", patient_ids, []):
        if ra.get("status") in NOT_IN_FORCE:
            continue
        pid = _subject_id(ra)
        if pid not in latest or _newness(ra) > _newness(latest[pid]):
            latest[pid] = ra
    return latest


def _newness(assessment: JSON) -> tuple[str, str]:
    return str(assessment.get("occurrenceDateTime", "")), str(assessment.get("id"))


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


def latest_triage(repo: Repository, patient_id: str) -> LatestDecision | None:
    """The person's latest triage decision, if any, by the rule the triage queue uses (stratify.triage)."""
    criteria = [("patient", f"Patient/{patient_id}"), ("code", f"{strat.TASK_CODE_SYSTEM}|{strat.TRIAGE_TASK}")]
    return latest_of(search_all(repo, "Task", criteria, PAGE)).get(patient_id)


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
