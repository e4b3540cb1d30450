"""The patient page's view model (pure): the person's resources turned into what the page prints, i.e.
why they were proposed (their latest RiskAssessment), their plans, alerts, consent, episodes, triage
decisions and the audit trail of what was sent to whom."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from casemgmt.enrolment import outcome_of, tier_of
from casemgmt.lookup import probability_of, tier_of_assessment, top_factors
from casemgmt.plans import baseline_of, kind_of, next_review_of
from closer.audit.event import action_of
from consent.alertcodes import is_dnar_flag
from consent.model import Consent, Malformed, ParsedConsent, Provision
from stratify import codes as strat
from stratify.triage import decision_of

JSON = dict[str, Any]
PLAN_TITLES = {"care": "Care plan", "emergency": "Emergency care plan", "end-of-life": "End of life plan"}


@dataclass(frozen=True)
class Risk:
    tier: str
    probability: float | None
    period: str
    status: str  # preliminary until a GP signs the quarter off, then final
    method: str
    explanation: str
    factors: tuple[str, ...]
    basis: tuple[str, ...]  # what the factors came from: "Encounter ..." lines


@dataclass(frozen=True)
class Plan:
    kind: str
    title: str
    description: str
    status: str
    start: str
    next_review: date | None
    baseline: str | None
    author: str


@dataclass(frozen=True)
class Alert:
    kind: str  # "DNACPR", "Flag" or "Allergy"
    text: str
    since: str


@dataclass(frozen=True)
class ConsentRule:
    effect: str  # "Permits" or "Denies"
    who: str
    purposes: str
    what: str
    when: str


@dataclass(frozen=True)
class ConsentSummary:
    reference: str
    status: str
    readable: bool
    problem: str = ""
    rules: tuple[ConsentRule, ...] = ()


@dataclass(frozen=True)
class Episode:
    id: str
    status: str
    tier: str | None
    start: str
    end: str
    care_manager: str
    outcome: str | None


@dataclass(frozen=True)
class Decision:
    when: str
    decision: str
    reason: str
    by: str
    next_review: date | None


@dataclass(frozen=True)
class Disclosure:
    when: str
    recipient: str
    organisation: str
    action: str
    what: tuple[str, ...]
    outcome: str


@dataclass(frozen=True)
class PatientPage:
    risk: Risk | None
    plans: list[Plan]
    alerts: list[Alert]
    consents: list[ConsentSummary]
    episodes: list[Episode]
    decisions: list[Decision]
    disclosures: list[Disclosure]
    active_episode: Episode | None = field(default=None)


def risk_of(assessment: JSON | None, basis: dict[str, JSON]) -> Risk | None:
    """The latest RiskAssessment, explained; `basis` resolves its basis references."""
    if assessment is None:
        return None
    note = " ".join(n.get("text", "") for n in assessment.get("note", []))
    extensions = assessment.get("extension", [])
    period = next((e.get("valueString", "") for e in extensions if e.get("url") == strat.RUN_EXTENSION), "")
    return Risk(
        tier=tier_of_assessment(assessment) or "",
        probability=probability_of(assessment),
        period=str(period),
        status=str(assessment.get("status", "")),
        method=str((assessment.get("method") or {}).get("text", "")),
        explanation=note,
        factors=top_factors(assessment),
        basis=tuple(_describe(ref.get("reference", ""), basis) for ref in assessment.get("basis", [])),
    )


def _describe(reference: str, resolved: dict[str, JSON]) -> str:
    """'Encounter 2026-03-01: Emergency admission' for a basis reference (its reference if unknown)."""
    resource = resolved.get(reference)
    if resource is None:
        return reference
    kind = resource.get("resourceType", "")
    period = resource.get("period") or {}
    when = str(period.get("start") or resource.get("onsetDateTime") or resource.get("recordedDate") or "")[:10]
    concepts = resource.get("type") or [resource.get("code") or {}]
    label = next((_text(c) for c in concepts if _text(c)), "")
    return f"{kind} {when}: {label}".strip(": ")


def _text(concept: JSON) -> str:
    display = next((c.get("display") for c in concept.get("coding", []) if c.get("display")), "")
    return str(concept.get("text") or display)


def plans_of(care_plans: Iterable[JSON], names: dict[str, str]) -> list[Plan]:
    """The active care, emergency and end-of-life plans, in that order."""
    found = []
    for plan in care_plans:
        kind = kind_of(plan)
        if kind is None or plan.get("status") != "active":
            continue
        author = str((plan.get("author") or {}).get("reference", ""))
        found.append(
            Plan(
                kind=kind,
                title=PLAN_TITLES[kind],
                description=str(plan.get("description", "")),
                status=str(plan.get("status", "")),
                start=str((plan.get("period") or {}).get("start", "")),
                next_review=next_review_of(plan),
                baseline=baseline_of(plan),
                author=names.get(author, author),
            )
        )
    order = list(PLAN_TITLES)
    return sorted(found, key=lambda p: order.index(p.kind))


def alerts_of(flags: Iterable[JSON], allergies: Iterable[JSON]) -> list[Alert]:
    """Active flags (DNACPR first; not stratification's candidate flag) and allergies that are not refuted,
    resolved or entered in error."""
    found = []
    for flag in flags:
        if flag.get("status") != "active" or _is_candidate_flag(flag):
            continue
        kind = "DNACPR" if is_dnar_flag(flag) else "Flag"
        found.append(Alert(kind, _text(flag.get("code") or {}), str((flag.get("period") or {}).get("start", ""))))
    for allergy in allergies:
        verification = _code(allergy.get("verificationStatus"))
        if verification in ("refuted", "entered-in-error") or _code(allergy.get("clinicalStatus")) == "resolved":
            continue
        reactions = "; ".join(_text(m) for r in allergy.get("reaction", []) for m in r.get("manifestation", []))
        text = _text(allergy.get("code") or {}) + (f" ({reactions})" if reactions else "")
        found.append(Alert("Allergy", text, str(allergy.get("recordedDate", ""))[:10]))
    return sorted(found, key=lambda a: (a.kind != "DNACPR", a.kind, a.text))


def _is_candidate_flag(flag: JSON) -> bool:
    """Stratification's "candidate for case management" flag: the triage worklist's business, not an alert."""
    codings = (flag.get("code") or {}).get("coding", [])
    return any(c.get("system") == strat.FLAG_SYSTEM and c.get("code") == strat.CANDIDATE for c in codings)


def _code(concept: object) -> str:
    if not isinstance(concept, dict):
        return ""
    return str(next((c.get("code") for c in concept.get("coding", []) if c.get("code")), ""))


def consent_summaries(consents: Iterable[ParsedConsent]) -> list[ConsentSummary]:
    """Each Consent in words: what each rule permits or denies, to whom, for what purpose, when."""
    found = []
    for consent in consents:
        if isinstance(consent, Malformed):
            found.append(ConsentSummary(consent.reference, consent.status or "?", False, consent.reason))
            continue
        assert isinstance(consent, Consent)
        rules: list[ConsentRule] = []
        if consent.opt_out and consent.root is None:
            rules.append(ConsentRule("Denies", "everyone", "any purpose", "everything", "always"))
        if consent.root is not None:
            rules.extend(_rule(p) for p in consent.root.walk())
        found.append(ConsentSummary(consent.reference, consent.status, True, rules=tuple(rules)))
    return found


def _rule(provision: Provision) -> ConsentRule:
    what = ", ".join(c.code for c in provision.classes) or "everything"
    if provision.codes:
        what += "; codes " + ", ".join(c.code for alternatives in provision.codes for c in alternatives)
    if provision.data:
        what += "; " + ", ".join(str(d) for d in provision.data)
    return ConsentRule(
        effect="Permits" if provision.type == "permit" else "Denies",
        who=", ".join(str(a) for a in provision.actors) or "everyone",
        purposes=", ".join(p.code for p in provision.purposes) or "any purpose",
        what=what,
        when=str(provision.period) if provision.period else "always",
    )


def episode_rows(episodes: Iterable[JSON], names: dict[str, str]) -> list[Episode]:
    """Every episode, newest first."""
    found = []
    for episode in episodes:
        period = episode.get("period") or {}
        manager = str((episode.get("careManager") or {}).get("reference", ""))
        found.append(
            Episode(
                id=str(episode.get("id", "")),
                status=str(episode.get("status", "")),
                tier=tier_of(episode),
                start=str(period.get("start", ""))[:10],
                end=str(period.get("end", ""))[:10],
                care_manager=names.get(manager, manager),
                outcome=outcome_of(episode),
            )
        )
    return sorted(found, key=lambda e: e.start, reverse=True)


def decisions_of(tasks: Iterable[JSON]) -> list[Decision]:
    """The triage decisions, newest first."""
    found = []
    for task in tasks:
        read = decision_of(task)
        if read is None:
            continue
        _, decision, review = read
        found.append(
            Decision(
                when=str(task.get("authoredOn", ""))[:16].replace("T", " "),
                decision=decision,
                reason=str((task.get("reasonCode") or {}).get("text", "")),
                by=str((task.get("requester") or {}).get("display", "")),
                next_review=review,
            )
        )
    return sorted(found, key=lambda d: d.when, reverse=True)


def disclosures_of(events: Iterable[JSON]) -> list[Disclosure]:
    """The audit trail: who received (or was refused) what about the patient, newest first as logged."""
    found = []
    for event in events:
        agent = (event.get("agent") or [{}])[0]
        who = agent.get("who") or {}
        what = tuple(
            str((entity.get("what") or {}).get("reference", ""))
            for entity in event.get("entity", [])
            if (entity.get("role") or {}).get("code") == "4"
        )
        found.append(
            Disclosure(
                when=str(event.get("recorded", ""))[:19].replace("T", " "),
                recipient=str(agent.get("name") or who.get("display", "")),
                organisation=str((who.get("identifier") or {}).get("value", "")),
                action=action_of(event),
                what=what,
                outcome=str(event.get("outcomeDesc", "")),
            )
        )
    return found
