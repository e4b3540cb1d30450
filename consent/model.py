"""Typed views over FHIR R4 Consent resources (scope patient-privacy) and the resources they govern.

A Consent arrives as a JSON dict. `parse_consent` turns it into a `Consent` (status, patient, when it was
given, the provision tree) or, if it cannot be read with confidence, a `Malformed` that says why. It never
raises: a Consent that cannot be understood must decide nothing rather than break every read of the
patient's record. Understanding it wrongly would be worse, so anything whose meaning we would have to
guess (an unknown modifierExtension, a nested provision without a type, a period that ends before it
starts) makes the whole Consent Malformed.

`ResourceView` is the other side: what a governed resource says about itself (type, id, whose record it
is, its codes, labels and references), read lazily so a decision only pays for the criteria it checks.

Dates and times: FHIR allows partial dates ("2025", "2025-06", "2025-06-30"); each names a range, and a
date without a time is read in Europe/London, where the patients live, so a Consent that ends on
"2025-06-30" lasts until midnight at the end of 30 June UK time (BST or GMT as the date falls).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo

from closer.store.extract import values_at
from closer.store.searchparams import params_for
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM

LONDON = ZoneInfo("Europe/London")
END_OF_TIME = datetime.max.replace(tzinfo=UTC)

CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
PATIENT_PRIVACY = "patient-privacy"
CONSENT_ACTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentaction"
ACT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"
PROFILE_SYSTEM = "urn:ietf:rfc:3986"
"""A class coding in this system names a profile (its canonical URL) rather than a resource type."""
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"

STATUSES = ("draft", "proposed", "active", "rejected", "inactive", "entered-in-error")
DATA_MEANINGS = ("instance", "related", "dependents", "authoredby")
MAX_DEPTH = 16
"""Deepest provision nesting we read; deeper trees are Malformed, not a stack overflow."""

ProvisionType = Literal["permit", "deny"]


@dataclass(frozen=True, order=True)
class Code:
    """One coding reduced to what matching needs: the system and the code (display is words, not meaning)."""

    system: str
    code: str

    def __str__(self) -> str:
        return f"{self.system}|{self.code}" if self.system else self.code

    @property
    def short(self) -> str:
        """The code alone, for explanations a person reads."""
        return self.code


ACCESS = Code(CONSENT_ACTION_SYSTEM, "access")
DISCLOSE = Code(CONSENT_ACTION_SYSTEM, "disclose")
TREAT = Code(ACT_REASON_SYSTEM, "TREAT")
ETREAT = Code(ACT_REASON_SYSTEM, "ETREAT")

# v3-ActReason is a hierarchy: emergency treatment is a kind of treatment, so a provision about TREAT also
# speaks to a request for ETREAT (not the other way round). This is the one is-a link the engine relies on.
PURPOSE_PARENTS: Mapping[Code, Code] = {ETREAT: TREAT}


def purpose_lineage(purpose: Code) -> Iterator[Code]:
    """The purpose and every broader purpose it is a kind of, nearest first."""
    seen: set[Code] = set()
    current: Code | None = purpose
    while current is not None and current not in seen:
        seen.add(current)
        yield current
        current = PURPOSE_PARENTS.get(current)


class Unreadable(ValueError):
    """A Consent element that cannot be read with confidence; `path` says where (FHIRPath-like)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# --- dates -----------------------------------------------------------------------------------------

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def date_span(text: str) -> tuple[datetime, datetime]:
    """The [start, end) instants a FHIR date, dateTime or instant covers; raises ValueError if it is not one.

    "2025-06" is all of June (London time); "2025-06-30T10:00:00+01:00" is that one second.
    """
    match = _DATE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"'{text}' is not a FHIR date or dateTime")
    g = match.groupdict()
    year = int(g["y"])
    if g["m"] is None:
        return datetime(year, 1, 1, tzinfo=LONDON), _midnight(year + 1, 1, 1)
    month = int(g["m"])
    if g["d"] is None:
        return datetime(year, month, 1, tzinfo=LONDON), _midnight(year + month // 12, month % 12 + 1, 1)
    day = int(g["d"])
    if g["H"] is None:
        start = datetime(year, month, day, tzinfo=LONDON)
        # The next calendar day at midnight, not start + 24h: a day in London can last 23 or 25 hours.
        following = start.date() + timedelta(days=1) if start.date() < date.max else None
        return start, _midnight(following.year, following.month, following.day) if following else END_OF_TIME
    if g["tz"] is None:
        raise ValueError(f"'{text}' has a time but no time zone offset")
    tz = UTC if g["tz"] == "Z" else _offset(g["tz"])
    hour, minute = int(g["H"]), int(g["M"])
    if g["S"] is None:
        start = datetime(year, month, day, hour, minute, tzinfo=tz)
        return start, start + timedelta(minutes=1)
    second = int(g["S"])
    if g["f"] is None:
        start = datetime(year, month, day, hour, minute, second, tzinfo=tz)
        return start, start + timedelta(seconds=1)
    digits = g["f"][:6]
    start = datetime(year, month, day, hour, minute, second, int(digits.ljust(6, "0")), tzinfo=tz)
    return start, start + timedelta(microseconds=10 ** (6 - len(digits)))


def _midnight(year: int, month: int, day: int) -> datetime:
    """Midnight in London, or the end of time past year 9999 (a common "no end" sentinel is 9999-12-31)."""
    return datetime(year, month, day, tzinfo=LONDON) if year <= 9999 else END_OF_TIME


def _offset(text: str) -> timezone:
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


@dataclass(frozen=True)
class Period:
    """A FHIR Period as instants: from the start of `start` (inclusive) to the end of `end` (exclusive).

    `start_text` and `end_text` keep the original wording for explanations.
    """

    start: datetime | None
    end: datetime | None
    start_text: str | None = None
    end_text: str | None = None

    def covers(self, moment: datetime) -> bool:
        return (self.start is None or self.start <= moment) and (self.end is None or moment < self.end)

    def why_not(self, moment: datetime) -> str:
        """Words for why the moment falls outside; call only when `covers` is False."""
        if self.start is not None and moment < self.start:
            return f"it starts {self.start_text}, after {moment.isoformat()}"
        return f"it ended {self.end_text}, before {moment.isoformat()}"

    def __str__(self) -> str:
        return f"{self.start_text or '...'} to {self.end_text or '...'}"


# --- the Consent ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who a provision is about. `reference` is a literal reference ("Organization/RYA"), `ods` an ODS
    code from reference.identifier, `identifier` any other identifier; with none of the three the actor
    names nobody and stands for everyone holding its `roles`."""

    roles: tuple[Code, ...]
    reference: str | None = None
    ods: str | None = None
    identifier: Code | None = None
    display: str | None = None

    @property
    def names_someone(self) -> bool:
        return self.reference is not None or self.ods is not None or self.identifier is not None

    def __str__(self) -> str:
        if self.ods:
            return f"ODS {self.ods}"
        if self.reference:
            return self.reference
        if self.identifier:
            return f"identifier {self.identifier}"
        roles = ", ".join(role.short for role in self.roles) or "no role"
        return f"anyone with role {roles}"


@dataclass(frozen=True)
class DataRef:
    """A named resource a provision is about, and how far the rule reaches from it (`meaning`)."""

    meaning: str
    reference: str

    def __str__(self) -> str:
        return f"{self.reference} ({self.meaning})"


@dataclass(frozen=True)
class Provision:
    """One rule of the tree. Each criterion is a tuple of alternatives; an empty tuple means "any"."""

    path: str
    type: ProvisionType
    period: Period | None = None
    actors: tuple[Actor, ...] = ()
    actions: tuple[tuple[Code, ...], ...] = ()  # each CodeableConcept as its codings
    purposes: tuple[Code, ...] = ()
    classes: tuple[Code, ...] = ()
    codes: tuple[tuple[Code, ...], ...] = ()
    security_labels: tuple[Code, ...] = ()
    data: tuple[DataRef, ...] = ()
    data_period: Period | None = None
    provisions: tuple[Provision, ...] = ()

    def walk(self) -> Iterator[Provision]:
        """This provision and every nested one, depth first in document order."""
        yield self
        for child in self.provisions:
            yield from child.walk()


@dataclass(frozen=True)
class Consent:
    """A readable patient-privacy Consent. `root` is None only for an opt-out policy with no provision,
    which `opt_out` then records (it denies everything)."""

    id: str | None
    status: str
    patient: str
    date_time: Period | None
    root: Provision | None
    opt_out: bool = False
    scope: tuple[Code, ...] = ()
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def reference(self) -> str:
        return f"Consent/{self.id}" if self.id else "Consent (no id)"

    @property
    def in_scope(self) -> bool:
        """Whether this is a privacy consent (a coding without a system is read as consentscope)."""
        return any(c.code == PATIENT_PRIVACY and c.system in ("", CONSENT_SCOPE_SYSTEM) for c in self.scope)


@dataclass(frozen=True)
class Malformed:
    """A Consent that cannot be read with confidence. It decides nothing; `reason` says why."""

    id: str | None
    reason: str
    patient: str | None = None
    status: str | None = None

    @property
    def reference(self) -> str:
        return f"Consent/{self.id}" if self.id else "Consent (no id)"


ParsedConsent = Consent | Malformed


def parse_consent(resource: Any) -> ParsedConsent:
    """Read a Consent dict; never raises. Anything that cannot be read with confidence gives Malformed."""
    if isinstance(resource, Consent | Malformed):
        return resource
    if not isinstance(resource, Mapping):
        return Malformed(None, f"is not a JSON object but {type(resource).__name__}")
    raw_id = resource.get("id")
    consent_id = raw_id if isinstance(raw_id, str) and raw_id else None
    status = resource.get("status") if isinstance(resource.get("status"), str) else None
    patient: str | None = None
    try:
        if resource.get("resourceType") != "Consent":
            raise Unreadable("resourceType", f"is {resource.get('resourceType')!r}, not 'Consent'")
        _no_modifiers(resource, "Consent")
        if status not in STATUSES:
            raise Unreadable("Consent.status", f"{status!r} is not a Consent status ({', '.join(STATUSES)})")
        patient = _patient_reference(resource.get("patient"))
        scope = _scope(resource.get("scope"))
        date_time = _date_time(resource.get("dateTime"))
        opt_out = _policy_opt_out(resource.get("policyRule"))
        provision = resource.get("provision")
        root: Provision | None = None
        if provision is None:
            if not opt_out:
                raise Unreadable("Consent.provision", "is missing, and policyRule is not an opt-out")
        else:
            opt_in = _policy_opt_in(resource.get("policyRule"))
            default_type: ProvisionType | None = "deny" if opt_out else "permit" if opt_in else None
            root = _provision(provision, "provision", 0, default_type)
        return Consent(consent_id, status, patient, date_time, root, root is None and opt_out, scope, resource)
    except Unreadable as exc:
        return Malformed(consent_id, f"{exc.path} {exc.reason}", patient, status)
    except Exception as exc:  # a shape nobody foresaw must still decide nothing, not break the read
        return Malformed(consent_id, f"could not be read ({type(exc).__name__}: {exc})", patient, status)


def _no_modifiers(element: Mapping[str, Any], path: str) -> None:
    if element.get("modifierExtension"):
        raise Unreadable(f"{path}.modifierExtension", "changes the meaning in a way Closer does not understand")


def _patient_reference(value: Any) -> str:
    ref = _literal(value.get("reference")) if isinstance(value, Mapping) else None
    if ref is None or not ref.startswith("Patient/"):
        raise Unreadable("Consent.patient", "must be a literal reference to a Patient (Patient/<id>)")
    return ref


def _scope(value: Any) -> tuple[Code, ...]:
    if value is None:
        raise Unreadable("Consent.scope", "is missing")
    codes = _codeable(value, "Consent.scope")
    if not codes:
        raise Unreadable("Consent.scope", "has no coding")
    return codes


def _date_time(value: Any) -> Period | None:
    if value is None:
        return None
    try:
        start, end = date_span(value)
    except ValueError as exc:
        raise Unreadable("Consent.dateTime", str(exc)) from None
    return Period(start, end, value, value)


def _policy_codes(value: Any) -> tuple[Code, ...]:
    return _codeable(value, "Consent.policyRule") if value is not None else ()


def _policy_opt_out(value: Any) -> bool:
    return any(c.system == ACT_CODE_SYSTEM and c.code in ("OPTOUT", "OPTOUTE") for c in _policy_codes(value))


def _policy_opt_in(value: Any) -> bool:
    return any(c.system == ACT_CODE_SYSTEM and c.code in ("OPTIN", "OPTINR") for c in _policy_codes(value))


def _provision(value: Any, path: str, depth: int, default_type: ProvisionType | None) -> Provision:
    if depth > MAX_DEPTH:
        raise Unreadable(path, f"is nested more than {MAX_DEPTH} levels deep")
    if not isinstance(value, Mapping):
        raise Unreadable(path, "is not an object")
    _no_modifiers(value, path)
    kind = value.get("type")
    if kind is None:
        # Nested rules must say which way they go; only the base rule may inherit it from the policy.
        if default_type is None:
            raise Unreadable(f"{path}.type", "is missing, so it is unclear whether it permits or denies")
        kind = default_type
    if kind not in ("permit", "deny"):
        raise Unreadable(f"{path}.type", f"{kind!r} is neither 'permit' nor 'deny'")
    children = _list(value.get("provision"), f"{path}.provision")
    return Provision(
        path=path,
        type=kind,
        period=_period(value.get("period"), f"{path}.period"),
        actors=tuple(_actor(a, f"{path}.actor[{i}]") for i, a in enumerate(_list(value.get("actor"), f"{path}.actor"))),
        actions=tuple(
            _required_codeable(a, f"{path}.action[{i}]")
            for i, a in enumerate(_list(value.get("action"), f"{path}.action"))
        ),
        purposes=tuple(
            _coding(c, f"{path}.purpose[{i}]") for i, c in enumerate(_list(value.get("purpose"), f"{path}.purpose"))
        ),
        classes=tuple(
            _coding(c, f"{path}.class[{i}]") for i, c in enumerate(_list(value.get("class"), f"{path}.class"))
        ),
        codes=tuple(
            _required_codeable(c, f"{path}.code[{i}]") for i, c in enumerate(_list(value.get("code"), f"{path}.code"))
        ),
        security_labels=tuple(
            _coding(c, f"{path}.securityLabel[{i}]")
            for i, c in enumerate(_list(value.get("securityLabel"), f"{path}.securityLabel"))
        ),
        data=tuple(_data(d, f"{path}.data[{i}]") for i, d in enumerate(_list(value.get("data"), f"{path}.data"))),
        data_period=_period(value.get("dataPeriod"), f"{path}.dataPeriod"),
        provisions=tuple(
            _provision(child, f"{path}.provision[{i}]", depth + 1, None) for i, child in enumerate(children)
        ),
    )


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Unreadable(path, "must be a list")
    return value


def read_period(value: Any, path: str = "period") -> Period | None:
    """A FHIR Period of any resource as instants (partial dates are their whole span); None when absent,
    Unreadable (a ValueError) when it is not a Period."""
    return _period(value, path)


def _period(value: Any, path: str) -> Period | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise Unreadable(path, "is not a Period")
    start_text, end_text = value.get("start"), value.get("end")
    try:
        start = date_span(start_text)[0] if start_text is not None else None
        end = date_span(end_text)[1] if end_text is not None else None
    except ValueError as exc:
        raise Unreadable(path, str(exc)) from None
    if start is not None and end is not None and end <= start:
        raise Unreadable(path, f"ends ({end_text}) before it starts ({start_text})")
    return Period(start, end, start_text, end_text)


def _coding(value: Any, path: str) -> Code:
    if not isinstance(value, Mapping):
        raise Unreadable(path, "is not a Coding")
    code, system = value.get("code"), value.get("system", "")
    if not isinstance(code, str) or not code or not isinstance(system, str):
        raise Unreadable(path, "needs a code (and a system)")
    return Code(system, code)


def _codeable(value: Any, path: str) -> tuple[Code, ...]:
    if not isinstance(value, Mapping):
        raise Unreadable(path, "is not a CodeableConcept")
    return tuple(_coding(c, f"{path}.coding[{i}]") for i, c in enumerate(_list(value.get("coding"), f"{path}.coding")))


def _required_codeable(value: Any, path: str) -> tuple[Code, ...]:
    codes = _codeable(value, path)
    if not codes:
        # A criterion given only as text cannot be matched; reading it as "any" would widen the rule.
        raise Unreadable(path, "has no coding, so it cannot be matched")
    return codes


def _actor(value: Any, path: str) -> Actor:
    if not isinstance(value, Mapping):
        raise Unreadable(path, "is not an object")
    role = value.get("role")
    roles = _codeable(role, f"{path}.role") if role is not None else ()
    ref = value.get("reference")
    if not isinstance(ref, Mapping):
        raise Unreadable(f"{path}.reference", "is missing")
    literal = ref.get("reference")
    ods: str | None = None
    identifier: Code | None = None
    reference: str | None = None
    if literal is not None:
        if not isinstance(literal, str) or not literal.strip():
            raise Unreadable(f"{path}.reference.reference", "is not a reference string")
        conditional = _conditional_identifier(literal)
        if conditional is not None:
            identifier = conditional
        else:
            reference = _literal(literal)
            if reference is None:
                raise Unreadable(f"{path}.reference.reference", f"'{literal}' is not a reference Closer can follow")
    ident = ref.get("identifier")
    if ident is not None:
        if not isinstance(ident, Mapping) or not isinstance(ident.get("value"), str):
            raise Unreadable(f"{path}.reference.identifier", "needs a value")
        identifier = Code(str(ident.get("system") or ""), ident["value"])
    if identifier is not None and identifier.system == ODS_ORGANIZATION_SYSTEM:
        ods, identifier = identifier.code.strip().upper(), None
    display = ref.get("display") if isinstance(ref.get("display"), str) else None
    actor = Actor(roles, reference, ods, identifier, display)
    if not actor.names_someone and not roles:
        raise Unreadable(path, "names nobody and has no role, so it cannot be matched")
    return actor


def _conditional_identifier(literal: str) -> Code | None:
    """`Organization?identifier=system|value` names an organization by identifier; read it as such."""
    match = re.match(r"^Organization\?identifier=(?:(?P<system>[^|&]*)\|)?(?P<value>[^&]+)$", literal.strip())
    return Code(match["system"] or "", match["value"]) if match else None


def _data(value: Any, path: str) -> DataRef:
    if not isinstance(value, Mapping):
        raise Unreadable(path, "is not an object")
    meaning = value.get("meaning")
    if meaning not in DATA_MEANINGS:
        raise Unreadable(f"{path}.meaning", f"{meaning!r} is not one of {', '.join(DATA_MEANINGS)}")
    ref = value.get("reference")
    literal = _literal(ref.get("reference")) if isinstance(ref, Mapping) else None
    if literal is None:
        raise Unreadable(f"{path}.reference", "must be a literal reference to a resource")
    return DataRef(meaning, literal)


_LITERAL = re.compile(r"^(?:(?P<base>[a-z][a-z0-9+.-]*://.*)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})")


def _literal(value: Any) -> str | None:
    """A literal reference as "Type/id" (version and a relative base dropped); absolute references to
    another server keep their base, since a resource there is not ours; None for what is not a reference."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.startswith(("urn:uuid:", "urn:oid:")):
        return text
    match = _LITERAL.match(text)
    if not match:
        return None
    rest = text[match.end() :]
    if rest and not re.match(r"^/_history/[A-Za-z0-9\-.]{1,64}$", rest):
        return None
    local = f"{match['type']}/{match['id']}"
    return f"{match['base']}/{local}" if match["base"] else local


def literal_reference(value: Any) -> str | None:
    """Public form of the reference normaliser, for callers that build requests from references."""
    return _literal(value)


# --- the governed resource --------------------------------------------------------------------------

_PERSONS_BY_IDENTIFIER = frozenset({NHS_NUMBER_SYSTEM})


@dataclass(frozen=True)
class ResourceView:
    """What a governed resource says about itself, computed on demand."""

    resource: Mapping[str, Any]

    @cached_property
    def type(self) -> str:
        value = self.resource.get("resourceType")
        return value if isinstance(value, str) else ""

    @cached_property
    def id(self) -> str | None:
        value = self.resource.get("id")
        return value if isinstance(value, str) and value else None

    @cached_property
    def reference(self) -> str:
        return f"{self.type}/{self.id}" if self.id else f"{self.type or 'resource'} (no id)"

    @cached_property
    def patients(self) -> frozenset[str]:
        """The Patients whose record this is: itself for a Patient, else the targets of its `patient`
        search parameter (the same element the store indexes), e.g. Flag.subject, AllergyIntolerance.patient."""
        if self.type == "Patient":
            return frozenset({self.reference}) if self.id else frozenset()
        return frozenset(ref for ref in self._patient_values if ref is not None)

    @cached_property
    def names_unknown_patient(self) -> bool:
        """True when a patient element names a patient only by identifier (say an NHS number), so we
        cannot tell whose record it is."""
        return None in self._patient_values

    @cached_property
    def _patient_values(self) -> tuple[str | None, ...]:
        found: list[str | None] = []
        param = params_for(self.type).get("patient")
        paths = param.split_paths if param is not None else (("patient",), ("subject",))
        for parts in paths:
            for value in values_at(self.resource, parts):
                if not isinstance(value, Mapping):
                    continue
                ref = _literal(value.get("reference"))
                if ref is not None:
                    if ref.startswith("Patient/"):
                        found.append(ref)
                    continue
                ident = value.get("identifier")
                if value.get("type") == "Patient" or (
                    isinstance(ident, Mapping) and ident.get("system") in _PERSONS_BY_IDENTIFIER
                ):
                    found.append(None)
        return tuple(found)

    @cached_property
    def codings(self) -> frozenset[Code]:
        """Every coding anywhere in the resource (provision.code applies "if this code is found in an instance")."""
        return frozenset(_codings(self.resource))

    @cached_property
    def security_labels(self) -> frozenset[Code]:
        meta = self.resource.get("meta")
        labels = meta.get("security") if isinstance(meta, Mapping) else None
        return frozenset(
            Code(str(c.get("system") or ""), c["code"])
            for c in labels or ()
            if isinstance(c, Mapping) and isinstance(c.get("code"), str)
        )

    @cached_property
    def profiles(self) -> frozenset[str]:
        meta = self.resource.get("meta")
        profiles = meta.get("profile") if isinstance(meta, Mapping) else None
        return frozenset(p.split("|")[0] for p in profiles or () if isinstance(p, str))

    @cached_property
    def references(self) -> frozenset[str]:
        """Every literal reference the resource makes (for data meaning "dependents")."""
        return frozenset(ref for ref in (_literal(r) for r in _reference_strings(self.resource)) if ref)


def _codings(node: Any) -> Iterator[Code]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "text":
                continue
            if key == "coding" and isinstance(value, list):
                for c in value:
                    if isinstance(c, Mapping) and isinstance(c.get("code"), str):
                        yield Code(str(c.get("system") or ""), c["code"])
            else:
                yield from _codings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _codings(item)


def _reference_strings(node: Any) -> Iterator[Any]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            elif key != "text":
                yield from _reference_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _reference_strings(item)
