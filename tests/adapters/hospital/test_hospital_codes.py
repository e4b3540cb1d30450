"""ICD-10 normalisation and SNOMED CT identifier checks used by the hospital extracts."""

from __future__ import annotations

import pytest

from adapters.hospital.icd10 import BadIcd10, normalise_icd10
from adapters.snomed import is_sctid


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("J44.1", "J44.1"),
        ("J441", "J44.1"),
        ("j44.1", "J44.1"),
        (" J441 ", "J44.1"),
        ("I10", "I10"),
        ("I10X", "I10"),
        ("I10.X", "I10"),
        ("I10-", "I10"),
        ("M8008", "M80.08"),
        ("M80.08", "M80.08"),
        ("A170D", "A17.0"),  # SUS dagger marker
        ("G01XA", "G01"),  # SUS asterisk marker
        ("A17.0†", "A17.0"),
        ("G01X*", "G01"),
    ],
)
def test_icd10_codes_are_normalised_to_the_dotted_form(written: str, normal: str) -> None:
    assert normalise_icd10(written) == normal


@pytest.mark.parametrize("bad", ["", "J4", "44.1", "J44.123", "JJ44", "J44.1X", "HELLO", "J44;I10"])
def test_text_that_is_not_icd10_is_refused_naming_the_value(bad: str) -> None:
    with pytest.raises(BadIcd10, match="is not an ICD-10 code"):
        normalise_icd10(bad)


@pytest.mark.parametrize("code", ["183452005", "8715000", "4525004", "29857009", "306689006", "1066331000000109"])
def test_real_snomed_identifiers_pass_the_verhoeff_check(code: str) -> None:
    assert is_sctid(code)


@pytest.mark.parametrize("code", ["183452006", "29857008", "12345", "0183452005", "chest pain", "1234567890123456789"])
def test_mistyped_snomed_identifiers_are_refused(code: str) -> None:
    assert not is_sctid(code)
