"""The consent decision engine: a HAPI-style chain of consent services, free of Flask, SQL and IO.

Each `ConsentService` answers `can_see(request, resource)` with a `Verdict`: AUTHORIZED, PROCEED (no
opinion) or REJECT, always with the reason in words and, where a Consent decided, which Consent and which
provision. `ConsentEngine` asks its services in order; the first AUTHORIZED or REJECT wins, and when all
of them PROCEED the default applies, which is REJECT ("no consent permits this"): sharing is off unless
a Consent turns it on. A service that raises is read as REJECT, so a bug denies rather than leaks.

`PatientConsentService` is the service that reads the patient's own Consents (see consent/CONSENT.md for
the rules, with examples). It gets them through a callable, so the repository that later enforces it
decides how they are fetched and cached, and this module stays pure.

Matching is three-valued. A criterion matches, does not match, or cannot be decided from what we hold (a
Group named as actor, an unknown class system, a dataPeriod). When we cannot tell, a permit does not
apply and a deny does: doubt never widens what a consumer sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum, IntEnum
from typing import Any, Protocol

from consent.model import (
    ACCESS,
    PARTICIPATION_TYPE_SYSTEM,
    PROFILE_SYSTEM,
    RESOURCE_TYPES_SYSTEM,
    Actor,
    Code,
    Consent,
    Malformed,
    ParsedConsent,
    Provision,
    ResourceView,
    literal_reference,
    parse_consent,
    purpose_lineage,
)

Resource = Mapping[str, Any]

# Actor references to these name a person or a device, never the organization a consumer system acts for.
_PERSON_TYPES = frozenset({"Patient", "Practitioner", "PractitionerRole", "RelatedPerson", "Device"})

_STATUS_WORDS = {
    "draft": "is a draft, not yet agreed",
    "proposed": "is only proposed, not yet agreed",
    "rejected": "was rejected by the patient",
    "inactive": "is inactive (withdrawn or no longer in force)",
    "entered-in-error": "was entered in error",
}


class Decision(Enum):
    """HAPI's three consent outcomes."""

    AUTHORIZED = "AUTHORIZED"
    PROCEED = "PROCEED"
    REJECT = "REJECT"


@dataclass(frozen=True)
class Consumer:
    """The system asking: the organization it acts for (literal reference and/or ODS code) and the role
    codes it was registered with (say a SNOMED CT occupation, or a v3-RoleCode)."""

    organization: str | None = None
    ods_code: str | None = None
    roles: frozenset[Code] = frozenset()
    name: str | None = None

    def __post_init__(self) -> None:
        if self.organization is not None:
            ref = literal_reference(self.organization)
            if ref is None:
                raise ValueError(f"consumer organization '{self.organization}' is not a literal reference")
            object.__setattr__(self, "organization", ref)
        if self.ods_code is not None:
            object.__setattr__(self, "ods_code", self.ods_code.strip().upper() or None)
        object.__setattr__(self, "roles", frozenset(self.roles))

    def __str__(self) -> str:
        named = [part for part in (self.organization, f"ODS {self.ods_code}" if self.ods_code else None) if part]
        label = ", ".join(named) or "a consumer with roles " + ", ".join(sorted(r.short for r in self.roles))
        return f"{self.name} ({label})" if self.name else label


@dataclass(frozen=True)
class ConsentRequest:
    """Who asks (`consumer`), why (`purpose`, a v3-ActReason code), to do what (`action`, a consentaction
    code: `access` for a read, `disclose` for a push) and when (`moment`, an aware datetime). `patient`
    ("Patient/<id>" or the bare id) is whose record the consumer asked about; None means "whoever the
    resource belongs to", for a repository filtering resources of many patients."""

    consumer: Consumer
    purpose: Code | None
    moment: datetime
    action: Code = ACCESS
    patient: str | None = None

    def __post_init__(self) -> None:
        if self.moment.tzinfo is None or self.moment.utcoffset() is None:
            raise ValueError("ConsentRequest.moment must carry a time zone offset")
        if self.patient is not None:
            ref = self.patient if "/" in self.patient else f"Patient/{self.patient}"
            if literal_reference(ref) is None or not ref.startswith("Patient/"):
                raise ValueError(f"'{self.patient}' is not a Patient id or reference")
            object.__setattr__(self, "patient", literal_reference(ref))


@dataclass(frozen=True)
class Verdict:
    """A service's answer, with the evidence: which Consent and provision decided (if one did), why in
    words, which service answered, and `trace`: what else was considered and why it did not decide."""

    decision: Decision
    reason: str
    consent: str | None = None
    provision: str | None = None
    service: str = ""
    trace: tuple[str, ...] = field(default=())

    @property
    def permitted(self) -> bool:
        return self.decision is Decision.AUTHORIZED


class ConsentService(Protocol):
    """One link of the chain. Return PROCEED to leave the decision to the next service."""

    def can_see(self, request: ConsentRequest, resource: Resource) -> Verdict: ...


def _service_name(service: object) -> str:
    name = getattr(service, "name", None)
    return name if isinstance(name, str) and name else type(service).__name__


class ConsentEngine:
    """Asks each service in order; the first AUTHORIZED or REJECT wins, else `default` (REJECT unless set)."""

    name = "consent-engine"

    def __init__(self, services: Iterable[ConsentService], default: Decision = Decision.REJECT) -> None:
        if default is Decision.PROCEED:
            raise ValueError("the default must be a decision: AUTHORIZED or REJECT")
        self.services: tuple[ConsentService, ...] = tuple(services)
        self.default = default

    def can_see(self, request: ConsentRequest, resource: Resource) -> Verdict:
        trace: list[str] = []
        for service in self.services:
            name = _service_name(service)
            try:
                verdict = service.can_see(request, resource)
            except Exception as exc:  # fail closed: a broken service must not leak
                return Verdict(
                    Decision.REJECT,
                    f"consent service {name} failed ({type(exc).__name__}: {exc}), so access is refused",
                    service=name,
                    trace=tuple(trace),
                )
            if not verdict.service:
                verdict = replace(verdict, service=name)
            if verdict.decision is Decision.PROCEED:
                trace.append(f"{verdict.service}: {verdict.reason}")
                trace.extend(verdict.trace)
                continue
            return replace(verdict, trace=(*trace, *verdict.trace))
        if self.default is Decision.REJECT:
            return Verdict(Decision.REJECT, "no consent permits this", service="default", trace=tuple(trace))
        return Verdict(
            Decision.AUTHORIZED,
            "no consent service objected, and the default allows",
            service="default",
            trace=tuple(trace),
        )

    def visible(self, request: ConsentRequest, resources: Iterable[Resource]) -> list[Resource]:
        """The resources the request may see, in order (for callers that need no per-item evidence)."""
        return [resource for resource in resources if self.can_see(request, resource).permitted]


# --- three-valued matching ----------------------------------------------------------------------------


class Match(IntEnum):
    """Whether a criterion covers the request. Ordered so that min() combines criteria (all must hold)."""

    NO = 0
    UNSURE = 1
    YES = 2


@dataclass(frozen=True)
class _Test:
    match: Match
    words: str


@dataclass
class _Context:
    request: ConsentRequest
    view: ResourceView
    related: Callable[[str], Iterable[str] | None] | None


def _best(tests: Sequence[_Test], no_words: str) -> _Test:
    """Alternatives (one of several actors, classes...): the best match wins."""
    for wanted in (Match.YES, Match.UNSURE):
        for test in tests:
            if test.match is wanted:
                return test
    return _Test(Match.NO, no_words)


def _period_test(p: Provision, ctx: _Context) -> _Test | None:
    if p.period is None:
        return None
    if p.period.covers(ctx.request.moment):
        return _Test(Match.YES, f"it is in force ({p.period})")
    return _Test(Match.NO, f"its period does not include the moment: {p.period.why_not(ctx.request.moment)}")


def _names_consumer(actor: Actor, consumer: Consumer) -> _Test:
    tests: list[_Test] = []
    if actor.ods is not None:
        if consumer.ods_code is None:
            tests.append(_Test(Match.UNSURE, f"the consumer, whose ODS code is not known, is ODS {actor.ods}"))
        elif consumer.ods_code == actor.ods:
            tests.append(_Test(Match.YES, f"the consumer is its actor ODS {actor.ods}"))
    if actor.reference is not None:
        kind = actor.reference.split("/")[-2]
        local = "://" not in actor.reference
        if kind == "Organization" and consumer.organization == actor.reference:
            tests.append(_Test(Match.YES, f"the consumer is its actor {actor.reference}"))
        elif kind == "Organization" and local and consumer.organization is not None:
            pass  # another of our organizations: a definite no
        elif kind in _PERSON_TYPES:
            pass  # a person or device is never a consumer system's organization
        else:
            tests.append(_Test(Match.UNSURE, f"the consumer is, or belongs to, {actor.reference}"))
    if actor.identifier is not None:
        tests.append(_Test(Match.UNSURE, f"the consumer is the organization with identifier {actor.identifier}"))
    return _best(tests, f"the consumer is not {actor}")


def _role_test(actor: Actor, consumer: Consumer) -> _Test:
    roles = [role for role in actor.roles if role.system != PARTICIPATION_TYPE_SYSTEM]
    if not roles:
        # v3-ParticipationType codes (IRCP and friends) say how a named actor takes part, not who it is.
        if actor.names_someone:
            return _Test(Match.YES, "")
        return _Test(Match.NO, "its actor names nobody and its role only says how an actor takes part")
    for role in roles:
        if role in consumer.roles:
            return _Test(Match.YES, f"the consumer holds role {role.short}")
    return _Test(Match.NO, f"the consumer does not hold role {' or '.join(r.short for r in roles)}")


def _actor_test(p: Provision, ctx: _Context) -> _Test | None:
    if not p.actors:
        return None
    consumer = ctx.request.consumer
    tests = []
    for actor in p.actors:
        named = _names_consumer(actor, consumer) if actor.names_someone else _Test(Match.YES, "")
        role = _role_test(actor, consumer)
        worst = min((named, role), key=lambda t: t.match)
        if worst.match is Match.NO:
            tests.append(worst)
        else:
            tests.append(_Test(worst.match, "; ".join(w for w in (named.words, role.words) if w)))
    misses = "; ".join(t.words for t in tests if t.match is Match.NO)
    return _best(tests, f"{consumer} is not among its actors ({misses})")


def _action_test(p: Provision, ctx: _Context) -> _Test | None:
    if not p.actions:
        return None
    action = ctx.request.action
    if any(action in codes for codes in p.actions):
        return _Test(Match.YES, f"action {action.short} is listed")
    listed = ", ".join(code.short for codes in p.actions for code in codes)
    return _Test(Match.NO, f"the request is to {action.short}, and it covers only {listed}")


def _purpose_test(p: Provision, ctx: _Context) -> _Test | None:
    if not p.purposes:
        return None
    purpose = ctx.request.purpose
    listed = ", ".join(code.short for code in p.purposes)
    if purpose is None:
        return _Test(Match.UNSURE, f"the request, which states no purpose, is for {listed}")
    for broader in purpose_lineage(purpose):
        if broader in p.purposes:
            if broader == purpose:
                return _Test(Match.YES, f"purpose {purpose.short} is listed")
            return _Test(Match.YES, f"purpose {purpose.short} is a kind of {broader.short}, which is listed")
    return _Test(Match.NO, f"purpose {purpose.short} is not among {listed}")


def _class_test(p: Provision, ctx: _Context) -> _Test | None:
    if not p.classes:
        return None
    view = ctx.view
    tests = []
    for code in p.classes:
        if code.system == RESOURCE_TYPES_SYSTEM:
            if code.code == view.type:
                tests.append(_Test(Match.YES, f"{view.type} is a listed class"))
        elif code.system == PROFILE_SYSTEM:
            if code.code in view.profiles:
                tests.append(_Test(Match.YES, f"the resource claims listed profile {code.code}"))
        else:
            tests.append(_Test(Match.UNSURE, f"{view.reference} belongs to class {code}"))
    return _best(tests, f"{view.type} is not among its classes ({', '.join(c.short for c in p.classes)})")


def _code_test(p: Provision, ctx: _Context) -> _Test | None:
    if not p.codes:
        return None
    for codes in p.codes:
        for code in codes:
            if code in ctx.view.codings:
                return _Test(Match.YES, f"the resource carries code {code}")
    listed = ", ".join(str(code) for codes in p.codes for code in codes)
    return _Test(Match.NO, f"the resource carries none of its codes ({listed})")


def _label_test(p: Provision, ctx: _Context) -> _Test | None:
    if not p.security_labels:
        return None
    for label in p.security_labels:
        if label in ctx.view.security_labels:
            return _Test(Match.YES, f"the resource carries security label {label}")
    listed = ", ".join(str(label) for label in p.security_labels)
    return _Test(Match.NO, f"the resource carries none of its security labels ({listed})")


def _data_test(p: Provision, ctx: _Context) -> _Test | None:
    if not p.data:
        return None
    view = ctx.view
    tests = []
    for item in p.data:
        if item.reference == view.reference and item.meaning != "authoredby":
            tests.append(_Test(Match.YES, f"it is {item.reference}, a named resource"))
        elif item.meaning == "dependents" and item.reference in view.references:
            tests.append(_Test(Match.YES, f"it refers to {item.reference}, whose dependents are named"))
        elif item.meaning == "related":
            refs = ctx.related(item.reference) if ctx.related is not None else None
            if refs is None:
                tests.append(_Test(Match.UNSURE, f"{item.reference} refers to {view.reference}"))
            elif view.reference in set(refs):
                tests.append(_Test(Match.YES, f"{item.reference}, named with what it refers to, refers to it"))
        elif item.meaning == "authoredby" and item.reference in view.references:
            tests.append(_Test(Match.UNSURE, f"{view.reference} was authored by {item.reference}"))
    return _best(tests, f"it is not among its data ({', '.join(str(d) for d in p.data)})")


def _data_period_test(p: Provision, ctx: _Context) -> _Test | None:
    if p.data_period is None:
        return None
    return _Test(Match.UNSURE, f"the data falls within dataPeriod {p.data_period} (Closer does not read data dates)")


_TESTS = (
    _period_test,
    _actor_test,
    _action_test,
    _purpose_test,
    _class_test,
    _code_test,
    _label_test,
    _data_test,
    _data_period_test,
)


@dataclass(frozen=True)
class _Cover:
    match: Match
    because: tuple[str, ...] = ()
    unsure: tuple[str, ...] = ()
    missed: str = ""


def _covers(p: Provision, ctx: _Context) -> _Cover:
    """Whether the provision's own criteria cover the request: every listed criterion must hold."""
    because: list[str] = []
    unsure: list[str] = []
    for test_of in _TESTS:
        test = test_of(p, ctx)
        if test is None:
            continue
        if test.match is Match.NO:
            return _Cover(Match.NO, missed=test.words)
        (because if test.match is Match.YES else unsure).append(test.words)
    if not because and not unsure:
        because.append("it lists no criteria, so it covers everything")
    return _Cover(Match.UNSURE if unsure else Match.YES, tuple(w for w in because if w), tuple(unsure))


@dataclass(frozen=True)
class _Finding:
    """The provision that decided, for one Consent."""

    type: str
    provision: Provision
    because: tuple[str, ...]
    unsure: tuple[str, ...]
    overrides: Provision | None


def _evaluate(p: Provision, ctx: _Context, inherited: Match, parent: Provision | None) -> _Finding | str:
    """The deepest covering provision decides; among siblings a deny beats a permit. A str says why nothing
    under `p` decided. A nested provision covers only what its parent covers (min of the two)."""
    cover = _covers(p, ctx)
    match = min(inherited, cover.match)
    if match is Match.NO:
        return f"{p.path} does not cover this: {cover.missed}"
    findings = [f for child in p.provisions if isinstance(f := _evaluate(child, ctx, match, p), _Finding)]
    if findings:
        return next((f for f in findings if f.type == "deny"), findings[0])
    if p.type == "deny" or match is Match.YES:
        overrides = parent if parent is not None and parent.type != p.type else None
        return _Finding(p.type, p, cover.because, cover.unsure, overrides)
    doubt = "; ".join(cover.unsure) or "a provision it sits in may not cover this"
    return f"{p.path} may permit this, but Closer cannot tell whether {doubt}, and a permit needs certainty"


_OPT_OUT = Provision(path="policyRule", type="deny")


def _assess(consent: ParsedConsent, patient: str, ctx: _Context) -> _Finding | str:
    """What one Consent says about the request: a finding, or a note saying why it says nothing."""
    ref = consent.reference
    if isinstance(consent, Malformed):
        return f"{ref} cannot be read: {consent.reason}; it decides nothing"
    if not consent.in_scope:
        scope = ", ".join(c.short for c in consent.scope)
        return f"{ref} has scope {scope}, not patient-privacy, so it does not govern sharing"
    if consent.patient != patient:
        return f"{ref} is {consent.patient}'s, not {patient}'s"
    if consent.status != "active":
        return f"{ref} {_STATUS_WORDS.get(consent.status, 'is not active')}, so it permits nothing"
    moment = ctx.request.moment
    if consent.date_time is not None and consent.date_time.start is not None and moment < consent.date_time.start:
        return f"{ref} was given {consent.date_time.start_text}, after {moment.isoformat()}"
    if consent.root is None:
        return _Finding("deny", _OPT_OUT, ("its policy is an opt-out, with no provision to narrow it",), (), None)
    found = _evaluate(consent.root, ctx, Match.YES, None)
    return found if isinstance(found, _Finding) else f"{ref} {found}"


def _finding_reason(consent: Consent, f: _Finding) -> str:
    verb = "permits" if f.type == "permit" else "denies"
    text = f"{consent.reference} {f.provision.path} {verb} this"
    if f.overrides is not None:
        text += f", overriding {f.overrides.path} ({f.overrides.type}) for what it covers"
    if f.because:
        text += ": " + "; ".join(f.because)
    if f.unsure:
        text += f". Closer cannot tell whether {'; '.join(f.unsure)}, and a deny that may apply is applied"
    return text


ConsentSource = Callable[[str], Iterable[Any]]
RelatedSource = Callable[[str], Iterable[str] | None]


class PatientConsentService:
    """Decides from the patient's own Consents (see consent/CONSENT.md).

    `consents_for(patient_reference)` returns the patient's Consents, as dicts or already parsed (parse
    once and cache them for speed; status and dates are checked here, per request). `related(reference)`,
    when given, returns the references a named resource makes, so data meaning "related" can be decided;
    without it such a rule is uncertain. `strict=True` refuses everything for a patient with a Consent we
    cannot read, instead of letting it decide nothing.

    Across several Consents a matching deny beats a matching permit, whatever their order or dates: a
    patient who changes their mind should withdraw the old Consent (status inactive), and until they do,
    the narrower wish is the one we can honour without guessing.
    """

    name = "patient-consent"

    def __init__(
        self, consents_for: ConsentSource, *, related: RelatedSource | None = None, strict: bool = False
    ) -> None:
        self.consents_for = consents_for
        self.related = related
        self.strict = strict

    @classmethod
    def of(cls, consents: Iterable[Any], **options: Any) -> PatientConsentService:
        """A service over a fixed list of Consents (of any patients), parsed once."""
        parsed = tuple(parse_consent(c) for c in consents)
        return cls(lambda patient: parsed, **options)

    def can_see(self, request: ConsentRequest, resource: Resource) -> Verdict:
        view = ResourceView(resource) if isinstance(resource, Mapping) else None
        if view is None or not view.type:
            return Verdict(Decision.REJECT, "what was asked about is not a FHIR resource", service=self.name)
        if view.names_unknown_patient:
            return self._reject(
                f"{view.reference} names its patient only by identifier, so whose consent applies cannot be told"
            )
        patients = view.patients
        others = sorted(patients - {request.patient}) if request.patient else []
        if others:
            return self._reject(f"{view.reference} belongs to {', '.join(others)}, not {request.patient}")
        if not patients:
            return Verdict(
                Decision.PROCEED,
                f"{view.reference} is not part of any patient's record, so no patient's consent speaks to it",
                service=self.name,
            )
        if len(patients) > 1:
            return self._reject(f"{view.reference} belongs to several patients ({', '.join(sorted(patients))})")
        patient = next(iter(patients))
        ctx = _Context(request, view, self.related)
        notes: list[str] = []
        denies: list[tuple[Consent, _Finding]] = []
        permits: list[tuple[Consent, _Finding]] = []
        unreadable: list[str] = []
        for item in self.consents_for(patient):
            consent = parse_consent(item)
            result = _assess(consent, patient, ctx)
            if isinstance(result, str):
                notes.append(result)
                # Strict mode counts what might be in force: an unreadable Consent already withdrawn is harmless.
                bad = consent if isinstance(consent, Malformed) else None
                if bad is not None and bad.status in (None, "active") and bad.patient in (None, patient):
                    unreadable.append(bad.reference)
            elif isinstance(consent, Consent):
                (denies if result.type == "deny" else permits).append((consent, result))
        if denies:
            consent, finding = denies[0]
            overruled = [f"{c.reference} {f.provision.path} would permit this, but a deny wins" for c, f in permits]
            others_denying = [_finding_reason(c, f) for c, f in denies[1:]]
            return self._decided(Decision.REJECT, consent, finding, (*overruled, *others_denying, *notes))
        if unreadable and self.strict:
            return self._reject(
                f"{', '.join(unreadable)} cannot be read, and this service refuses rather than guess", notes
            )
        if permits:
            consent, finding = permits[0]
            also = [f"{c.reference} {f.provision.path} also permits this" for c, f in permits[1:]]
            return self._decided(Decision.AUTHORIZED, consent, finding, (*also, *notes))
        reason = (
            f"no active consent of {patient} covers this request" if notes else f"{patient} has no consents on record"
        )
        return Verdict(Decision.PROCEED, reason, service=self.name, trace=tuple(notes))

    def _reject(self, reason: str, trace: Iterable[str] = ()) -> Verdict:
        return Verdict(Decision.REJECT, reason, service=self.name, trace=tuple(trace))

    def _decided(self, decision: Decision, consent: Consent, finding: _Finding, trace: Iterable[str]) -> Verdict:
        return Verdict(
            decision,
            _finding_reason(consent, finding),
            consent=consent.reference,
            provision=finding.provision.path,
            service=self.name,
            trace=tuple(trace),
        )
