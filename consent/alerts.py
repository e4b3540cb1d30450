"""`Patient/$alerts`: what an ambulance crew or an A&E clinician needs to know about a patient, in one call.

One searchset Bundle holds the patient's active Flags (DNAR first), active AllergyIntolerances, the current
emergency care plan and end-of-life plan, the active EpisodeOfCare and CareTeams, and, as `include`
entries, the case manager and the teams to contact. The caller's repository is the consent-guarded one, so
every entry has passed the consent engine for that consumer and purpose. A patient without consent, and a
patient who does not exist, both give the same empty Bundle: nothing leaks.

`gather` does the searches (IO); the choosing and ordering are pure functions below it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from closer.fhir import bundle
from consent.alertcodes import codings, is_dnar_flag, plan_kind
from consent.guard import GuardedRepository
from consent.model import read_period
from fhir_profiles.canonical import NHS_NUMBER_SYSTEM

Resource = dict[str, Any]

# The types an alert Bundle is made of, and where each names the people and teams to contact.
ALERT_TYPES = ("Flag", "AllergyIntolerance", "CarePlan", "EpisodeOfCare", "CareTeam")


def gather(
    repo: GuardedRepository, nhs_number: str, readable: Callable[[str], bool]
) -> tuple[list[Resource], list[Resource]]:
    """The alerts of the patients with this NHS number (more than one after a merge), chosen and ordered by
    `choose` and then judged by `repo`, and the contacts
    their visible episodes and care teams name, judged too; types the caller's scopes do not cover
    (`readable(type)` False) are left out. Only what is returned counts as disclosed."""
    types = [t for t in ALERT_TYPES if readable(t)]
    identifier = (NHS_NUMBER_SYSTEM, nhs_number)
    chosen = repo.compartment(identifier, types, pick=lambda found: choose(found, repo.request.moment))  # one clock
    wanted = {key for resource in chosen for key in contact_keys(resource) if readable(key[0])}
    return chosen, repo.fetch(wanted)


def contact_keys(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Who an active episode or care team names to contact: the care manager, the managing organisation
    and the team's members, as (type, id)."""
    if not _active(resource):
        return []
    refs: list[Any] = []
    if resource.get("resourceType") == "EpisodeOfCare":
        refs = [resource.get("careManager"), resource.get("managingOrganization")]
    elif resource.get("resourceType") == "CareTeam":
        refs = [p.get("member") for p in resource.get("participant") or [] if isinstance(p, Mapping)]
        refs.append((resource.get("managingOrganization") or [None])[0])
    keys = []
    for ref in refs:
        text = ref.get("reference") if isinstance(ref, Mapping) else None
        kind, _, ident = str(text or "").partition("/")
        if kind and ident and "/" not in ident:
            keys.append((kind, ident))
    return keys


# -- pure: choose and order ----------------------------------------------------------------------------


def choose(matches: list[Resource], now: datetime) -> list[Resource]:
    """The alerts in the order a crew reads them: DNAR flags, other active flags, active allergies, the
    current emergency and end-of-life plans (the latest of each), then the episode and teams."""
    flags = [r for r in matches if r.get("resourceType") == "Flag" and flag_is_active(r, now)]
    allergies = [r for r in matches if r.get("resourceType") == "AllergyIntolerance" and allergy_is_active(r)]
    plans = current_plans(r for r in matches if r.get("resourceType") == "CarePlan")
    episodes = [r for r in matches if r.get("resourceType") == "EpisodeOfCare" and _active(r)]
    teams = [r for r in matches if r.get("resourceType") == "CareTeam" and _active(r)]
    flags.sort(key=lambda r: (not is_dnar_flag(r), _last_updated(r)))
    return [*flags, *allergies, *plans, *episodes, *teams]


def flag_is_active(flag: Mapping[str, Any], now: datetime) -> bool:
    """Status active and, if it has a period, in force now (a period we cannot read is not in force)."""
    if flag.get("status") != "active":
        return False
    try:
        period = read_period(flag.get("period"))
    except ValueError:
        return False
    return period is None or period.covers(now)


def allergy_is_active(allergy: Mapping[str, Any]) -> bool:
    """Clinically active (or no status given) and neither refuted nor entered in error."""
    clinical = {code for _, code in codings(allergy, "clinicalStatus")}
    verification = {code for _, code in codings(allergy, "verificationStatus")}
    if verification & {"refuted", "entered-in-error"}:
        return False
    return not clinical or "active" in clinical


def current_plans(plans: Iterable[Mapping[str, Any]]) -> list[Resource]:
    """The newest active plan of each shared kind: emergency care plan first, then end of life."""
    newest: dict[str, Resource] = {}
    for plan in plans:
        kind = plan_kind(plan)
        if kind is None or plan.get("status") != "active":
            continue
        if kind not in newest or _plan_date(plan) > _plan_date(newest[kind]):
            newest[kind] = dict(plan)
    return [newest[kind] for kind in ("emergency", "end-of-life") if kind in newest]


def alerts_bundle(base: str, chosen: list[Resource], included: list[Resource]) -> Resource:
    """The searchset: `total` counts the alerts, includes are the people and teams to contact."""
    seen = {(r.get("resourceType"), r.get("id")) for r in chosen}
    contacts = list({(r.get("resourceType"), r.get("id")): r for r in included}.values())
    contacts = [r for r in contacts if (r.get("resourceType"), r.get("id")) not in seen]
    return bundle.searchset(base, chosen, contacts, len(chosen), {"self": f"{base}/Patient/$alerts"})


def _active(resource: Mapping[str, Any]) -> bool:
    return resource.get("status") == "active"


def _plan_date(plan: Mapping[str, Any]) -> str:
    period = plan.get("period") or {}
    return str(period.get("start") or plan.get("created") or _last_updated(plan))


def _last_updated(resource: Mapping[str, Any]) -> str:
    return str((resource.get("meta") or {}).get("lastUpdated") or "")
