"""NHS number checks and synthetic NHS numbers.

An NHS number is ten ASCII digits; the tenth is a Modulus 11 check digit over the first nine
(NHS Data Dictionary, "NHS Number"). The functions here accept the bare ten-digit form only: callers
that accept formatted input such as "943 476 5919" must strip the spaces before calling, so that the
stored identifier value is always in the canonical form.
"""

from __future__ import annotations

import random
import re

_NINE_DIGITS = re.compile(r"[0-9]{9}")
_TEN_DIGITS = re.compile(r"[0-9]{10}")

# The NHS reserves 999 000 0000 - 999 999 9999 for test data; these never identify a real patient.
_TEST_RANGE_FIRST9_LOW = 999_000_000
_TEST_RANGE_FIRST9_HIGH = 999_999_999


def nhs_number_check_digit(first9: str) -> int | None:
    """Return the Modulus 11 check digit for the first nine digits, or None if no valid number exists.

    Weights 10 down to 2 are applied to digits 1-9; the check digit is 11 minus the remainder of the
    sum divided by 11, where 11 becomes 0 and 10 means the nine digits cannot start an NHS number.
    Also returns None when ``first9`` is not exactly nine ASCII digits.
    """
    if not _NINE_DIGITS.fullmatch(first9):
        return None
    total = sum(int(digit) * weight for digit, weight in zip(first9, range(10, 1, -1), strict=True))
    check = 11 - (total % 11)
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def is_valid_nhs_number(value: str) -> bool:
    """True if ``value`` is exactly ten ASCII digits whose last digit is the correct check digit.

    No spaces, hyphens or other formatting are accepted; strip them first if your input allows them.
    """
    if not isinstance(value, str) or not _TEN_DIGITS.fullmatch(value):
        return False
    return nhs_number_check_digit(value[:9]) == int(value[9])


def generate_nhs_number(rng: random.Random) -> str:
    """Return a valid NHS number from the 999 000 0000 - 999 999 9999 test range.

    Taking the generator as an argument keeps test data reproducible from a seed.
    """
    while True:
        first9 = str(rng.randint(_TEST_RANGE_FIRST9_LOW, _TEST_RANGE_FIRST9_HIGH))
        check = nhs_number_check_digit(first9)
        if check is not None:  # about 1 in 11 prefixes would need check digit 10; draw again
            return f"{first9}{check}"
