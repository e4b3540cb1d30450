"""The case management workflow as plain Python functions over a Repository (the IO layer). The FHIR
operations (casemgmt.operations), the CLI and the web pages all call these, so a click and an API call do
the same thing. Rule failures raise closer.errors.FhirError (422 processing, 409 conflict, 404) whose
`diagnostics` say what is wrong and whose `expression` names the operation parameter; show the former.

`at` is when the step happens (default now, UTC); "today" is the English calendar day of `at`.
The list of functions is in casemgmt/__init__.py.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from casemgmt import codes, lookup
from casemgmt import death as deaths
from casemgmt import enrolment as enrolments
from casemgmt import plans as careplans
from casemgmt import referrals as refs
from casemgmt import reviews as rv
from casemgmt.errors import conflict, unprocessable
from casemgmt.figures import Enrolment, ProgrammeFigures, compute
from casemgmt.settings import ENV_VAR, CaseManagementSettings, load_settings
from casemgmt.teams import all_organizations, out_of_hours_id, team_id, team_reference
from closer.errors import FhirError
from closer.store.repository import Repository
from closer.store.searching import search_all
from fhir_profiles.canonical import NHS_NUMBER_SYSTEM
from stratify.facts import practice_of
from stratify.operations import today_in_england
from stratify.resources import add_months, risk_assessment_id
from stratify.runstore import ensure_tables, latest_run, stratify_results
from stratify.tiering import ORDER
from stratify.triage import DECISIONS as TRIAGE_DECISIONS
from stratify.triage import decision_of, latest_decisions

JSON = dict[str, Any]
PlanInput = careplans.PlanInput


@functools.cache
def _settings_from(path: str | None) -> CaseManagementSettings:
    return load_settings(path)


def current_settings() -> CaseManagementSettings:
    """The settings in force ($CLOSER_CASEMGMT_SETTINGS or the packaged file), read once per path."""
    return _settings_from(os.environ.get(ENV_VAR) or None)


def _now(at: datetime | None) -> datetime:
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("`at` must carry its UTC offset")
    return moment


# -- teams -----------------------------------------------------------------------------------------------


def load_teams(repo: Repository, settings: CaseManagementSettings) -> list[JSON]:
    """Write every team Organization (PUT by id: loading again changes nothing); returns them as stored."""
    with repo.transaction() as tx:
        return [w.resource for w in tx.put_many(all_organizations(settings))]


def team_of_patient(settings: CaseManagementSettings, patient: JSON) -> str | None:
    """The key of the team serving the person's registered practice."""
    practice = practice_of(patient)
    team = settings.team_of_practice(practice[0]) if practice else None
    return team.key if team else None


# -- referral --------------------------------------------------------------------------------------------


def refer(
    repo: Repository,
    patient_id: str,
    source: str,
    reason: str,
    requester: str | None = None,
    at: datetime | None = None,
    settings: CaseManagementSettings | None = None,
) -> JSON:
    """Record a direct referral (source gp | ae | clinician | self) to the team of the person's practice;
    it joins that team's triage queue. Returns the ServiceRequest as stored."""
    settings = settings or current_settings()
    now = _now(at)
    patient = repo.read("Patient", patient_id)
    if deaths.is_deceased(patient):
        raise unprocessable(f"Patient/{patient_id} is recorded as deceased")
    key = team_of_patient(settings, patient)
    if key is None:
        raise unprocessable(f"Patient/{patient_id}'s practice is served by no case management team")
    request = refs.referral(repo.new_id(), patient_id, source, reason, team_reference(key), now, requester)
    with repo.transaction() as tx:
        return tx.create(request, resource_id=request["id"]).resource


# -- triage queue ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    """One person waiting for the team's triage decision."""

    patient_id: str
    name: str
    nhs_number: str | None
    practice: str | None
    source: str  # stratification | referral
    focus: str  # the RiskAssessment or ServiceRequest to pass to $triage as focus
    tier: str | None
    probability: float | None
    factors: tuple[str, ...]  # top contributing factors, ranked
    emergency_admissions: int  # in the last 12 months
    seen_before: bool  # an earlier triage decision exists
    last_decision: str | None  # include | exclude, that earlier decision
    referral_source: str | None = None  # gp | ae | clinician | self
    referral_reason: str | None = None
    proposed: str | None = None  # when the run or the referral proposed them


def triage_queue(
    repo: Repository, team_key: str, settings: CaseManagementSettings, today: date | None = None
) -> list[QueueItem]:
    """The team's queue: candidates of the latest stratification run registered with its practices, and
    active referrals to it, leaving out anyone enrolled or decided on since they were proposed. Most severe
    and most likely first."""
    team = settings.teams.get(team_key)
    if team is None:
        raise unprocessable(f"There is no case management team '{team_key}'", "team")
    day = today or today_in_england(datetime.now(UTC))
    engine = lookup.engine_of(repo)
    ensure_tables(engine)
    proposals: dict[str, tuple[str, str, str]] = {}  # patient -> (source, focus, proposed at)
    run = latest_run(engine)
    if run is not None:
        c = stratify_results.c
        with engine.connect() as conn:
            rows = conn.execute(
                stratify_results.select()
                .with_only_columns(c.patient_id)
                .where(c.run_id == run.run_id, c.candidate.is_(True), c.practice.in_(team.practices))
            )
            for (pid,) in rows:
                focus = f"RiskAssessment/{risk_assessment_id(run.period, pid)}"
                proposals[str(pid)] = ("stratification", focus, run.started)
    referrals: dict[str, JSON] = {}
    criteria = [
        ("status", "active"),
        ("code", f"{codes.REFERRAL_SYSTEM}|{codes.REFERRAL_CODE}"),
        ("performer", team_reference(team.key)),
    ]
    for request in search_all(repo, "ServiceRequest", criteria, lookup.PAGE):
        pid = str(request["subject"]["reference"]).partition("/")[2]
        referrals[pid] = request
        proposals[pid] = ("referral", f"ServiceRequest/{request['id']}", str(request.get("authoredOn", "")))
    if not proposals:
        return []
    enrolled = {str(e["patient"]["reference"]).partition("/")[2] for e in lookup.active_episodes(repo)}
    decisions = latest_decisions(engine)
    waiting = {
        pid: proposal
        for pid, proposal in proposals.items()
        if pid not in enrolled and not (pid in decisions and decisions[pid].authored >= proposal[2])
    }
    people = lookup.read_current(repo, "Patient", waiting)
    focus_ids = [p[1].partition("/")[2] for p in waiting.values() if p[0] == "stratification"]
    assessments = lookup.read_current(repo, "RiskAssessment", focus_ids)
    referred_latest = lookup.latest_assessments(repo, [pid for pid, p in waiting.items() if p[0] == "referral"])
    admissions = lookup.emergency_admissions(repo, settings.stratify.practices, waiting)
    since = add_months(day, -12)
    items = []
    for pid, (source, focus, proposed) in waiting.items():
        patient = people.get(pid)
        if patient is None or deaths.is_deceased(patient):
            continue
        assessment: JSON | None = (
            assessments.get(focus.partition("/")[2]) if source == "stratification" else referred_latest.get(pid)
        )
        referral = referrals.get(pid) if source == "referral" else None
        practice = practice_of(patient)
        items.append(
            QueueItem(
                patient_id=pid,
                name=display_name(patient),
                nhs_number=nhs_number(patient),
                practice=practice[0] if practice else None,
                source=source,
                focus=focus,
                tier=lookup.tier_of_assessment(assessment),
                probability=lookup.probability_of(assessment),
                factors=lookup.top_factors(assessment),
                emergency_admissions=sum(1 for d in admissions.get(pid, []) if d >= since),
                seen_before=pid in decisions,
                last_decision=decisions[pid].decision if pid in decisions else None,
                referral_source=refs.source_of(referral) if referral else None,
                referral_reason=refs.reason_of(referral) if referral else None,
                proposed=proposed or None,
            )
        )
    return sorted(items, key=lambda i: (-_severity(i.tier), -(i.probability or 0.0), i.patient_id))


def _severity(tier: str | None) -> int:
    return ORDER.index(tier) if tier in ORDER else -1


def display_name(patient: JSON) -> str:
    for name in patient.get("name", []):
        text = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip()
        if text:
            return str(text)
    return f"Patient/{patient.get('id', '')}"


def nhs_number(patient: JSON) -> str | None:
    return next((str(i["value"]) for i in patient.get("identifier", []) if i.get("system") == NHS_NUMBER_SYSTEM), None)


# -- enrolment -------------------------------------------------------------------------------------------


def enrol(
    repo: Repository,
    settings: CaseManagementSettings,
    patient_id: str,
    care_manager: str,
    team: str | None = None,
    tier: str | None = None,
    providers: Iterable[str] = (),
    at: datetime | None = None,
) -> tuple[JSON, JSON]:
    """Enrol someone whose latest triage decision is include: an active EpisodeOfCare with their case
    manager ("Practitioner/<id>"), team (a key or "Organization/cmt-<key>"; default their practice's) and
    tier (default their latest RiskAssessment's), and a CareTeam with the practice and `providers`.
    A referral the inclusion decided on is completed. 409 if they are already enrolled.
    Returns (EpisodeOfCare, CareTeam) as stored."""
    now = _now(at)
    patient = repo.read("Patient", patient_id)
    if deaths.is_deceased(patient):
        raise unprocessable(f"Patient/{patient_id} is recorded as deceased")
    past = lookup.episodes_of(repo, patient_id)
    current = next((e for e in past if e.get("status") == "active"), None)
    if current is not None:
        raise conflict(f"Patient/{patient_id} is already case managed (EpisodeOfCare/{current['id']})")
    decided = lookup.latest_triage(repo, patient_id)
    if decided is None or decided.decision != "include":
        said = "no triage decision" if decided is None else f"the latest triage decision is '{decided.decision}'"
        raise unprocessable(f"Patient/{patient_id} cannot be enrolled: {said}; $triage must include them first")
    team_ref = _team(repo, settings, patient, team)
    manager = _existing(repo, care_manager, "Practitioner", "care_manager")
    provider_refs = tuple(_reference(p, "provider") for p in providers)
    chosen_tier = tier or lookup.tier_of_assessment(lookup.latest_assessment(repo, patient_id))
    if chosen_tier not in codes.TIERS:
        raise unprocessable(
            f"tier must be one of {', '.join(codes.TIERS)} (the latest assessment says {chosen_tier or 'nothing'})",
            "tier",
        )
    focus = decided.focus if decided.focus and decided.focus.startswith("ServiceRequest/") else None
    n = len(past) + 1
    practice = practice_of(patient)
    episode = enrolments.episode(patient_id, n, team_ref, manager, chosen_tier, now, focus)
    team_resource = enrolments.care_team(
        patient_id,
        n,
        team_ref,
        manager,
        practice[1] if practice else None,
        provider_refs,
        now,
        out_of_hours=_out_of_hours(repo, settings, team_ref),
    )
    writes = [episode, team_resource]
    if focus is not None:
        writes.extend(_settled_referral(repo, focus, "include"))
    with repo.transaction() as tx:
        stored = tx.put_many(writes)
    return stored[0].resource, stored[1].resource


def _team(repo: Repository, settings: CaseManagementSettings, patient: JSON, given: str | None) -> str:
    if given is None:
        key = team_of_patient(settings, patient)
        if key is None:
            raise unprocessable(f"Patient/{patient['id']}'s practice is served by no team; give one", "team")
        given = key
    ref = given if given.startswith("Organization/") else team_reference(given)
    return _existing(repo, ref, "Organization", "team", hint=" (load the teams: closer casemgmt teams load)")


def _out_of_hours(repo: Repository, settings: CaseManagementSettings, team_ref: str) -> str | None:
    """The out-of-hours team of the case management team's locality, if settings name one."""
    team = next((t for t in settings.teams.values() if team_reference(t.key) == team_ref), None)
    if team is None or team.locality not in settings.out_of_hours:
        return None
    ref = f"Organization/{out_of_hours_id(team.locality)}"
    return _existing(repo, ref, "Organization", "team", hint=" (load the teams: closer casemgmt teams load)")


def _reference(ref: str, field: str) -> str:
    kind, _, ident = ref.partition("/")
    if not kind or not ident:
        raise unprocessable(f"{field} must be a reference 'Type/id', not '{ref}'", field)
    return ref


def _existing(repo: Repository, ref: str, kind: str, field: str, hint: str = "") -> str:
    """A reference to a resource of `kind` that the store holds."""
    found_kind, _, ident = _reference(ref, field).partition("/")
    if found_kind != kind:
        raise unprocessable(f"{field} must be a {kind}, not {ref}", field)
    try:
        repo.read(kind, ident)
    except FhirError:
        raise unprocessable(f"{field} {ref} is not on this server{hint}", field) from None
    return ref


def _settled_referral(repo: Repository, focus: str, decision: str) -> list[JSON]:
    kind, _, ident = focus.partition("/")
    found = lookup.read_current(repo, kind, [ident]).get(ident)
    if found is None or found.get("status") != "active":
        return []
    return [refs.settled(found, decision)]


def settle_referral(repo: Repository, task: JSON) -> JSON | None:
    """After $triage decided on a referral (its focus): include completes the ServiceRequest, exclude
    revokes it. The watcher calls this for each new triage Task; returns the referral if it changed."""
    read = decision_of(task)
    focus = str((task.get("focus") or {}).get("reference", ""))
    if read is None or read[1] not in TRIAGE_DECISIONS or not focus.startswith("ServiceRequest/"):
        return None
    writes = _settled_referral(repo, focus, read[1])
    if not writes:
        return None
    with repo.transaction() as tx:
        return tx.put_many(writes)[0].resource


# -- plans -----------------------------------------------------------------------------------------------


def agree_plan(
    repo: Repository,
    settings: CaseManagementSettings,
    patient_id: str,
    care_plan: PlanInput | None,
    emergency: PlanInput | None = None,
    end_of_life: PlanInput | None = None,
    at: datetime | None = None,
) -> list[JSON]:
    """Record the plans the MDT agreed for an enrolled person, superseding any earlier plan of the same
    kind. The care plan needs a next review date; a severe-tier person must have an emergency care plan.
    Returns the new CarePlans as stored."""
    now = _now(at)
    episode = _enrolled(repo, patient_id)
    given = {"care": care_plan, "emergency": emergency, "end-of-life": end_of_life}
    chosen = {kind: plan for kind, plan in given.items() if plan is not None}
    if not chosen:
        raise unprocessable("Give at least one plan (carePlan, emergency, endOfLife)", "care_plan")
    current = lookup.active_plans(repo, patient_id)
    if care_plan is None and "care" not in current:
        raise unprocessable("No care plan is agreed yet: the care plan comes first", "care_plan")
    if care_plan is not None and care_plan.next_review is None:
        raise unprocessable("The care plan needs a next review date", "care_plan")
    if enrolments.tier_of(episode) == "severe" and emergency is None and "emergency" not in current:
        raise unprocessable("A severe-tier person must have an emergency care plan", "emergency")
    revoked, new = _superseding(repo, episode, chosen, current, now)
    with repo.transaction() as tx:
        tx.put_many(revoked)
        stored = tx.put_many(new)
    return [w.resource for w in stored]


def _superseding(
    repo: Repository, episode: JSON, chosen: dict[str, PlanInput], current: dict[str, JSON], now: datetime
) -> tuple[list[JSON], list[JSON]]:
    """(the plans revoked, the new plans) when the MDT agrees `chosen` plans by kind: each new one is
    authored by the case manager, numbered after the person's last of its kind, and replaces the old."""
    patient_id = str(episode["patient"]["reference"]).partition("/")[2]
    counts = lookup.plan_counts(repo, patient_id)
    author = str(episode["careManager"]["reference"])
    team = next((t["reference"] for t in episode.get("team", [])), None)
    revoked, new = [], []
    for kind, plan in chosen.items():
        old = current.get(kind)
        replaces = f"CarePlan/{old['id']}" if old else None
        new.append(careplans.care_plan(patient_id, kind, counts.get(kind, 0) + 1, plan, author, team, now, replaces))
        if old is not None:
            revoked.append(careplans.ended(old, "revoked", today_in_england(now)))
    return revoked, new


def _enrolled(repo: Repository, patient_id: str) -> JSON:
    repo.read("Patient", patient_id)  # 404 for someone unknown
    episode = lookup.active_episode(repo, patient_id)
    if episode is None:
        raise unprocessable(f"Patient/{patient_id} is not case managed: enrol them first ($enrol)")
    return episode


# -- reviews ---------------------------------------------------------------------------------------------


def due_reviews(repo: Repository, settings: CaseManagementSettings, today: date) -> list[JSON]:
    """Make a review Task for every active care plan whose next review is within review_notice_days of
    `today` or past; returns every open review Task of a due plan (new and already open)."""
    due: dict[str, tuple[JSON, date]] = {}
    criteria = [("status", "active"), ("category", f"{codes.SNOMED}|{codes.CARE_PLAN}")]
    for plan in search_all(repo, "CarePlan", criteria, lookup.PAGE):
        when = careplans.next_review_of(plan)
        if when is not None and rv.is_due(when, today, settings.review_notice_days):
            due[rv.review_task_id(str(plan["id"]), when)] = (plan, when)
    if not due:
        return []
    with repo.transaction() as tx:  # ever existed, deleted too: a review Task is never made twice
        found = tx.read_many({("Task", tid) for tid in due})
    now = datetime.now(UTC)
    new = [
        rv.review_task(plan, str(plan["subject"]["reference"]), when, (plan.get("author") or {}).get("reference"), now)
        for tid, (plan, when) in due.items()
        if ("Task", tid) not in found
    ]
    existing = [task for task, gone in found.values() if not gone and rv.is_open(task)]
    if new:
        with repo.transaction() as tx:
            existing.extend(w.resource for w in tx.put_many(new))
    return sorted(existing, key=lambda t: str(t["id"]))


def review(
    repo: Repository,
    settings: CaseManagementSettings,
    patient_id: str,
    decision: str,
    reason: str,
    next_review: date | None = None,
    plan: str | None = None,
    setting: str | None = None,
    discharge_reason: str | None = None,
    at: datetime | None = None,
) -> JSON:
    """Record the MDT's review: continue | adjust (the care plan's new text in `plan`) | transfer (to
    `setting`) | discharge (`discharge_reason` improvement | choice | death). continue and adjust need the
    next review date; improvement must meet the settings' discharge criteria; death needs the Patient to be
    deceased. The open review Task is completed with the decision (one is made if none was open). Returns
    that Task as stored."""
    now = _now(at)
    today = today_in_england(now)
    rv.check_decision(decision, reason, next_review, plan, setting, discharge_reason, today)
    episode = _enrolled(repo, patient_id)
    current = lookup.active_plans(repo, patient_id)
    care = current.get("care")
    if decision in ("continue", "adjust") and care is None:
        raise unprocessable(f"Patient/{patient_id} has no care plan to {decision}: agree one first ($agree-plan)")
    task = _review_task(repo, patient_id, care or episode, today, now)
    writes: list[JSON] = []
    if decision == "continue" and care is not None and next_review is not None:
        writes.append(careplans.with_next_review(care, next_review))
    elif decision == "adjust" and care is not None and plan is not None:
        adjusted = PlanInput(plan, next_review, careplans.baseline_of(care))
        revoked, new = _superseding(repo, episode, {"care": adjusted}, current, now)
        writes.extend([*revoked, *new])
    elif decision == "transfer":
        writes.extend(_ending(repo, episode, "transfer", f"Transferred to {setting}: {reason}", now, current))
    else:
        writes.extend(_discharge(repo, settings, episode, str(discharge_reason), reason, now, current))
    done = rv.completed(task, decision, reason, next_review, now)
    with repo.transaction() as tx:
        tx.put_many([w for w in writes if not (w["resourceType"] == "Task" and w["id"] == done["id"])])
        return tx.put_many([done])[0].resource


def _review_task(repo: Repository, patient_id: str, focus: JSON, today: date, now: datetime) -> JSON:
    """The person's open review Task (the earliest due), or a new one for a review held before any fell due."""
    open_ = sorted(lookup.open_review_tasks(repo, [patient_id]), key=lambda t: str(rv.due_date_of(t) or ""))
    if open_:
        return open_[0]
    owner = (focus.get("author") or focus.get("careManager") or {}).get("reference")
    return rv.review_task(focus, f"Patient/{patient_id}", today, owner, now)


def _discharge(
    repo: Repository,
    settings: CaseManagementSettings,
    episode: JSON,
    discharge_reason: str,
    reason: str,
    now: datetime,
    current: dict[str, JSON],
) -> list[JSON]:
    patient_id = str(episode["patient"]["reference"]).partition("/")[2]
    patient = repo.read("Patient", patient_id)
    today = today_in_england(now)
    if discharge_reason == "death":
        if not deaths.is_deceased(patient):
            raise unprocessable(f"Patient/{patient_id} is not recorded as deceased", "discharge_reason")
        return _death_writes(repo, episode, patient, reason, now, today)
    if discharge_reason == "improvement":
        tier = lookup.tier_of_assessment(lookup.latest_assessment(repo, patient_id))
        stays = lookup.emergency_admissions(repo, settings.stratify.practices, [patient_id]).get(patient_id, [])
        failures = rv.improvement_failures(settings.improvement, tier, max(stays, default=None), today)
        if failures:
            raise unprocessable("Discharge criteria not met: " + "; ".join(failures), "discharge_reason")
    text = f"{codes.OUTCOME_DISPLAY[discharge_reason]}. {reason}"
    return [
        *_ending(repo, episode, discharge_reason, text, now, current),
        *_letter(episode, patient, text, now),
    ]


def _ending(
    repo: Repository, episode: JSON, outcome: str, text: str, now: datetime, current: dict[str, JSON]
) -> list[JSON]:
    """An episode ending (transfer or discharge): it finishes, its CareTeam goes inactive, the case
    management care plan is completed and the person's open Tasks are cancelled. Emergency and end-of-life
    plans stay in force: they are the person's, not the programme's (death stops them too)."""
    patient_id = str(episode["patient"]["reference"]).partition("/")[2]
    writes = [enrolments.finished(episode, now, outcome, text)]
    teams = lookup.read_current(repo, "CareTeam", [str(t["reference"]).partition("/")[2] for t in episode["team"]])
    for team in teams.values():
        if team.get("status") == "active":
            writes.append(enrolments.inactive_team(team, now))
    if "care" in current:
        writes.append(careplans.ended(current["care"], "completed", today_in_england(now)))
    reason = f"Case management ended: {codes.OUTCOME_DISPLAY[outcome].lower()}"
    writes.extend(rv.cancelled(task, reason, now) for task in lookup.open_tasks(repo, patient_id))
    return writes


def _letter(episode: JSON, patient: JSON, text: str, now: datetime) -> list[JSON]:
    practice = practice_of(patient)
    if practice is None:
        return []
    sender = (episode.get("managingOrganization") or {}).get("reference")
    return [rv.discharge_letter(f"discharge-{episode['id']}", episode, practice[1], sender, text, now)]


# -- death -----------------------------------------------------------------------------------------------


def discharge_on_death(
    repo: Repository, settings: CaseManagementSettings, patient_id: str, at: datetime | None = None
) -> JSON | None:
    """A deceased person with an active episode: discharge with reason death (the GP is told), cancel their
    open Tasks, and stop their alerts being shared (active Flags inactive from the date of death, active
    CarePlans completed). Returns the finished EpisodeOfCare, or None when there was no active episode."""
    now = _now(at)
    patient = repo.read("Patient", patient_id)
    if not deaths.is_deceased(patient):
        raise unprocessable(f"Patient/{patient_id} is not recorded as deceased")
    episode = lookup.active_episode(repo, patient_id)
    if episode is None:
        return None
    writes = _death_writes(repo, episode, patient, "Death recorded", now, today_in_england(now))
    with repo.transaction() as tx:
        stored = tx.put_many(writes)
    return stored[0].resource


def _death_writes(
    repo: Repository, episode: JSON, patient: JSON, reason: str, now: datetime, today: date
) -> list[JSON]:
    patient_id = str(patient["id"])
    died = deaths.death_date(patient, today)
    current = lookup.active_plans(repo, patient_id)
    text = f"{codes.OUTCOME_DISPLAY['death']} on {died.isoformat()}. {reason}"
    writes = [*_ending(repo, episode, "death", text, now, {}), *_letter(episode, patient, text, now)]
    alerts = [
        *search_all(repo, "Flag", [("patient", f"Patient/{patient_id}")], lookup.PAGE),
        *current.values(),
    ]
    writes.extend(s for s in (deaths.stopped(a, died) for a in alerts) if s is not None)
    return writes


# -- caseload --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseloadItem:
    """One person on a case manager's caseload."""

    patient_id: str
    name: str
    nhs_number: str | None
    episode_id: str
    team: str | None
    tier: str | None
    since: str  # enrolment
    next_review: date | None  # from the care plan
    review: str  # overdue | due | scheduled | no-plan
    review_task: str | None  # the open review Task's id
    emergency_admissions: int  # since enrolment
    recent_emergency_admissions: int  # in the last 90 days
    practice: str | None = None  # ODS code of the registered practice


RECENT_DAYS = 90


def caseload(
    repo: Repository,
    practitioner_ref: str,
    settings: CaseManagementSettings | None = None,
    today: date | None = None,
) -> list[CaseloadItem]:
    """The active episodes a case manager ("Practitioner/<id>") holds, overdue reviews first."""
    settings = settings or current_settings()
    day = today or today_in_england(datetime.now(UTC))
    episodes = lookup.active_episodes(repo, practitioner_ref)
    ids = [str(e["patient"]["reference"]).partition("/")[2] for e in episodes]
    people = lookup.read_current(repo, "Patient", ids)
    tasks = {
        str(t["for"]["reference"]).partition("/")[2]: t
        for t in sorted(lookup.open_review_tasks(repo, ids), key=lambda t: str(rv.due_date_of(t) or ""), reverse=True)
    }
    admissions = lookup.emergency_admissions(repo, settings.stratify.practices, ids)
    plans = lookup.active_plans_of(repo, ids)
    items = []
    for episode, pid in zip(episodes, ids, strict=True):
        patient = people.get(pid, {})
        care = plans.get(pid, {}).get("care")
        practice = practice_of(patient) if patient else None
        next_review = careplans.next_review_of(care) if care else None
        task = tasks.get(pid)
        state = rv.review_state(task, day) if task else ("scheduled" if care else "no-plan")
        start = date.fromisoformat(str(episode["period"]["start"])[:10])
        stays = admissions.get(pid, [])
        items.append(
            CaseloadItem(
                patient_id=pid,
                name=display_name(patient) if patient else f"Patient/{pid}",
                nhs_number=nhs_number(patient) if patient else None,
                episode_id=str(episode["id"]),
                team=(episode.get("managingOrganization") or {}).get("reference"),
                tier=enrolments.tier_of(episode),
                since=str(episode["period"]["start"]),
                next_review=next_review,
                review=state,
                review_task=str(task["id"]) if task else None,
                emergency_admissions=sum(1 for d in stays if d >= start),
                recent_emergency_admissions=sum(1 for d in stays if (day - d).days <= RECENT_DAYS),
                practice=practice[0] if practice else None,
            )
        )
    order = {"overdue": 0, "due": 1, "no-plan": 2, "scheduled": 3}
    return sorted(items, key=lambda i: (order[i.review], i.next_review or date.max, i.patient_id))


# -- programme figures -----------------------------------------------------------------------------------


def programme_figures(
    repo: Repository, settings: CaseManagementSettings, today: date | None = None
) -> ProgrammeFigures:
    """Numbers per locality and tier against the plan, enrolments by source, and emergency admissions since
    enrolment against the same period a year earlier (see casemgmt.figures)."""
    day = today or today_in_england(datetime.now(UTC))
    teams = {team_id(t.key): t.locality for t in settings.teams.values()}
    enrolled = []
    for episode in lookup.all_episodes(repo):
        if episode.get("status") in ("entered-in-error", "cancelled"):
            continue
        org = str((episode.get("managingOrganization") or {}).get("reference", "")).partition("/")[2]
        period = episode.get("period") or {}
        end = period.get("end")
        enrolled.append(
            Enrolment(
                patient_id=str(episode["patient"]["reference"]).partition("/")[2],
                locality=teams.get(org, "Unknown"),
                tier=enrolments.tier_of(episode) or "unknown",
                source="referral" if episode.get("referralRequest") else "stratification",
                start=date.fromisoformat(str(period["start"])[:10]),
                end=date.fromisoformat(str(end)[:10]) if end else None,
            )
        )
    admissions = lookup.emergency_admissions(repo, settings.stratify.practices, {e.patient_id for e in enrolled})
    return compute(enrolled, admissions, settings.planned, day)


__all__ = [
    "CaseloadItem",
    "PlanInput",
    "QueueItem",
    "agree_plan",
    "caseload",
    "current_settings",
    "discharge_on_death",
    "due_reviews",
    "enrol",
    "load_teams",
    "programme_figures",
    "refer",
    "review",
    "settle_referral",
    "triage_queue",
]
