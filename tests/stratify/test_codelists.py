"""The stratification code lists: complete, well formed, real-looking codes, and they find every code the
synthetic county writes."""

from __future__ import annotations

import csv
import re
from collections import Counter
from importlib import resources

import pytest

from adapters.snomed import is_sctid
from stratify.codelists import EFI_DEFICITS, POLYPHARMACY, load_codelists, normalise_icd10
from synth import codes

ICD10_PREFIX = re.compile(r"^[A-Z]\d{2}[0-9A-Z]?$")  # a 3-character category, or a 4-character subcategory
HFRS_GROUP = re.compile(r"^[A-Z]\d{2}$")

# What each synthetic condition counts as in the eFI (depression is not one of its deficits).
SYNTH_EFI = {
    "38341003": "hypertension",
    "44054006": "diabetes",
    "13645005": "respiratory-disease",
    "195967001": "respiratory-disease",
    "84114007": "heart-failure",
    "49436004": "atrial-fibrillation",
    "433144002": "chronic-kidney-disease",
    "414545008": "ischaemic-heart-disease",
    "230690007": "cerebrovascular-disease",
    "52448006": "memory-cognitive-problems",
    "396275006": "arthritis",
    "64859006": "osteoporosis",
    "49049000": "parkinsonism-tremor",
}
SYNTH_DEFICITS = {
    "1912002": "falls",
    "15188001": "hearing-impairment",
    "165232002": "urinary-incontinence",
    "386807006": "memory-cognitive-problems",
    "160689007": "housebound",
    "404640003": "dizziness",
    "267036007": "dyspnoea",
    "397540003": "visual-impairment",
    "105529008": "social-vulnerability",
}


def rows(name: str) -> list[dict[str, str]]:
    text = resources.files("stratify").joinpath("codelists", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@pytest.fixture(scope="module")
def lists():
    return load_codelists()


# --- the files themselves ---


def test_headers():
    assert list(rows("ltc.csv")[0]) == ["condition", "condition_name", "system", "code", "term"]
    assert list(rows("efi.csv")[0]) == ["deficit", "snomed", "term"]
    assert list(rows("hfrs.csv")[0]) == ["icd10", "weight", "description"]


@pytest.mark.parametrize("name", ["ltc.csv", "efi.csv", "hfrs.csv"])
def test_every_cell_filled(name):
    for row in rows(name):
        assert all(value and value.strip() == value for value in row.values()), row


def test_sources_documented():
    text = resources.files("stratify").joinpath("codelists", "SOURCES.md").read_text(encoding="utf-8")
    for needle in ("Clegg", "Gilbert", "Quality and Outcomes Framework", "Barnett"):
        assert needle in text


# --- eFI ---


def test_efi_has_36_deficits():
    assert len(EFI_DEFICITS) == 36
    assert len(set(EFI_DEFICITS)) == 36
    assert POLYPHARMACY in EFI_DEFICITS


def test_efi_names_only_efi_deficits():
    assert {row["deficit"] for row in rows("efi.csv")} <= set(EFI_DEFICITS)


def test_every_coded_deficit_has_codes(lists):
    covered = set(lists.efi_snomed.values())
    assert covered == set(EFI_DEFICITS) - {POLYPHARMACY}


def test_polypharmacy_has_no_codes():
    assert not [row for row in rows("efi.csv") if row["deficit"] == POLYPHARMACY]


def test_efi_code_appears_once():
    repeated = [code for code, n in Counter(row["snomed"] for row in rows("efi.csv")).items() if n > 1]
    assert repeated == []


def test_efi_codes_are_sctids():
    bad = [row for row in rows("efi.csv") if not is_sctid(row["snomed"])]
    assert bad == []


# --- long-term conditions ---


def test_ltc_systems():
    assert {row["system"] for row in rows("ltc.csv")} == {"snomed", "icd10"}


def test_ltc_snomed_codes_are_sctids_and_unique():
    snomed = [row["code"] for row in rows("ltc.csv") if row["system"] == "snomed"]
    assert [code for code in snomed if not is_sctid(code)] == []
    assert [code for code, n in Counter(snomed).items() if n > 1] == []


def test_ltc_icd10_prefixes_look_like_icd10():
    icd10 = [row["code"] for row in rows("ltc.csv") if row["system"] == "icd10"]
    assert [code for code in icd10 if not ICD10_PREFIX.match(code)] == []
    assert [code for code, n in Counter(icd10).items() if n > 1] == []


def test_every_condition_has_both_systems_and_one_name():
    by_condition: dict[str, set[str]] = {}
    names: dict[str, set[str]] = {}
    for row in rows("ltc.csv"):
        by_condition.setdefault(row["condition"], set()).add(row["system"])
        names.setdefault(row["condition"], set()).add(row["condition_name"])
    assert all(systems == {"snomed", "icd10"} for systems in by_condition.values()), by_condition
    assert all(len(n) == 1 for n in names.values()), names


def test_ltc_terms(lists):
    assert lists.ltc_terms["heart-failure"] == "Heart failure"
    assert len(lists.ltc_terms) >= 19


@pytest.mark.parametrize(
    ("code", "condition"),
    [
        ("I50.9", "heart-failure"),
        ("I11.0", "heart-failure"),  # the 4-character subcategory wins over I11
        ("I11.9", "hypertension"),
        ("I10", "hypertension"),
        ("e11.9", "diabetes"),
        ("N18.3", "chronic-kidney-disease"),
        ("N18.5", "chronic-kidney-disease"),
        ("J44.1", "copd"),
        ("J45.9", "asthma"),
        ("I48.9", "atrial-fibrillation"),
        ("I25.9", "coronary-heart-disease"),
        ("I64", "stroke-tia"),
        ("G45.9", "stroke-tia"),
        ("F03", "dementia"),
        ("C50.9", "cancer"),
        ("G20", "parkinsons-disease"),
        ("M81.9", "osteoporosis"),
        ("M19.9", "osteoarthritis"),
        ("F32.9", "depression"),
    ],
)
def test_ltc_of_icd10(lists, code, condition):
    assert lists.ltc_of_icd10(code) == condition


@pytest.mark.parametrize("code", ["C44.9", "N18.1", "N18.2", "J18.9", "R55", "", "I1"])
def test_ltc_of_icd10_outside_the_list(lists, code):
    assert lists.ltc_of_icd10(code) is None


# --- HFRS ---


def test_hfrs_has_109_groups_summing_to_173_2(lists):
    assert len(rows("hfrs.csv")) == 109
    assert len(lists.hfrs) == 109
    assert round(sum(lists.hfrs.values()), 1) == 173.2


def test_hfrs_groups_are_three_characters():
    assert [row["icd10"] for row in rows("hfrs.csv") if not HFRS_GROUP.match(row["icd10"])] == []


def test_hfrs_weights(lists):
    assert lists.hfrs["F00"] == 7.1  # the heaviest
    assert lists.hfrs["R50"] == 0.1  # the lightest
    assert lists.hfrs["F05"] == 3.2
    assert min(lists.hfrs.values()) > 0


@pytest.mark.parametrize(
    ("code", "group"),
    [("F00.1", "F00"), ("f001", "F00"), ("W19", "W19"), ("S72.0", "S72"), ("R29.6", "R29"), ("I10", None), ("", None)],
)
def test_hfrs_group(lists, code, group):
    assert lists.hfrs_group(code) == group


# --- normalising ---


@pytest.mark.parametrize(
    ("code", "normal"),
    [("I50.9", "I509"), ("i50.9", "I509"), (" N18.3 ", "N183"), ("F00.1", "F001"), ("R55", "R55"), ("E11 .9", "E119")],
)
def test_normalise_icd10(code, normal):
    assert normalise_icd10(code) == normal


# --- the synthetic county's codes are found ---


@pytest.mark.parametrize("condition", codes.CONDITIONS, ids=lambda c: c.name)
def test_synth_condition_found(lists, condition):
    assert condition.snomed in lists.ltc_snomed
    found = lists.ltc_of_icd10(condition.icd10)
    assert found is not None
    assert found == lists.ltc_snomed[condition.snomed]


@pytest.mark.parametrize("condition", codes.CONDITIONS, ids=lambda c: c.name)
def test_synth_condition_in_efi(lists, condition):
    assert lists.efi_snomed.get(condition.snomed) == SYNTH_EFI.get(condition.snomed)


def test_every_synth_condition_but_depression_is_an_efi_deficit():
    assert {c.snomed for c in codes.CONDITIONS} - set(SYNTH_EFI) == {"35489007"}


@pytest.mark.parametrize("deficit", codes.DEFICITS, ids=lambda d: d.name)
def test_synth_deficit_found(lists, deficit):
    assert lists.efi_snomed.get(deficit.snomed) == SYNTH_DEFICITS[deficit.snomed]


def test_synth_acute_diagnoses_are_not_ltcs(lists):
    assert [code for code in codes.ACUTE_DIAGNOSES if lists.ltc_of_icd10(code)] == []
