"""Values and units of GP coded events as FHIR Quantities.

GP systems write units as clinicians read them (mmHg, mmol/l, kg/m2, bpm). Where one is a unit UCUM can
express, the Quantity gets the UCUM code so `value-quantity=gt140|http://unitsofmeasure.org|mm[Hg]` finds
it; any other unit (score, units/week) is kept as text only, never guessed.
"""

from __future__ import annotations

import re

from adapters.gp.codes import UCUM_SYSTEM
from adapters.rows import JSON

# Unit as written (compared case-insensitively, spaces removed) -> UCUM code.
_UCUM = {
    "%": "%",
    "kg": "kg",
    "g": "g",
    "mg": "mg",
    "ug": "ug",
    "mcg": "ug",
    "µg": "ug",
    "m": "m",
    "cm": "cm",
    "mm": "mm",
    "l": "L",
    "ml": "mL",
    "mmhg": "mm[Hg]",
    "mm[hg]": "mm[Hg]",
    "kg/m2": "kg/m2",
    "kg/m^2": "kg/m2",
    "kg/m²": "kg/m2",
    "mmol/l": "mmol/L",
    "umol/l": "umol/L",
    "µmol/l": "umol/L",
    "nmol/l": "nmol/L",
    "pmol/l": "pmol/L",
    "mmol/mol": "mmol/mol",
    "g/l": "g/L",
    "g/dl": "g/dL",
    "mg/l": "mg/L",
    "ug/l": "ug/L",
    "ng/ml": "ng/mL",
    "u/l": "U/L",
    "iu/l": "[IU]/L",
    "miu/l": "m[IU]/L",
    "mu/l": "mU/L",
    "10*9/l": "10*9/L",
    "10^9/l": "10*9/L",
    "x10^9/l": "10*9/L",
    "10*12/l": "10*12/L",
    "10^12/l": "10*12/L",
    "x10^12/l": "10*12/L",
    "fl": "fL",
    "pg": "pg",
    "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "ml/min/1.73m^2": "mL/min/{1.73_m2}",
    "ml/min/{1.73_m2}": "mL/min/{1.73_m2}",
    "ml/min": "mL/min",
    "l/min": "L/min",
    "/min": "/min",
    "bpm": "/min",
    "beats/min": "/min",
    "breaths/min": "/min",
    "cel": "Cel",
    "°c": "Cel",
    "degc": "Cel",
    "s": "s",
    "min": "min",
    "h": "h",
    "d": "d",
    "wk": "wk",
    "a": "a",
    "years": "a",
}

_NUMBER = re.compile(r"^(?P<comparator><=|>=|<|>)?\s*(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))$")


def ucum_code(unit: str) -> str | None:
    return _UCUM.get(unit.replace(" ", "").lower())


def parse_number(text: str) -> tuple[str | None, int | float] | None:
    """(comparator, number) for '7.5', '<0.5', '>= 90'; None when the text is not a number."""
    found = _NUMBER.match(text.strip())
    if found is None:
        return None
    number = found["number"]
    value: int | float = float(number) if "." in number else int(number)
    return found["comparator"], value


def quantity(number: int | float, comparator: str | None, unit: str) -> JSON:
    """A Quantity with the unit as written and, where UCUM has the unit, its UCUM code."""
    result: JSON = {"value": number}
    if comparator:
        result["comparator"] = comparator
    if unit:
        result["unit"] = unit
        code = ucum_code(unit)
        if code:
            result["system"] = UCUM_SYSTEM
            result["code"] = code
    return result
