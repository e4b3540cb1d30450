"""The clinical codes the synthetic county uses. Real SNOMED CT and ICD-10 codes for common conditions
of older people; the prevalence weights only shape the mix (they are not published rates).

Stratification keeps its own code lists as data (issue: stratify); the codes here are meant to be
found by them, and a test checks every SNOMED code's Verhoeff check digit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    name: str
    snomed: str
    icd10: str
    prevalence: float


@dataclass(frozen=True)
class Deficit:
    """A frailty deficit as GP systems code it (SNOMED CT), with the ICD-10 hospitals use, if any."""

    name: str
    snomed: str
    icd10: str


@dataclass(frozen=True)
class Medicine:
    name: str
    snomed: str  # a SNOMED CT / dm+d medicinal product concept


CONDITIONS = [
    Condition("Hypertension", "38341003", "I10", 30),
    Condition("Type 2 diabetes mellitus", "44054006", "E11.9", 14),
    Condition("Chronic obstructive pulmonary disease", "13645005", "J44.9", 7),
    Condition("Asthma", "195967001", "J45.9", 6),
    Condition("Heart failure", "84114007", "I50.9", 4),
    Condition("Atrial fibrillation", "49436004", "I48.9", 8),
    Condition("Chronic kidney disease stage 3", "433144002", "N18.3", 9),
    Condition("Ischaemic heart disease", "414545008", "I25.9", 10),
    Condition("Cerebrovascular accident", "230690007", "I64", 4),
    Condition("Dementia", "52448006", "F03", 5),
    Condition("Osteoarthritis", "396275006", "M19.9", 12),
    Condition("Osteoporosis", "64859006", "M81.9", 5),
    Condition("Parkinson's disease", "49049000", "G20", 1),
    Condition("Depressive disorder", "35489007", "F32.9", 6),
]

DEFICITS = [
    Deficit("Fall", "1912002", "W19"),
    Deficit("Hearing loss", "15188001", "H91.9"),
    Deficit("Urinary incontinence", "165232002", "R32"),
    Deficit("Memory impairment", "386807006", "R41.3"),
    Deficit("Housebound", "160689007", ""),
    Deficit("Dizziness", "404640003", "R42"),
    Deficit("Dyspnoea", "267036007", "R06.0"),
    Deficit("Visual impairment", "397540003", "H54.7"),
    Deficit("Lives alone", "105529008", "Z60.2"),
]

MEDICINES = [
    Medicine("Simvastatin 40mg tablets", "320000009"),
    Medicine("Amlodipine 5mg tablets", "319283006"),
    Medicine("Paracetamol 500mg tablets", "322236009"),
    Medicine("Bisoprolol 5mg tablets", "318590006"),
    Medicine("Omeprazole 20mg gastro-resistant capsules", "317335000"),
    Medicine("Ramipril 5mg capsules", "318906001"),
    Medicine("Metformin 500mg tablets", "325278007"),
    Medicine("Aspirin 75mg dispersible tablets", "319770009"),
]

# ICD-10 primary diagnoses of emergency admissions that are not long-term conditions.
ACUTE_DIAGNOSES = ["J18.9", "N39.0", "R55", "S72.0", "W19", "R29.6", "F05.9", "E86", "L03.9", "R07.4"]

COMPLAINTS = [
    ("29857009", "Chest pain"),
    ("267036007", "Dyspnoea"),
    ("1912002", "Fall"),
    ("404640003", "Dizziness"),
    ("21522001", "Abdominal pain"),
]

PENICILLIN_ALLERGY = ("91936005", "Allergy to penicillin")
EMERGENCY_METHODS = {"21", "22", "23", "24", "25", "2A", "2B", "2C", "2D", "28"}
