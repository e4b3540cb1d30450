"""The demo's case management story on the synthetic county: teams, users, three people triaged in,
enrolled with a case manager and given plans and alerts, two of them consenting to share with the
ambulance service and A&E; and the publisher registration that sends to the demo's ambulance receiver.

    python scripts/demo_casework.py seed RECEIVER_URL     # idempotent: a second run changes nothing
    python scripts/demo_casework.py withdraw              # the first consenting person withdraws consent

Runs in-process against CLOSER_DATABASE_URL, through the same service functions the pages and the FHIR
operations call. Demo users' passwords are made once, kept in closer-data/demo-users.txt (mode 0600).
"""

from __future__ import annotations

import secrets
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.writing import ensure, open_repository
from casemgmt.lookup import active_episodes
from casemgmt.service import (
    PlanInput,
    agree_plan,
    current_settings,
    display_name,
    enrol,
    load_teams,
    nhs_number,
    triage_queue,
)
from closer.errors import FhirError
from closer.settings import Settings
from closer.store.sql import SqlRepository
from consent.alertcodes import SNOMED
from consent.records import sharing_consent
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM
from pages.users import CASE_MANAGER, add_user, get_user
from pages.workflow import triage

DATA = Path("closer-data")
PASSWORDS = DATA / "demo-users.txt"
ENDPOINTS = DATA / "demo-publish.toml"
AMBULANCE, AE = "RYA", "RXW"
SHARED_CLASSES = ("Flag", "AllergyIntolerance", "CarePlan", "EpisodeOfCare", "CareTeam")
PEOPLE = 3  # enrolled in the demo; the first two consent to sharing
CASE_MANAGER_REF = "Practitioner/cm-casey"


def directory() -> list[dict[str, Any]]:
    def org(ods: str, name: str) -> dict[str, Any]:
        return {
            "resourceType": "Organization",
            "id": f"org-{ods.lower()}",
            "identifier": [{"system": ODS_ORGANIZATION_SYSTEM, "value": ods}],
            "name": name,
        }

    return [org(AMBULANCE, "West Midlands Ambulance Service (demo)"), org(AE, "Royal Shrewsbury Hospital A&E (demo)")]


def users(repo: SqlRepository, team: str, practice: str) -> dict[str, str]:
    """A GP of the practice, a case manager and an MDT admin of the team; their passwords."""
    known = dict(line.split(" ", 1) for line in PASSWORDS.read_text().splitlines()) if PASSWORDS.exists() else {}
    wanted = {
        "gp-demo": ("gp", (practice,), ""),
        "casey": (CASE_MANAGER, (), team),
        "mdt-demo": ("mdt-admin", (), team),
    }
    for name, (role, practices, user_team) in wanted.items():
        if get_user(repo.engine, name) is None:
            known[name] = secrets.token_urlsafe(12)
            add_user(repo, name, role=role, password=known[name], practices=practices, team=user_team)
    PASSWORDS.write_text("".join(f"{name} {password}\n" for name, password in known.items()))
    PASSWORDS.chmod(0o600)
    return known


def alerts(patient_id: str) -> list[dict[str, Any]]:
    subject = {"reference": f"Patient/{patient_id}"}
    return [
        {
            "resourceType": "Flag",
            "id": f"dnar-{patient_id}",
            "status": "active",
            "category": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/flag-category", "code": "clinical"}]}
            ],
            "code": {"coding": [{"system": SNOMED, "code": "304253006", "display": "Not for resuscitation"}]},
            "subject": subject,
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": f"allergy-{patient_id}",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}
                ]
            },
            "code": {"coding": [{"system": SNOMED, "code": "91936005", "display": "Allergy to penicillin"}]},
            "patient": subject,
        },
    ]


def enrol_people(repo: SqlRepository, team: str, casemgmt: Any) -> list[str]:
    """Triage in, enrol and plan for the team's top candidates; those already enrolled are left alone."""
    closer_settings = Settings.from_env()
    done = enrolled(repo)
    chosen = done[:PEOPLE]
    queue = triage_queue(repo, team, casemgmt)
    for item in queue:
        if len(chosen) >= PEOPLE:
            break
        patient_id = item.patient_id
        triage(
            repo,
            closer_settings,
            patient_id,
            decision="include",
            reason="MDT agreed: frequent emergency admissions",
            next_review=None,
            decided_by="mdt-demo",
            focus=item.focus,
        )
        try:
            enrol(repo, casemgmt, patient_id, CASE_MANAGER_REF)
        except FhirError as exc:
            print(f"    {patient_id}: not enrolled ({exc.diagnostics})")
            continue
        review = date.today() + timedelta(days=90)
        agree_plan(
            repo,
            casemgmt,
            patient_id,
            PlanInput("Weekly contact; medicines review; falls prevention", review, "2 emergency admissions a year"),
            emergency=PlanInput("Call the case manager first; oxygen at home; hospital passport in the hall"),
            end_of_life=PlanInput("Preferred place of care: home") if len(chosen) == 0 else None,
        )
        chosen.append(patient_id)
    for n, patient_id in enumerate(chosen):
        with repo.transaction() as tx:
            tx.put_many(alerts(patient_id))
            if n < 2:  # recorded once: a re-run neither re-dates it nor revives a withdrawn one
                given = date.today().isoformat()
                ensure(
                    tx, sharing_consent(f"share-{patient_id}", patient_id, (AMBULANCE, AE), SHARED_CLASSES, given=given)
                )
    return chosen


def enrolled(repo: SqlRepository) -> list[str]:
    """The demo case manager's people, in the order they were enrolled (the first two consent)."""
    episodes = sorted(active_episodes(repo, CASE_MANAGER_REF), key=lambda e: (e["period"]["start"], e["id"]))
    return [str(e["patient"]["reference"]).split("/", 1)[1] for e in episodes]


def describe(repo: SqlRepository, patient_id: str) -> str:
    patient = repo.read("Patient", patient_id)
    return f"{display_name(patient)} (Patient/{patient_id}, NHS number {nhs_number(patient) or '?'})"


def seed(receiver: str) -> None:
    repo = open_repository(Settings.from_env())
    casemgmt = current_settings()
    load_teams(repo, casemgmt)
    with repo.transaction() as tx:
        tx.put_many(directory())
    team = sorted(casemgmt.teams)[0]
    practice = casemgmt.teams[team].practices[0]
    passwords = users(repo, team, practice)
    people = enrol_people(repo, team, casemgmt)
    ENDPOINTS.write_text(
        f'[[endpoint]]\nname = "ambulance-demo"\nurl = "{receiver}/fhir"\nods = "{AMBULANCE}"\npurpose = "ETREAT"\n'
    )
    print(f"    team {team} ({casemgmt.teams[team].name}); GP user serves practice {practice}")
    for n, patient_id in enumerate(people):
        shared = "consents to share with the ambulance service and A&E" if n < 2 else "has not consented"
        print(f"    enrolled {describe(repo, patient_id)}: {shared}")
    print("    sign in with: " + ", ".join(f"{name} / {password}" for name, password in passwords.items()))
    repo.engine.dispose()


def withdraw() -> None:
    repo = open_repository(Settings.from_env())
    people = enrolled(repo)
    if not people:
        raise SystemExit("nobody is enrolled yet: run `seed` first")
    consent = repo.read("Consent", f"share-{people[0]}")
    consent["status"] = "inactive"
    consent.setdefault("provision", {})["period"] = {"end": datetime.now(UTC).isoformat(timespec="seconds")}
    repo.update(consent)
    print(f"    {describe(repo, people[0])} withdrew consent: the publisher retracts what it shared")
    repo.engine.dispose()


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "seed":
        seed(sys.argv[2].rstrip("/"))
    elif sys.argv[1:] == ["withdraw"]:
        withdraw()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
