"""ICD-10 codes as hospital extracts write them, normalised to the dotted WHO form (`J44.1`, `I10`).

SUS extracts drop the dot (`J441`), pad three-character codes with X or a dash (`I10X`, `I10-`) and may
append a dagger/asterisk marker (`A17.0†`, `G01X*`, or SUS's `A170D` / `G01XA`). The same diagnosis must
give the same code, and hence the same Condition id, however it was written, or a re-sent spell would
duplicate its diagnoses.
"""

from __future__ import annotations

import re

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"

# Letter, two digits, optional dot, then up to two digits of subdivision; a 4th character X or "-" means
# "no subdivision"; a trailing D/A (SUS), †, * or + marks a dagger or asterisk code.
_CODE = re.compile(r"^(?P<cat>[A-Z]\d{2})\.?(?:(?P<sub>\d{1,2})|[X-])?(?:[DA†*+])?$")


class BadIcd10(ValueError):
    """Text that is not an ICD-10 code in any of the forms extracts use."""


def normalise_icd10(text: str) -> str:
    """`J441`, `j44.1`, `J44.1` -> `J44.1`; `I10X`, `I10-`, `I10` -> `I10`; `M8008` -> `M80.08`."""
    value = text.strip().upper().replace(" ", "")
    match = _CODE.match(value)
    if not match:
        raise BadIcd10(f"'{text}' is not an ICD-10 code (e.g. I10, J44.1 or J441)")
    sub = match["sub"]
    return f"{match['cat']}.{sub}" if sub else match["cat"]
