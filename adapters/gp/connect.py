"""A GP Connect Access Record Structured response (a FHIR STU3 Bundle of CareConnect resources) -> R4
resources of the same meaning. Pure: no IO. FEEDS.md has the translation table.

Translated: Patient, Organization, Practitioner, PractitionerRole, Location, Condition (the problem
headers), AllergyIntolerance, MedicationStatement (its Medication folded into medicationCodeableConcept,
its plan's prescription type into the repeat/acute category the CSV extract also writes) and Encounter.
Everything else (List, Observation, ProcedureRequest, ReferralRequest, MedicationRequest, ...) is reported
by type and id as not translated, as is every element of a translated resource that has no R4 home, and
every reference to something that was not translated. Nothing is dropped without a line in the report.

Ids are derived from the source: the Patient's is its NHS number and a practice's its ODS code, as in every
feed; anything else's comes from its first identifier (or, without one, its id in the bundle), scoped by
the practice's ODS code, so the same record sent again lands on the same resources.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.encounter_codes import ACT_CODE
from adapters.gp import stu3
from adapters.gp.codes import (
    ACUTE,
    ALLERGY_CLINICAL_SYSTEM,
    ALLERGY_VERIFICATION_SYSTEM,
    CONDITION_CLINICAL_SYSTEM,
    CONDITION_VERIFICATION_SYSTEM,
    REGISTRATION_EXTENSION,
    REPEAT,
    course,
)
from adapters.gp.merge import merge_patient, overlay
from adapters.hl7v2.mapping import NHS_STATUS, NHS_STATUS_EXTENSION, NHS_STATUS_SYSTEM
from adapters.identity import NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM, derived_id
from adapters.rows import JSON, Amend, RowPlan
from fhir_profiles.nhs_number import is_valid_nhs_number


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Elements copied as they are (same name, shape and meaning in STU3 and R4), by type. Every type also
# keeps identifier, text, language and extension; other elements are handled by the type's translator.
COPIED: dict[str, frozenset[str]] = {
    "Patient": _names(
        "active name telecom gender birthDate deceasedBoolean deceasedDateTime address maritalStatus "
        "multipleBirthBoolean multipleBirthInteger photo contact communication managingOrganization link"
    ),
    "Organization": _names("active type name alias telecom address partOf contact endpoint"),
    "Practitioner": _names("active name telecom address gender birthDate photo qualification communication"),
    "PractitionerRole": _names(
        "active period practitioner organization code specialty location healthcareService telecom "
        "availableTime notAvailable availabilityExceptions endpoint"
    ),
    "Location": _names(
        "status operationalStatus name alias description mode telecom address physicalType position "
        "managingOrganization partOf endpoint"
    ),
    "Condition": _names(
        "category severity code bodySite subject onsetDateTime onsetAge onsetPeriod onsetRange onsetString "
        "abatementDateTime abatementAge abatementPeriod abatementRange abatementString asserter evidence note"
    ),
    "AllergyIntolerance": _names(
        "type category criticality code patient onsetDateTime onsetAge onsetPeriod onsetRange onsetString "
        "recorder asserter lastOccurrence note reaction"
    ),
    "MedicationStatement": _names(
        "basedOn partOf context status medicationCodeableConcept effectiveDateTime effectivePeriod "
        "dateAsserted informationSource subject derivedFrom reasonCode reasonReference note"
    ),
    "Encounter": _names(
        "status statusHistory classHistory type priority subject episodeOfCare participant period length "
        "account hospitalization location serviceProvider partOf"
    ),
}
COMMON = frozenset({"identifier", "text", "language", "extension"})
SILENT = frozenset({"resourceType", "id", "meta"})  # replaced by the store's own; meta is checked below
META_DROPPED = frozenset({"versionId", "lastUpdated", "profile"})  # STU3 profiles do not apply to R4 resources

# Code systems HL7 moved to terminology.hl7.org between STU3 and R4 (v2 and v3 tables follow a pattern).
RENAMED_SYSTEMS = {
    f"http://hl7.org/fhir/{name}": f"http://terminology.hl7.org/CodeSystem/{name}"
    for name in (
        "condition-category",
        "medication-statement-category",
        "observation-category",
        "location-physical-type",
        "diagnosis-role",
        "allergy-intolerance-category",
    )
}
_V2 = re.compile(r"^http://hl7\.org/fhir/v2/(\d{4})$")
_V3 = re.compile(r"^http://hl7\.org/fhir/v3/([A-Za-z]+)$")
_REFERENCE = re.compile(r"^(?:https?://\S*/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/\S+)?$")

VERIFICATION_STATUS_URL_END = "NHSNumberVerificationStatus-1"
REGISTRATION_DETAILS_URL_END = "RegistrationDetails-1"
PRESCRIPTION_TYPE_URL_END = "PrescriptionType-1"
GP_CONSULTATION_CLASS = {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"}


class RecordError(ValueError):
    """The response as a whole cannot be translated (not a Bundle, no patient, no practice)."""


@dataclass(frozen=True)
class Skipped:
    """A bundle entry that was not translated. `error`: it was invalid; otherwise it is a kind of record we
    do not translate, reported as a warning."""

    source: str  # Type/id in the bundle
    message: str
    error: bool = False


@dataclass
class Translated:
    source: str  # Type/id in the bundle
    resource: JSON
    notes: list[str] = field(default_factory=list)  # what of it could not be carried


@dataclass
class Translation:
    practice: str
    patient_id: str
    resources: list[Translated]
    skipped: list[Skipped]


def translate(bundle: Any) -> Translation:
    """Translate a structured record; raises RecordError when the response as a whole is unusable."""
    return _Translator(bundle).run()


def plan(translated: Translated) -> RowPlan:
    """How a translated resource is written. The Patient and a practice are shared with other feeds, so
    they are created if new and otherwise merged (nothing another feed wrote is lost); everything else
    has an id of this record's own and is simply written. What was not carried goes with it as warnings."""
    resource, notes = translated.resource, list(translated.notes)
    kind, resource_id = resource["resourceType"], resource["id"]
    key = f"{kind}/{resource_id} from {translated.source}"
    if kind == "Patient":
        merged = Amend(kind, resource_id, _merging(merge_patient, resource))
        return RowPlan(key, stubs=[resource], amendments=[merged], warnings=notes)
    if kind == "Organization":
        merged = Amend(kind, resource_id, _merging(overlay, resource))
        return RowPlan(key, stubs=[resource], amendments=[merged], warnings=notes)
    return RowPlan(key, resources=[resource], warnings=notes)


def _merging(merge: Callable[[JSON, JSON], JSON], incoming: JSON) -> Callable[[JSON], JSON]:
    def change(current: JSON) -> JSON:
        return merge(current, incoming)

    return change


class _Translator:
    def __init__(self, bundle: Any) -> None:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise RecordError("not a FHIR Bundle: a GP Connect structured record is a Bundle of type collection")
        problem = stu3.bundle_problem(bundle)
        if problem:
            raise RecordError(f"not a valid STU3 Bundle: {problem}")
        self.bundle = bundle
        self.skipped: list[Skipped] = []
        self.sources: dict[str, JSON] = {}  # Type/id -> the valid STU3 resource
        self.full_urls: dict[str, str] = {}  # fullUrl -> Type/id
        self.ids: dict[str, tuple[str, str]] = {}  # Type/id -> (type, R4 id) of what is translated
        self.practice = ""
        self.folded: dict[str, list[str]] = {}  # Medication/MedicationRequest -> statements that used it

    def run(self) -> Translation:
        if self.bundle.get("type") != "collection":
            self.skipped.append(
                Skipped("Bundle", f"type is '{self.bundle.get('type')}', not collection; translated all the same")
            )
        self._index()
        patient_source, nhs = self._record_patient()
        self.practice = self._practice(self.sources[patient_source])
        for source, resource in self.sources.items():
            kind = resource["resourceType"]
            if kind == "Patient":
                self.ids[source] = ("Patient", nhs)
            elif kind in COPIED and not resource.get("id") and not resource.get("identifier"):
                self.skipped.append(
                    Skipped(source, "not translated: with neither an id nor an identifier it has no stable id", True)
                )
            elif kind in COPIED:
                self.ids[source] = (kind, self._id(kind, resource))
        translated: list[Translated] = []
        for source, resource in self.sources.items():
            kind = resource["resourceType"]
            if source in self.ids:
                translated.append(self._translate(source, resource))
            elif kind not in (*COPIED, "Medication", "MedicationRequest"):
                self.skipped.append(Skipped(source, f"not translated: Closer does not translate {kind} resources"))
        self._report_folded()
        return Translation(self.practice, nhs, translated, self.skipped)

    # -- the bundle -------------------------------------------------------------------------------------
    def _index(self) -> None:
        entries = self.bundle.get("entry") or []
        for number, entry in enumerate(entries, start=1):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                self.skipped.append(Skipped(f"entry {number}", "has no resource", error=True))
                continue
            kind = str(resource.get("resourceType"))
            source = f"{kind}/{resource['id']}" if resource.get("id") else f"{kind} (entry {number}, no id)"
            problem = stu3.resource_problem(resource)
            if problem:
                self.skipped.append(Skipped(source, f"not translated: not a valid STU3 {kind}: {problem}", error=True))
            elif source in self.sources:
                self.skipped.append(Skipped(source, "not translated: the bundle holds it twice", error=True))
            elif resource.get("modifierExtension"):
                self.skipped.append(
                    Skipped(source, "not translated: it has a modifierExtension, which changes its meaning", error=True)
                )
            else:
                self.sources[source] = resource
                if isinstance(entry.get("fullUrl"), str):
                    self.full_urls[entry["fullUrl"]] = source

    def _record_patient(self) -> tuple[str, str]:
        """The record's patient and NHS number; a second Patient is not this record's and is skipped."""
        patients = [source for source, resource in self.sources.items() if resource["resourceType"] == "Patient"]
        if not patients:
            raise RecordError("the Bundle holds no Patient")
        for extra in patients[1:]:
            del self.sources[extra]
            self.skipped.append(Skipped(extra, "not translated: a structured record is about one patient", error=True))
        source = patients[0]
        for identifier in self.sources[source].get("identifier", []):
            if identifier.get("system") == NHS_NUMBER_SYSTEM:
                nhs = str(identifier.get("value", "")).replace(" ", "")
                if is_valid_nhs_number(nhs):
                    return source, nhs
                raise RecordError(f"{source} has NHS number '{identifier.get('value')}', which fails its check digit")
        raise RecordError(f"{source} has no NHS number ({NHS_NUMBER_SYSTEM})")

    def _practice(self, patient: JSON) -> str:
        """The ODS code of the registered practice: the Patient's managingOrganization (or else an
        Organization among its generalPractitioner), which must be in the bundle with an ODS code."""
        candidates = [patient.get("managingOrganization") or {}, *patient.get("generalPractitioner", [])]
        for reference in candidates:
            organization = self.sources.get(self.target(str(reference.get("reference", ""))) or "")
            code = _ods_code(organization) if organization and organization["resourceType"] == "Organization" else None
            if code:
                return code
        raise RecordError(
            "cannot tell the practice: the Patient's managingOrganization is not an Organization in the Bundle "
            f"with an ODS code ({ODS_ORGANIZATION_SYSTEM})"
        )

    def _id(self, kind: str, resource: JSON) -> str:
        if kind == "Organization" and (code := _ods_code(resource)):
            return code
        for identifier in resource.get("identifier", []):
            if identifier.get("system") and identifier.get("value"):
                return derived_id(f"gpc-{kind.lower()}", self.practice, identifier["system"], identifier["value"])
        return derived_id(f"gpc-{kind.lower()}", self.practice, "id", str(resource.get("id", "")))

    def target(self, reference: str) -> str | None:
        """The Type/id in the bundle a reference names (relative, absolute or a fullUrl), if it names one."""
        if reference in self.full_urls:
            return self.full_urls[reference]
        found = _REFERENCE.match(reference)
        return f"{found['type']}/{found['id']}" if found else None

    # -- one resource -----------------------------------------------------------------------------------
    def _translate(self, source: str, resource: JSON) -> Translated:
        kind, new_id = self.ids[source]
        notes: list[str] = []
        out: JSON = {"resourceType": kind, "id": new_id}
        for key, item in resource.items():
            if key in COMMON or key in COPIED[kind]:
                out[key] = item
        handled = HANDLERS.get(kind, _nothing_else)(resource, out, notes, self)
        for key in resource:
            if key not in SILENT and key not in COMMON and key not in COPIED[kind] and key not in handled:
                notes.append(f"{kind}.{key} not carried: R4 has no element of the same meaning")
        for key in resource.get("meta", {}):
            if key not in META_DROPPED:
                notes.append(f"{kind}.meta.{key} not carried")
        rewritten = self._rewrite(_r4_systems(out), kind, notes)
        assert isinstance(rewritten, dict)
        if kind == "Patient":
            _registered_with(rewritten, self.practice)
        return Translated(source, _ordered(rewritten, resource), notes)

    def _rewrite(self, node: Any, where: str, notes: list[str]) -> Any:
        """Every reference pointed at the R4 id of what it names. A reference to something not translated
        (or not in the bundle) becomes a logical one (identifier and display) where it can, and otherwise
        goes, taking an extension it leaves empty with it; each is noted."""
        if isinstance(node, list):
            items = [self._rewrite(item, f"{where}[{index}]", notes) for index, item in enumerate(node)]
            kept = [item for item in items if item is not None]
            return kept or None
        if not isinstance(node, dict):
            return node
        if isinstance(node.get("reference"), str):
            return self._reference(node, where, notes)
        out = {}
        for key, item in node.items():
            rewritten = self._rewrite(item, f"{where}.{key}", notes)
            if rewritten is not None:
                out[key] = rewritten
        if "url" in node and _is_extension(node) and not _is_extension(out):
            return None
        return out or None

    def _reference(self, reference: JSON, where: str, notes: list[str]) -> JSON | None:
        source = self.target(reference["reference"])
        rest = {key: item for key, item in reference.items() if key != "reference"}
        if source in self.ids:
            kind, new_id = self.ids[source]
            return {"reference": f"{kind}/{new_id}", **rest}
        target = self.sources.get(source or "")
        why = "it is not translated" if target else "it is not in the bundle"
        logical = {key: item for key, item in rest.items() if key in ("identifier", "display")}
        if target and "identifier" not in logical and target.get("identifier"):
            logical = {"type": target["resourceType"], "identifier": target["identifier"][0], **logical}
        if logical:
            kept = f"kept as a logical reference (by {'identifier' if 'identifier' in logical else 'display'})"
        else:
            kept = "dropped"
        notes.append(f"{where}: reference to {reference['reference']} {kept}: {why}")
        return logical or None

    def _report_folded(self) -> None:
        """Medications and MedicationRequests are not stored; say what was made of each."""
        for source, resource in self.sources.items():
            kind = resource["resourceType"]
            users = self.folded.get(source, [])
            if kind == "Medication":
                if not users:
                    self.skipped.append(Skipped(source, "not translated: no MedicationStatement refers to it"))
                    continue
                extra = sorted(set(resource) - SILENT - {"code"})
                if extra:
                    self.skipped.append(
                        Skipped(
                            source,
                            f"its code became the medicationCodeableConcept of {', '.join(users)}; "
                            f"{', '.join(extra)} not carried",
                        )
                    )
            elif kind == "MedicationRequest":
                made = f"; its prescription type is the category of {', '.join(users)}" if users else ""
                self.skipped.append(
                    Skipped(source, f"not translated: Closer does not translate MedicationRequest resources{made}")
                )

    def statement_uses(self, source: str, statement: str) -> None:
        self.folded.setdefault(source, []).append(statement)


# -- per type: each handler fills `out` from the STU3 resource and returns the elements it dealt with ------
Handler = Callable[[JSON, JSON, list[str], _Translator], set[str]]


def _nothing_else(resource: JSON, out: JSON, notes: list[str], context: _Translator) -> set[str]:
    return set()


def _patient(resource: JSON, out: JSON, notes: list[str], context: _Translator) -> set[str]:
    """The NHS number's verification status moves to UK Core's extension; the registration period is
    also written where the CSV extract writes it (the STU3 extension stays, with everything it holds)."""
    out["identifier"] = [_nhs_identifier(identifier) for identifier in resource.get("identifier", [])]
    for extension in resource.get("extension", []):
        if str(extension.get("url", "")).endswith(REGISTRATION_DETAILS_URL_END):
            for part in extension.get("extension", []):
                if part.get("url") == "registrationPeriod" and "valuePeriod" in part:
                    out["extension"] = [
                        *out.get("extension", []),
                        {"url": REGISTRATION_EXTENSION, "valuePeriod": part["valuePeriod"]},
                    ]
    if "generalPractitioner" in resource:
        out["generalPractitioner"] = resource["generalPractitioner"]
    return {"generalPractitioner"}


def _nhs_identifier(identifier: JSON) -> JSON:
    """An NHS number in its bare ten digits, its STU3 verification status as UK Core's extension."""
    if identifier.get("system") == NHS_NUMBER_SYSTEM and isinstance(identifier.get("value"), str):
        identifier = {**identifier, "value": identifier["value"].replace(" ", "")}
    extensions = []
    for extension in identifier.get("extension", []):
        codes = [c.get("code") for c in extension.get("valueCodeableConcept", {}).get("coding", [])]
        code = next((c for c in codes if c in NHS_STATUS), None)
        if str(extension.get("url", "")).endswith(VERIFICATION_STATUS_URL_END) and code:
            coding = {"system": NHS_STATUS_SYSTEM, "code": code, "display": NHS_STATUS[code]}
            extensions.append({"url": NHS_STATUS_EXTENSION, "valueCodeableConcept": {"coding": [coding]}})
        else:
            extensions.append(extension)
    if not extensions:
        return identifier
    return {**identifier, "extension": extensions}


def _registered_with(patient: JSON, practice: str) -> None:
    """The registered practice first among generalPractitioner, as the CSV extract and HL7 write it, so the
    feeds agree on the registration and the merge keeps the practice's GPs."""
    practice_reference = {
        "reference": f"Organization/{practice}",
        "identifier": {"system": ODS_ORGANIZATION_SYSTEM, "value": practice},
    }
    others = [
        g for g in patient.get("generalPractitioner", []) if g.get("reference") != practice_reference["reference"]
    ]
    patient["generalPractitioner"] = [practice_reference, *others]


def _location(resource: JSON, out: JSON, notes: list[str], context: _Translator) -> set[str]:
    if "type" in resource:
        out["type"] = [resource["type"]]  # 0..1 in STU3, 0..* in R4
    return {"type"}


def _condition(resource: JSON, out: JSON, notes: list[str], context: _Translator) -> set[str]:
    """Statuses become CodeableConcepts; assertedDate is R4's recordedDate; context (an Encounter) is R4's
    encounter; the single STU3 stage is R4's first."""
    verification = resource.get("verificationStatus")
    if verification and verification != "unknown":  # R4 has no "unknown": absent says the same
        out["verificationStatus"] = _status(CONDITION_VERIFICATION_SYSTEM, verification)
    _clinical_status(resource, out, notes, CONDITION_CLINICAL_SYSTEM)
    if "assertedDate" in resource:
        out["recordedDate"] = resource["assertedDate"]
    context_reference = resource.get("context")
    if context_reference:
        if str(context.target(str(context_reference.get("reference", ""))) or "").startswith("Encounter/"):
            out["encounter"] = context_reference
        else:
            notes.append("Condition.context not carried: R4 Condition.encounter takes only an Encounter")
    if "stage" in resource:
        out["stage"] = [resource["stage"]]
    return {"clinicalStatus", "verificationStatus", "assertedDate", "context", "stage"}


def _allergy_intolerance(resource: JSON, out: JSON, notes: list[str], context: _Translator) -> set[str]:
    """Statuses become CodeableConcepts; assertedDate is R4's recordedDate."""
    if resource.get("verificationStatus"):
        out["verificationStatus"] = _status(ALLERGY_VERIFICATION_SYSTEM, resource["verificationStatus"])
    _clinical_status(resource, out, notes, ALLERGY_CLINICAL_SYSTEM)
    if "assertedDate" in resource:
        out["recordedDate"] = resource["assertedDate"]
    return {"clinicalStatus", "verificationStatus", "assertedDate"}


def _clinical_status(resource: JSON, out: JSON, notes: list[str], system: str) -> None:
    """R4 forbids a clinicalStatus on an entered-in-error record (con-5, ait-2)."""
    status = resource.get("clinicalStatus")
    if not status:
        return
    if resource.get("verificationStatus") == "entered-in-error":
        notes.append(f"{resource['resourceType']}.clinicalStatus not carried: R4 allows none when entered-in-error")
        return
    out["clinicalStatus"] = _status(system, status)


def _status(system: str, code: str) -> JSON:
    return {"coding": [{"system": system, "code": code}]}


def _medication_statement(resource: JSON, out: JSON, notes: list[str], context: _Translator) -> set[str]:
    """The referenced Medication's code becomes medicationCodeableConcept (R4 has no Medication in this
    store); `taken` goes, except that taken=n is R4's status not-taken (with reasonNotTaken as its
    statusReason); each dosage's dose and rate move into doseAndRate; the course of the plan it is based on
    (GP Connect's prescription type) is the repeat/acute category the CSV extract writes."""
    source = f"MedicationStatement/{resource.get('id')}"
    reference = resource.get("medicationReference")
    if reference:
        medication_source = context.target(str(reference.get("reference", ""))) or ""
        medication = context.sources.get(medication_source)
        if medication and medication["resourceType"] == "Medication" and medication.get("code"):
            out["medicationCodeableConcept"] = medication["code"]
            context.statement_uses(medication_source, source)
        elif reference.get("display"):
            out["medicationCodeableConcept"] = {"text": reference["display"]}
            notes.append(
                f"MedicationStatement.medicationReference {reference.get('reference')} has no coded "
                "Medication in the bundle: its display is the medication's text"
            )
        else:
            notes.append(
                f"MedicationStatement.medicationReference {reference.get('reference')} has no coded "
                "Medication in the bundle"
            )
    if resource.get("taken") == "n":
        out["status"] = "not-taken"
        if resource.get("reasonNotTaken"):
            out["statusReason"] = resource["reasonNotTaken"]
    if "dosage" in resource:
        out["dosage"] = [_dosage(dosage) for dosage in resource["dosage"]]
    category_codings = list(resource.get("category", {}).get("coding", []))
    for based_on in resource.get("basedOn", []):
        request_source = context.target(str(based_on.get("reference", ""))) or ""
        request = context.sources.get(request_source)
        if request and request["resourceType"] == "MedicationRequest":
            context.statement_uses(request_source, source)
            course_code = _course(request)
            if course_code:
                category_codings.extend(course(course_code)["coding"])
    if category_codings:
        out["category"] = {**resource.get("category", {}), "coding": category_codings}
    return {"medicationReference", "taken", "reasonNotTaken", "dosage", "category"}


def _course(request: JSON) -> str | None:
    """repeat or acute from a MedicationRequest's GP Connect prescription type (repeat-dispensing is a
    repeat; delayed and handwritten variants follow their kind)."""
    for extension in request.get("extension", []):
        if str(extension.get("url", "")).endswith(PRESCRIPTION_TYPE_URL_END):
            for coding in extension.get("valueCodeableConcept", {}).get("coding", []):
                code = str(coding.get("code", ""))
                if code.startswith("repeat"):
                    return REPEAT
                if code.startswith("acute") or code == "delayed-prescribing":
                    return ACUTE
    return None


def _dosage(dosage: JSON) -> JSON:
    moved = {key: item for key, item in dosage.items() if key.startswith(("dose", "rate"))}
    if not moved:
        return dosage
    kept = {key: item for key, item in dosage.items() if key not in moved}
    return {**kept, "doseAndRate": [moved]}


def _encounter(resource: JSON, out: JSON, notes: list[str], context: _Translator) -> set[str]:
    """class stays a Coding (its ActCode system renamed); R4 needs one, and a GP consultation without one
    is ambulatory (AMB). reason is R4's reasonCode, incomingReferral its basedOn, the single appointment
    its first, and a diagnosis's role its use."""
    out["class"] = resource.get("class") or dict(GP_CONSULTATION_CLASS)
    if "reason" in resource:
        out["reasonCode"] = resource["reason"]
    if "incomingReferral" in resource:
        out["basedOn"] = resource["incomingReferral"]
    if "appointment" in resource:
        out["appointment"] = [resource["appointment"]]
    if "diagnosis" in resource:
        out["diagnosis"] = [
            {("use" if key == "role" else key): item for key, item in diagnosis.items()}
            for diagnosis in resource["diagnosis"]
        ]
    return {"class", "reason", "incomingReferral", "appointment", "diagnosis"}


HANDLERS: dict[str, Handler] = {
    "Patient": _patient,
    "Location": _location,
    "Condition": _condition,
    "AllergyIntolerance": _allergy_intolerance,
    "MedicationStatement": _medication_statement,
    "Encounter": _encounter,
}


# -- helpers -----------------------------------------------------------------------------------------------
def _ods_code(organization: JSON) -> str | None:
    for identifier in organization.get("identifier", []):
        if identifier.get("system") == ODS_ORGANIZATION_SYSTEM and identifier.get("value"):
            return str(identifier["value"]).upper()
    return None


def r4_system(system: str) -> str:
    """A code system's R4 URL (HL7 moved many to terminology.hl7.org); others are unchanged."""
    if system in RENAMED_SYSTEMS:
        return RENAMED_SYSTEMS[system]
    if found := _V2.match(system):
        return f"http://terminology.hl7.org/CodeSystem/v2-{found[1]}"
    if found := _V3.match(system):
        return f"http://terminology.hl7.org/CodeSystem/v3-{found[1]}"
    return system


def _r4_systems(node: Any) -> Any:
    if isinstance(node, list):
        return [_r4_systems(item) for item in node]
    if isinstance(node, dict):
        return {
            key: (r4_system(item) if key == "system" and isinstance(item, str) else _r4_systems(item))
            for key, item in node.items()
        }
    return node


def _is_extension(node: JSON) -> bool:
    return any(key.startswith("value") for key in node) or "extension" in node


# R4 elements that come from an STU3 element of another name, for ordering the output like its source.
_FROM = {
    "recordedDate": "assertedDate",
    "encounter": "context",
    "reasonCode": "reason",
    "basedOn": "incomingReferral",
    "medicationCodeableConcept": "medicationReference",
    "statusReason": "reasonNotTaken",
}


def _ordered(resource: JSON, source: JSON) -> JSON:
    """The elements in the order of the STU3 elements they come from (resourceType and id first), so the
    stored JSON reads like what was sent."""
    position = {key: index for index, key in enumerate(source)}
    position.update({"resourceType": -2, "id": -1})

    def rank(key: str) -> int:
        return position.get(key, position.get(_FROM.get(key, ""), len(position)))

    return {key: resource[key] for key in sorted(resource, key=rank)}
