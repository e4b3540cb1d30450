"""How every hospital feed (HL7 v2 ADT, APC and ECDS extracts) codes an Encounter, so stratification
can find emergency admissions and A&E attendances with ordinary FHIR searches:

- `Encounter?type=http://snomed.info/sct|183452005` emergency (non-elective) hospital admissions;
- `Encounter?type=http://snomed.info/sct|8715000` elective admissions;
- `Encounter?type=http://snomed.info/sct|4525004` A&E (emergency department) attendances.

The admission method itself is kept in UK Core's AdmissionMethod extension, the discharge method in
the DischargeMethod extension and the destination in hospitalization.dischargeDisposition, with the
NHS Data Dictionary codes (UK Core CodeSystems UKCore-AdmissionMethodEngland, -DischargeMethodEngland
and -DischargeDestinationEngland).
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

SNOMED = "http://snomed.info/sct"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
ADMISSION_METHOD_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AdmissionMethod"
ADMISSION_METHOD_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdmissionMethodEngland"
DISCHARGE_METHOD_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DischargeMethod"
DISCHARGE_METHOD_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-DischargeMethodEngland"
DISCHARGE_DESTINATION_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-DischargeDestinationEngland"

EMERGENCY_ADMISSION = {"system": SNOMED, "code": "183452005", "display": "Emergency hospital admission"}
ELECTIVE_ADMISSION = {"system": SNOMED, "code": "8715000", "display": "Hospital admission, elective"}
EMERGENCY_ATTENDANCE = {"system": SNOMED, "code": "4525004", "display": "Emergency department patient visit"}

# NHS Data Dictionary "Admission Method" (UK Core CodeSystem UKCore-AdmissionMethodEngland).
ADMISSION_METHODS = {
    "11": "Elective Admission: Waiting list",
    "12": "Elective Admission: Booked",
    "13": "Elective Admission: Planned",
    "21": "Emergency Admission: Emergency Care Department or dental casualty department of the Health Care Provider",
    "22": "Emergency Admission: General Practitioner: after a request for immediate admission",
    "23": "Emergency Admission: Bed bureau",
    "24": "Emergency Admission: Consultant Clinic, of this or another Health Care Provider",
    "25": "Emergency Admission: Admission via Mental Health Crisis Resolution Team",
    "2A": "Emergency Admission: Emergency Care Department of another provider",
    "2B": "Emergency Admission: Transfer of an admitted Patient from another Hospital Provider in an emergency",
    "2C": "Emergency Admission: Baby born at home as intended",
    "2D": "Emergency Admission: Other emergency admission",
    "28": "Emergency Admission: Other means",
    "31": "Maternity Admission: Admitted ante partum",
    "32": "Maternity Admission: Admitted post partum",
    "81": "Other Admission: Transfer of any admitted Patient from other Hospital Provider",
    "82": "Other Admission: The birth of a baby in this Health Care Provider",
    "83": "Other Admission: Baby born outside the Health Care Provider",
    "98": "Not applicable",
    "99": "Admission Method not known",
}

# NHS Data Dictionary "Discharge Method" (UKCore-DischargeMethodEngland); 4 means the patient died.
DISCHARGE_METHODS = {
    "1": "Patient discharged on clinical advice or with clinical consent",
    "3": "Patient discharged by mental health review tribunal, Home Secretary or court",
    "4": "Patient died",
    "5": "Stillbirth",
    "6": "Patient discharged him/herself",
    "7": "Patient discharged by a relative or advocate",
    "8": "Not applicable: Hospital Provider Spell not finished",
    "9": "Method of discharge not known",
}
DIED = "4"

# NHS Data Dictionary "Discharge Destination" (UKCore-DischargeDestinationEngland).
DISCHARGE_DESTINATIONS = {
    "19": "Usual place of residence",
    "29": "Temporary place of residence when usually resident elsewhere",
    "30": "Repatriation from high security psychiatric accommodation",
    "37": "Court",
    "38": "Penal establishment or police station",
    "48": "High Security Psychiatric Hospital, Scotland",
    "49": "NHS other Hospital Provider - high security psychiatric accommodation",
    "50": "NHS other Hospital Provider - medium secure unit",
    "51": "NHS other Hospital Provider - Ward for general patients or the younger physically disabled",
    "52": "NHS other Hospital Provider - Ward for maternity patients or Neonates",
    "53": "NHS other Hospital Provider - Ward for patients who are mentally ill or have Learning Disabilities",
    "54": "NHS run Care Home",
    "65": "Local Authority residential accommodation",
    "66": "Local Authority foster care",
    "79": "Not applicable - Patient died or stillbirth",
    "84": "Non-NHS run hospital - medium secure unit",
    "85": "Non-NHS (other than Local Authority) run Care Home",
    "87": "Non-NHS run hospital",
    "88": "Non-NHS (other than Local Authority) run Hospice",
    "98": "Not applicable - Hospital Provider Spell not finished at episode end",
    "99": "Not known",
}
DESTINATION_DIED = "79"


def is_emergency_admission(method: str) -> bool:
    """Admission methods 21-2D (and the retired 28) are emergency, i.e. non-elective, admissions."""
    return method.upper() in {"21", "22", "23", "24", "25", "2A", "2B", "2C", "2D", "28"}


def is_elective_admission(method: str) -> bool:
    return method in {"11", "12", "13"}


def admission_coding(method: str) -> tuple[list[JSON], JSON | None, JSON | None]:
    """For an admission method code: (Encounter.type codings, Encounter.priority, hospitalization
    extension). Unknown codes give no coding rather than a wrong one."""
    method = method.strip().upper()
    if method not in ADMISSION_METHODS:
        return [], None, None
    extension = {
        "url": ADMISSION_METHOD_EXTENSION,
        "valueCodeableConcept": {
            "coding": [{"system": ADMISSION_METHOD_SYSTEM, "code": method, "display": ADMISSION_METHODS[method]}]
        },
    }
    if is_emergency_admission(method):
        priority = {"coding": [{"system": ACT_PRIORITY, "code": "EM", "display": "emergency"}]}
        return [EMERGENCY_ADMISSION], priority, extension
    if is_elective_admission(method):
        priority = {"coding": [{"system": ACT_PRIORITY, "code": "EL", "display": "elective"}]}
        return [ELECTIVE_ADMISSION], priority, extension
    return [], None, extension


def discharge_method_extension(method: str) -> JSON | None:
    method = method.strip()
    if method not in DISCHARGE_METHODS:
        return None
    coding = {"system": DISCHARGE_METHOD_SYSTEM, "code": method, "display": DISCHARGE_METHODS[method]}
    return {"url": DISCHARGE_METHOD_EXTENSION, "valueCodeableConcept": {"coding": [coding]}}


def discharge_destination(destination: str) -> JSON | None:
    destination = destination.strip()
    if destination not in DISCHARGE_DESTINATIONS:
        return None
    display = DISCHARGE_DESTINATIONS[destination]
    return {"coding": [{"system": DISCHARGE_DESTINATION_SYSTEM, "code": destination, "display": display}]}


def encounter_class(code: str, display: str) -> JSON:
    return {"system": ACT_CODE, "code": code, "display": display}


INPATIENT = encounter_class("IMP", "inpatient encounter")
AMBULATORY = encounter_class("AMB", "ambulatory")
EMERGENCY = encounter_class("EMER", "emergency")
PRE_ADMISSION = encounter_class("PRENC", "pre-admission")
