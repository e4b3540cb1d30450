"""NHS number Modulus 11 checks and the synthetic number generator."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_profiles import is_valid_nhs_number
from fhir_profiles.nhs_number import generate_nhs_number, nhs_number_check_digit

nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)


@pytest.mark.parametrize("value", ["9434765919", "9000000009", "4010232137", "9999999999", "0000000000"])
def test_known_valid_numbers(value: str) -> None:
    assert is_valid_nhs_number(value)


@pytest.mark.parametrize(
    "value",
    [
        "9434765918",  # wrong check digit
        "4010232138",  # wrong check digit
        "943476591",  # 9 digits
        "94347659190",  # 11 digits
        "943476591A",  # letter
        "94347659I9",  # letter inside
        "943 476 5919",  # formatted: callers must strip spaces
        "943-476-5919",
        " 9434765919",
        "9434765919\n",
        "",
        "1234567890",  # first nine give check digit 10: no valid number starts 123456789
        "1234567891",
    ],
)
def test_invalid_numbers(value: str) -> None:
    assert not is_valid_nhs_number(value)


def test_non_ascii_digits_are_invalid() -> None:
    full_width = "".join(chr(0xFF10 + int(digit)) for digit in "9434765919")
    assert full_width.isdigit()
    assert not is_valid_nhs_number(full_width)


def test_check_digit_ten_has_no_valid_number() -> None:
    assert nhs_number_check_digit("123456789") is None
    assert not any(is_valid_nhs_number(f"123456789{digit}") for digit in range(10))


def test_check_digit_eleven_becomes_zero() -> None:
    assert nhs_number_check_digit("000000000") == 0


@pytest.mark.parametrize("first9", ["12345678", "1234567890", "12345678a", ""])
def test_check_digit_rejects_malformed_prefix(first9: str) -> None:
    assert nhs_number_check_digit(first9) is None


def test_non_string_is_invalid() -> None:
    assert not is_valid_nhs_number(9434765919)  # type: ignore[arg-type]


@given(nine_digits)
def test_only_the_computed_check_digit_is_valid(first9: str) -> None:
    check = nhs_number_check_digit(first9)
    valid = [digit for digit in range(10) if is_valid_nhs_number(f"{first9}{digit}")]
    assert valid == ([] if check is None else [check])


@given(st.integers(min_value=0, max_value=2**64))
def test_generated_numbers_are_valid_test_range_numbers(seed: int) -> None:
    value = generate_nhs_number(random.Random(seed))
    assert is_valid_nhs_number(value)
    assert 9_990_000_000 <= int(value) <= 9_999_999_999


def test_generator_is_reproducible_from_a_seed() -> None:
    first = [generate_nhs_number(random.Random(7)) for _ in range(3)]
    assert first == [generate_nhs_number(random.Random(7)) for _ in range(3)]
