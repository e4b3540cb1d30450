"""SNOMED CT identifiers from extracts: checked before they become codings, so a mistyped code is reported
against its row instead of being stored as a code that names nothing."""

from __future__ import annotations

import re

SNOMED_SYSTEM = "http://snomed.info/sct"

_SCTID = re.compile(r"^[1-9]\d{5,17}$")

# Verhoeff's dihedral-group tables, as SNOMED CT uses for the check digit of every identifier.
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def is_sctid(text: str) -> bool:
    """6 to 18 digits, no leading zero, with a valid Verhoeff check digit (the last digit)."""
    if not _SCTID.match(text):
        return False
    check = 0
    for position, digit in enumerate(reversed(text)):
        check = _D[check][_P[position % 8][int(digit)]]
    return check == 0
