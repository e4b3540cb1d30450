"""The code lists stratification counts with, loaded from the CSV files in `codelists/` (sources and
the way each list was built are in `codelists/SOURCES.md`).

- ltc.csv: long-term conditions, each as SNOMED CT concepts (GP records) and ICD-10 prefixes (hospital);
- efi.csv: the electronic Frailty Index's deficits as SNOMED CT concepts (polypharmacy is computed
  from medications, so it has no codes);
- hfrs.csv: the Hospital Frailty Risk Score's 109 ICD-10 three-character groups and their weights.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

EFI_DEFICITS = (
    "activity-limitation",
    "anaemia",
    "arthritis",
    "atrial-fibrillation",
    "cerebrovascular-disease",
    "chronic-kidney-disease",
    "diabetes",
    "dizziness",
    "dyspnoea",
    "falls",
    "foot-problems",
    "fragility-fracture",
    "hearing-impairment",
    "heart-failure",
    "heart-valve-disease",
    "housebound",
    "hypertension",
    "hypotension-syncope",
    "ischaemic-heart-disease",
    "memory-cognitive-problems",
    "mobility-transfer-problems",
    "osteoporosis",
    "parkinsonism-tremor",
    "peptic-ulcer",
    "peripheral-vascular-disease",
    "polypharmacy",
    "requirement-for-care",
    "respiratory-disease",
    "skin-ulcer",
    "sleep-disturbance",
    "social-vulnerability",
    "thyroid-disease",
    "urinary-incontinence",
    "urinary-system-disease",
    "visual-impairment",
    "weight-loss-anorexia",
)
"""The 36 deficits of Clegg et al. 2016, in the paper's (alphabetical) order."""
POLYPHARMACY = "polypharmacy"
POLYPHARMACY_MEDICINES = 5  # five or more different medications in the last 12 months


def normalise_icd10(code: str) -> str:
    """`I50.9` -> `I509`: ICD-10 codes compare without the dot, upper case."""
    return code.replace(".", "").replace(" ", "").strip().upper()


@dataclass(frozen=True)
class CodeLists:
    ltc_snomed: Mapping[str, str]  # SNOMED CT concept id -> long-term condition
    ltc_icd10: Mapping[str, str]  # normalised ICD-10 prefix -> long-term condition
    ltc_terms: Mapping[str, str]  # long-term condition -> its name for people
    efi_snomed: Mapping[str, str]  # SNOMED CT concept id -> eFI deficit
    hfrs: Mapping[str, float]  # ICD-10 three-character group -> HFRS weight

    def ltc_of_icd10(self, code: str) -> str | None:
        """The condition of the longest listed prefix the code starts with."""
        normal = normalise_icd10(code)
        for length in range(len(normal), 0, -1):
            condition = self.ltc_icd10.get(normal[:length])
            if condition is not None:
                return condition
        return None

    def hfrs_group(self, code: str) -> str | None:
        """The HFRS group a diagnosis falls in (its first three characters), if it is one of the 109."""
        group = normalise_icd10(code)[:3]
        return group if group in self.hfrs else None


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("stratify").joinpath("codelists", name).read_text(encoding="utf-8")
    return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(text.splitlines())]


@functools.cache
def load_codelists() -> CodeLists:
    """The packaged lists (read once per process)."""
    ltc_snomed: dict[str, str] = {}
    ltc_icd10: list[tuple[str, str]] = []
    ltc_terms: dict[str, str] = {}
    for row in _rows("ltc.csv"):
        ltc_terms.setdefault(row["condition"], row["condition_name"])
        if row["system"] == "snomed":
            ltc_snomed[row["code"]] = row["condition"]
        elif row["system"] == "icd10":
            prefix = normalise_icd10(row["code"])
            if any(p == prefix and c != row["condition"] for p, c in ltc_icd10):
                raise ValueError(f"ltc.csv: ICD-10 prefix {row['code']} is listed for two conditions")
            ltc_icd10.append((prefix, row["condition"]))
        else:
            raise ValueError(f"ltc.csv: unknown system '{row['system']}' for {row['code']}")
    efi = {row["snomed"]: row["deficit"] for row in _rows("efi.csv")}
    unknown = set(efi.values()) - set(EFI_DEFICITS)
    if unknown:
        raise ValueError(f"efi.csv names deficits that are not in the eFI: {sorted(unknown)}")
    hfrs = {normalise_icd10(row["icd10"]): float(row["weight"]) for row in _rows("hfrs.csv")}
    return CodeLists(
        ltc_snomed=ltc_snomed,
        ltc_icd10=dict(ltc_icd10),
        ltc_terms=ltc_terms,
        efi_snomed=efi,
        hfrs=hfrs,
    )
