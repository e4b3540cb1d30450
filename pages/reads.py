"""Reading a patient's record for the patient page (IO). Searches and the per-person readings are case
management's (casemgmt.lookup), so the page reads what the workflow reads; the shaping is pages.patient's."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from casemgmt.lookup import PAGE, episodes_of, latest_assessment, read_current
from casemgmt.service import display_name
from closer.audit import events_for
from closer.store.repository import Repository
from closer.store.searching import search_all
from consent.source import StoreConsents
from pages.patient import (
    PatientPage,
    alerts_of,
    consent_summaries,
    decisions_of,
    disclosures_of,
    episode_rows,
    plans_of,
    risk_of,
)
from stratify import codes as strat

JSON = dict[str, Any]


def about(repo: Repository, resource_type: str, patient_id: str) -> list[JSON]:
    """Every current resource of a type about the patient."""
    return list(search_all(repo, resource_type, [("patient", f"Patient/{patient_id}")], PAGE))


def patient_page(repo: Repository, engine: Engine, patient_id: str, names: dict[str, str]) -> PatientPage:
    """Everything the patient page shows, read and then shaped by the pure builders in pages.patient.
    `names` maps Practitioner references to people's names (the pages' users); stored Practitioners add theirs."""
    ref = f"Patient/{patient_id}"
    assessment = latest_assessment(repo, patient_id)
    basis_refs = [b.get("reference", "") for b in (assessment or {}).get("basis", [])]
    basis: dict[str, JSON] = {}
    for kind in sorted({r.split("/")[0] for r in basis_refs if "/" in r}):
        wanted = [r.split("/", 1)[1] for r in basis_refs if r.startswith(f"{kind}/")]
        basis.update({f"{kind}/{rid}": res for rid, res in read_current(repo, kind, wanted).items()})
    episodes = episodes_of(repo, patient_id)
    care_plans = about(repo, "CarePlan", patient_id)
    people = {str(e.get("careManager", {}).get("reference", "")) for e in episodes}
    people |= {str((p.get("author") or {}).get("reference", "")) for p in care_plans}
    stored = read_current(repo, "Practitioner", [p.split("/", 1)[1] for p in people if p.startswith("Practitioner/")])
    known = {**names, **{f"Practitioner/{pid}": display_name(p) for pid, p in stored.items()}}
    triage_code = ("code", f"{strat.TASK_CODE_SYSTEM}|{strat.TRIAGE_TASK}")
    tasks = list(search_all(repo, "Task", [("patient", ref), triage_code], PAGE))
    shown_episodes = episode_rows(episodes, known)
    return PatientPage(
        risk=risk_of(assessment, basis),
        plans=plans_of(care_plans, known),
        alerts=alerts_of(about(repo, "Flag", patient_id), about(repo, "AllergyIntolerance", patient_id)),
        consents=consent_summaries(StoreConsents(repo)(ref)),
        episodes=shown_episodes,
        decisions=decisions_of(tasks),
        disclosures=disclosures_of(events_for(engine, ref)),
        active_episode=next((e for e in shown_episodes if e.status == "active"), None),
    )
