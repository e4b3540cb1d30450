"""ADT message -> FHIR R4 facts. Pure: no database, no sockets. The mapping table is in MAPPING.md.

`map_message` returns what one message says: the Patient as this message sees it, the visit event
(folded with the visit's other events into the Encounter by `visits.fold`), diagnoses, allergies,
next of kin and, for merges, the record being merged away. Whatever is wrong in the message raises
MessageInvalid (ACK AE) naming the segment and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adapters.encounter_codes import (
    AMBULATORY,
    DESTINATION_DIED,
    EMERGENCY,
    INPATIENT,
    PRE_ADMISSION,
)
from adapters.hl7v2.datatypes import (
    address,
    at,
    codeable_concept,
    contact_point,
    human_name,
    ods_reference,
    organization_code,
    practitioner_reference,
)
from adapters.hl7v2.errors import MessageInvalid, MessageRejected
from adapters.hl7v2.parser import Message, Segment
from adapters.hospital.icd10 import BadIcd10, normalise_icd10
from adapters.identity import NHS_NUMBER_SYSTEM, derived_id, local_system, spell_condition_id, spell_encounter_id
from adapters.localtime import BadTimestamp, hl7_to_date, hl7_to_fhir
from fhir_profiles.nhs_number import is_valid_nhs_number

JSON = dict[str, Any]

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2")
VISIT_EVENTS = {"A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A12", "A13"}
PATIENT_EVENTS = {"A28", "A31"}
MERGE_EVENTS = {"A34", "A40"}
MAPPED_EVENTS = VISIT_EVENTS | PATIENT_EVENTS | MERGE_EVENTS

NHS_STATUS_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
NHS_STATUS_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
NHS_STATUS = {
    "01": "Number present and verified",
    "02": "Number present but not traced",
    "03": "Trace required",
    "04": "Trace attempted - No match or multiple match found",
    "05": "Trace needs to be resolved - (NHS Number or patient detail conflict)",
    "06": "Trace in progress",
    "07": "Number not present and trace not required",
    "08": "Trace postponed (baby under six weeks old)",
}
ETHNIC_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
ETHNIC_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"
ETHNIC_CODES = set("ABCDEFGHJKLMNPRSZ")
ODS_CODE = re.compile(r"[A-Za-z0-9]{3,10}")
GENDER = {"M": "male", "1": "male", "F": "female", "2": "female", "U": "unknown", "0": "unknown", "9": "unknown"}
GENDER.update({"O": "other", "A": "other", "N": "other", "X": "other"})
PATIENT_CLASS = {"I": INPATIENT, "O": AMBULATORY, "E": EMERGENCY, "P": PRE_ADMISSION, "R": AMBULATORY}
ICD10 = "http://hl7.org/fhir/sid/icd-10"
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CATEGORY = {"DA": "medication", "FA": "food", "EA": "environment", "MA": "medication", "AA": "environment"}
ALLERGY_SEVERITY = {"SV": ("high", "severe"), "MO": ("low", "moderate"), "MI": ("low", "mild")}


@dataclass(frozen=True)
class Header:
    sending_application: str
    sending_facility: str
    control_id: str
    message_code: str
    trigger: str
    version: str
    event_time: str  # FHIR dateTime: EVN-2 (recorded), else MSH-7
    sort_time: datetime | None  # the same instant for ordering; None when only a date is known


@dataclass(frozen=True)
class VisitEvent:
    """What one message says about a visit; `visits.fold` turns a visit's events into its Encounter."""

    trigger: str
    sort_time: datetime | None
    control_id: str
    patient_class: JSON | None
    location: JSON | None
    admitted: str
    discharged: str
    admission_method: str
    discharge_destination: str
    discharge_disposition_text: str
    hospital_service: str
    attending: JSON | None
    deceased: bool


@dataclass
class MappedMessage:
    header: Header
    patient_id: str = ""
    patient: JSON | None = None
    practice: JSON | None = None  # Organization for PD1-3
    visit_key: str = ""
    encounter_id: str = ""
    visit: VisitEvent | None = None
    conditions: list[JSON] = field(default_factory=list)
    allergies: list[JSON] = field(default_factory=list)
    related: list[JSON] = field(default_factory=list)
    merged_patient_id: str = ""  # A40/A34: the record merged into patient_id
    service_provider: str = ""
    # Set by the processor before writing: when the message is processed, and the Encounter and Provenance
    # as they come out if the store changes nothing (a visit's first message, no merge), prepared in advance.
    recorded: str = ""
    encounter: JSON | None = None
    provenance: JSON | None = None

    @property
    def mapped(self) -> bool:
        """False for events we store raw only."""
        return self.patient is not None


def header_of(message: Message) -> Header:
    """The MSH/EVN facts every message must have. Raises MessageRejected when it cannot be used."""
    msh = message.msh
    if not message.message_code:
        raise MessageRejected("MSH-9 (message type) is empty", code="101", segment="MSH", field=9)
    if not message.control_id:
        raise MessageRejected("MSH-10 (message control id) is empty", code="101", segment="MSH", field=10)
    # The message store keys on these (sender 200, control id 200, type 40 characters; PostgreSQL enforces it).
    for field_no, value in ((4, message.sending_facility), (10, message.control_id)):
        if len(value) > 199:
            raise MessageRejected(
                f"MSH-{field_no} is longer than 199 characters", code="102", segment="MSH", field=field_no
            )
    version = message.version
    if version not in SUPPORTED_VERSIONS:
        shown = f"'{version}'" if version else "empty"
        raise MessageRejected(
            f"MSH-12 version {shown} is not supported (2.3 to 2.8.2 are)", code="203", segment="MSH", field=12
        )
    evn = message.first("EVN")
    recorded = evn.get(2) if evn else ""
    where = ("EVN", 2) if recorded else ("MSH", 7)
    event_text = recorded or msh.get(7)
    if not event_text:
        raise MessageInvalid("MSH-7 (date/time of message) is empty", code="101", segment="MSH", field=7)
    event_time = _time(event_text, *where)
    trigger = (message.trigger_event or (evn.get(1) if evn else "")).upper()
    if len(message.message_code) + len(trigger) > 39:
        raise MessageRejected("MSH-9 message code and trigger event are too long", code="102", segment="MSH", field=9)
    return Header(
        sending_application=message.sending_application,
        sending_facility=message.sending_facility,
        control_id=message.control_id,
        message_code=message.message_code,
        trigger=trigger,
        version=version,
        event_time=event_time,
        sort_time=_sortable(event_time),
    )


def map_message(message: Message, header: Header | None = None) -> MappedMessage:
    """What the message says; `header` is header_of(message) when the caller has it already."""
    header = header or header_of(message)
    result = MappedMessage(header)
    if header.message_code != "ADT" or header.trigger not in MAPPED_EVENTS:
        return result
    pid = message.first("PID")
    if pid is None:
        raise MessageInvalid(f"ADT^{header.trigger} needs a PID segment", code="100", segment="PID")
    result.patient_id, identifiers = _patient_identity(pid, header)
    result.patient = _patient(pid, identifiers, result.patient_id)
    pd1 = message.first("PD1")
    if pd1 is not None:
        result.practice = _registered_practice(pd1, result.patient)
    if header.trigger in MERGE_EVENTS:
        result.merged_patient_id = _merged_patient(message, header)
    patient_ref = {"reference": f"Patient/{result.patient_id}"}
    pv1 = message.first("PV1")
    if header.trigger in VISIT_EVENTS:
        if pv1 is None:
            raise MessageInvalid(f"ADT^{header.trigger} needs a PV1 segment", code="100", segment="PV1")
        result.visit_key, result.encounter_id = _visit_identity(pv1, header, result.patient_id)
        result.visit = _visit_event(pv1, message.first("PV2"), header)
        result.service_provider = header.sending_facility
        if result.visit.deceased and "deceasedDateTime" not in result.patient:
            result.patient["deceasedDateTime"] = result.visit.discharged or header.event_time
    encounter_ref = {"reference": f"Encounter/{result.encounter_id}"} if result.encounter_id else None
    for index, dg1 in enumerate(message.all("DG1"), start=1):
        condition = _condition(dg1, index, header, patient_ref, encounter_ref, result.visit_key or result.patient_id)
        if condition:
            result.conditions.append(condition)
    for index, al1 in enumerate(message.all("AL1"), start=1):
        allergy = _allergy(al1, index, header, result.patient_id, patient_ref)
        if allergy:
            result.allergies.append(allergy)
    for index, nk1 in enumerate(message.all("NK1"), start=1):
        related = _related_person(nk1, index, result.patient_id, patient_ref)
        if related:
            result.related.append(related)
    return result


# -- patient -----------------------------------------------------------------------------------------
def _patient_identity(pid: Segment, header: Header) -> tuple[str, list[JSON]]:
    """PID-3 identifiers (PID-2 and PID-4 too, for older senders). The NHS number is the Patient id;
    without one, the first local number is hashed into the id."""
    identifiers: list[JSON] = []
    nhs_number = ""
    local_key: tuple[str, str] | None = None
    for field_no in (3, 2, 4):
        for rep in range(len(pid.repetitions(field_no))):
            c = pid.components(field_no, rep)
            value = at(c, 1).replace(" ", "")
            if not value:
                continue
            authority = at(c, 4)
            id_type = at(c, 5).upper()
            if authority.upper() == "NHS" or id_type == "NH":
                if not is_valid_nhs_number(value):
                    raise MessageInvalid(
                        f"PID-{field_no} NHS number '{value}' is not valid (10 digits with a Modulus 11 check digit)",
                        code="102",
                        segment="PID",
                        field=field_no,
                    )
                if not nhs_number:
                    nhs_number = value
                    identifiers.insert(0, _nhs_identifier(value, pid.get(32)))
                continue
            system = local_system("patient", authority or header.sending_facility)
            identifier: JSON = {"system": system, "value": value}
            if id_type:
                identifier["type"] = {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": id_type}]
                }
            if not any(i["system"] == system and i["value"] == value for i in identifiers):
                identifiers.append(identifier)
            if local_key is None:
                local_key = (system, value)
    if nhs_number:
        return nhs_number, identifiers
    if local_key is None:
        raise MessageInvalid("PID-3 has no patient identifier", code="101", segment="PID", field=3)
    return derived_id("patient", *local_key), identifiers


def _nhs_identifier(value: str, status: str) -> JSON:
    identifier: JSON = {"system": NHS_NUMBER_SYSTEM, "value": value}
    code = status.strip().zfill(2) if status.strip().isdigit() else ""
    if code in NHS_STATUS:
        coding = {"system": NHS_STATUS_SYSTEM, "code": code, "display": NHS_STATUS[code]}
        identifier["extension"] = [{"url": NHS_STATUS_EXTENSION, "valueCodeableConcept": {"coding": [coding]}}]
    return identifier


def _patient(pid: Segment, identifiers: list[JSON], patient_id: str) -> JSON:
    patient: JSON = {"resourceType": "Patient", "id": patient_id, "identifier": identifiers}
    names = [n for rep in range(len(pid.repetitions(5))) if (n := human_name(pid.components(5, rep)))]
    if names:
        patient["name"] = names
    telecom = [p for rep in range(len(pid.repetitions(13))) if (p := contact_point(pid.components(13, rep)))]
    for rep in range(len(pid.repetitions(14))):
        if work := contact_point(pid.components(14, rep)):
            telecom.append({**work, "use": "work"})
    if telecom:
        patient["telecom"] = telecom
    if sex := pid.get(8).upper():
        if sex not in GENDER:
            raise MessageInvalid(f"PID-8 sex '{sex}' is not a known code", code="103", segment="PID", field=8)
        patient["gender"] = GENDER[sex]
    if born := pid.get(7):
        patient["birthDate"] = _date(born, "PID", 7)
    if died := pid.get(29):
        patient["deceasedDateTime"] = _time(died, "PID", 29)
    elif pid.get(30).upper() == "Y":
        patient["deceasedBoolean"] = True
    addresses = [a for rep in range(len(pid.repetitions(11))) if (a := address(pid.components(11, rep)))]
    if addresses:
        patient["address"] = addresses
    ethnic = pid.get(22).upper()
    if ethnic in ETHNIC_CODES:
        coding = {"system": ETHNIC_SYSTEM, "code": ethnic}
        patient["extension"] = [{"url": ETHNIC_EXTENSION, "valueCodeableConcept": {"coding": [coding]}}]
    return patient


def _registered_practice(pd1: Segment, patient: JSON) -> JSON | None:
    """PD1-3 (the registered practice, by ODS code) and PD1-4 (the GP) become generalPractitioner."""
    code, name = organization_code(pd1.components(3))
    references: list[JSON] = []
    practice = None
    if code and not ODS_CODE.fullmatch(code):  # it becomes the Organization's id
        raise MessageInvalid(f"PD1-3 ODS code '{code[:20]}' is not an ODS code", code="102", segment="PD1", field=3)
    if code:
        references.append(ods_reference(code, name))
        practice = {"resourceType": "Organization", "id": code, "active": True}
        practice["identifier"] = [{"system": references[0]["identifier"]["system"], "value": code}]
        if name:
            practice["name"] = name
    if gp := practitioner_reference(pd1.components(4)):
        references.append(gp)
    if references:
        patient["generalPractitioner"] = references
    return practice


def _merged_patient(message: Message, header: Header) -> str:
    mrg = message.first("MRG")
    if mrg is None:
        raise MessageInvalid(f"ADT^{header.trigger} needs an MRG segment", code="100", segment="MRG")
    fake_pid = Segment("PID", ["PID", "", "", mrg.raw(1)], mrg.delimiters)
    try:
        merged_id, _ = _patient_identity(fake_pid, header)
    except MessageInvalid as exc:
        raise MessageInvalid(exc.message.replace("PID-3", "MRG-1"), code=exc.code, segment="MRG", field=1) from None
    return merged_id


# -- visit ---------------------------------------------------------------------------------------------
def _visit_identity(pv1: Segment, header: Header, patient_id: str) -> tuple[str, str]:
    """The visit is PV1-19 (visit number) at the sending facility; without one, the patient's
    admission time (PV1-44) names it, and without that the message itself."""
    visit = pv1.get(19)
    if len(visit) > 99 or len(pv1.get(19, 4)) > 99:  # the store's visit key holds facility|authority|number
        raise MessageInvalid("PV1-19 (visit number) is longer than 99 characters", code="102", segment="PV1", field=19)
    if visit:  # the provider's spell number: the same Encounter as the APC extract's spell
        key = f"{header.sending_facility}|{pv1.get(19, 4) or 'visit'}|{visit}"
        return key, spell_encounter_id(header.sending_facility, visit)
    if admitted := pv1.get(44):
        key = f"{header.sending_facility}|{patient_id}|admitted|{admitted}"
    else:
        key = f"{header.sending_facility}|message|{header.control_id}"
    return key, derived_id("enc", key)


def _visit_event(pv1: Segment, pv2: Segment | None, header: Header) -> VisitEvent:
    admitted = _time(pv1.get(44), "PV1", 44) if pv1.get(44) else ""
    discharged = _time(pv1.get(45), "PV1", 45) if pv1.get(45) else ""
    start, end = _sortable(admitted), _sortable(discharged)
    if start and end and end < start:
        raise MessageInvalid(
            f"PV1-45 discharge {pv1.get(45)} is before PV1-44 admission {pv1.get(44)}",
            code="102",
            segment="PV1",
            field=45,
        )
    location = _location(pv1.components(3), header.sending_facility)
    destination = pv1.get(36)
    return VisitEvent(
        trigger=header.trigger,
        sort_time=header.sort_time,
        control_id=header.control_id,
        patient_class=PATIENT_CLASS.get(pv1.get(2).upper()),
        location=location,
        admitted=admitted,
        discharged=discharged,
        admission_method=pv1.get(4).upper(),
        discharge_destination=destination,
        discharge_disposition_text=pv1.get(37),
        hospital_service=pv1.get(10),
        attending=practitioner_reference(pv1.components(7)),
        deceased=destination == DESTINATION_DIED and header.trigger == "A03",
    )


def _location(c: list[str], facility: str) -> JSON | None:
    """PL: point of care^room^bed^facility; kept as a logical reference with a readable display."""
    parts = [v for v in (at(c, 1), at(c, 2), at(c, 3)) if v]
    if not parts:
        return None
    site = at(c, 4) or facility
    return {
        "identifier": {"system": local_system("location", site), "value": "/".join(parts)},
        "display": ", ".join(parts),
    }


# -- clinical -------------------------------------------------------------------------------------------
def _condition(
    dg1: Segment, index: int, header: Header, patient_ref: JSON, encounter_ref: JSON | None, scope: str
) -> JSON | None:
    code = codeable_concept(dg1.components(3))
    if code is None and dg1.get(4):
        code = {"text": dg1.get(4)}
    if code is None:
        raise MessageInvalid(f"DG1 {index} has no diagnosis code (DG1-3)", code="101", segment="DG1", field=3)
    if code.get("coding") and "system" not in code["coding"][0]:
        code["coding"][0]["system"] = "http://hl7.org/fhir/sid/icd-10"  # ITK: DG1-3 is ICD-10
    key = code["coding"][0]["code"] if code.get("coding") else code["text"]
    condition: JSON = {
        "resourceType": "Condition",
        "id": _condition_id(header, scope, code, key),
        "clinicalStatus": {"coding": [{"system": CLINICAL_STATUS, "code": "active"}]},
        "category": [{"coding": [{"system": CATEGORY, "code": "encounter-diagnosis"}]}],
        "code": code,
        "subject": patient_ref,
    }
    if encounter_ref:
        condition["encounter"] = encounter_ref
    recorded = dg1.get(5)
    condition["recordedDate"] = _time(recorded, "DG1", 5) if recorded else header.event_time
    return condition


def _allergy(al1: Segment, index: int, header: Header, patient_id: str, patient_ref: JSON) -> JSON | None:
    allergen = codeable_concept(al1.components(3))
    if allergen is None:
        raise MessageInvalid(f"AL1 {index} has no allergen (AL1-3)", code="101", segment="AL1", field=3)
    key = allergen["coding"][0]["code"] if allergen.get("coding") else allergen["text"]
    allergy: JSON = {
        "resourceType": "AllergyIntolerance",
        "id": derived_id("allergy", patient_id, key),
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}
            ]
        },
        "code": allergen,
        "patient": patient_ref,
        "recordedDate": header.event_time,
    }
    if category := ALLERGY_CATEGORY.get(al1.get(2).upper()):
        allergy["category"] = [category]
    if severity := ALLERGY_SEVERITY.get(al1.get(4).upper()):
        allergy["criticality"] = severity[0]
    if reaction := al1.get(5):
        manifestation: JSON = {"manifestation": [{"text": reaction}]}
        if severity:
            manifestation["severity"] = severity[1]
        allergy["reaction"] = [manifestation]
    if identified := al1.get(6):
        allergy["onsetDateTime"] = _time(identified, "AL1", 6)
    return allergy


def _related_person(nk1: Segment, index: int, patient_id: str, patient_ref: JSON) -> JSON | None:
    name = human_name(nk1.components(2))
    if name is None:
        return None
    relationship = codeable_concept(nk1.components(3))
    key = f"{name.get('family', '')}|{' '.join(name.get('given', []))}"
    person: JSON = {
        "resourceType": "RelatedPerson",
        "id": derived_id("rp", patient_id, key),
        "active": True,
        "patient": patient_ref,
        "name": [name],
    }
    if relationship:
        relationship.setdefault("text", relationship["coding"][0]["code"] if "coding" in relationship else "")
        person["relationship"] = [relationship]
    if where := address(nk1.components(4)):
        person["address"] = [where]
    if phone := contact_point(nk1.components(5)):
        person["telecom"] = [phone]
    return person


def _condition_id(header: Header, scope: str, code: JSON, key: str) -> str:
    """An ICD-10 diagnosis of a numbered visit gets the id the APC extract gives the same diagnosis of
    the same spell; anything else is scoped to the visit (or the patient) and the code as sent."""
    facility, _, visit = scope.split("|", 2) if scope.count("|") == 2 else ("", "", "")
    coding = code.get("coding", [{}])[0]
    if visit and "|admitted|" not in scope and "|message|" not in scope and coding.get("system") == ICD10:
        try:
            return spell_condition_id(facility, visit, normalise_icd10(key))
        except BadIcd10:
            pass
    return derived_id("cond", scope, key)


# -- values ---------------------------------------------------------------------------------------------
def _time(text: str, segment: str, field_no: int) -> str:
    try:
        return hl7_to_fhir(text)
    except BadTimestamp as exc:
        raise MessageInvalid(f"{segment}-{field_no}: {exc}", code="102", segment=segment, field=field_no) from None


def _date(text: str, segment: str, field_no: int) -> str:
    try:
        return hl7_to_date(text)
    except BadTimestamp as exc:
        raise MessageInvalid(f"{segment}-{field_no}: {exc}", code="102", segment=segment, field=field_no) from None


def _sortable(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if "T" in value else None
