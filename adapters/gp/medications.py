"""A medications.csv row of a GP practice extract -> a MedicationStatement.

Status: active while the course has no end date or its end date is today or later, completed once the end
date has passed. The course (repeat or acute, from the `repeat` column) is the statement's category in a
local code system (see codes.MEDICATION_COURSE_SYSTEM), because `category` is searchable: the current
repeats of a patient are `MedicationStatement?subject=Patient/<nhs>&status=active&category=<system>|repeat`.

The code is a dm+d or SNOMED CT identifier. Codes in the dm+d namespace of SNOMED CT (1000001, the NHS
dm+d extension) are written with the dm+d system https://dmd.nhs.uk; other valid codes (core SNOMED CT,
which many dm+d VTMs and VMPs are) with http://snomed.info/sct. A code that is not an SCTID at all is kept
without a system and flagged, as for events.
"""

from __future__ import annotations

import re
from datetime import date

from adapters.gp.codes import ACUTE, DMD_SYSTEM, REPEAT, concept, course, extract_identifier, snomed_concept
from adapters.gp.roster import Roster, registered_practice
from adapters.identity import derived_id
from adapters.rows import JSON, Feed, Row, RowError, RowPlan, check_order, nhs_number, reference, required, value, when
from adapters.snomed import is_sctid
from adapters.writing import patient_stub

COLUMNS = ("nhs_number", "code", "name", "start", "end", "repeat")
COURSES = {"Y": REPEAT, "N": ACUTE}

# A long-form SCTID: item, 7-digit namespace, 2-digit partition (10 = concept), check digit.
_DMD_CONCEPT = re.compile(r"^\d+100000110\d$")


def map_row(row: Row, roster: Roster, today: date) -> RowPlan:
    """Check and map one medications.csv row; raises RowError naming the first column at fault."""
    nhs = nhs_number(row)
    practice = registered_practice(roster, nhs)
    code = required(row, "code")
    started = when(row, "start", needed=True)
    assert started is not None
    ended = when(row, "end")
    check_order("start", started, "end", ended)
    repeat = required(row, "repeat")
    if repeat.upper() not in COURSES:
        raise RowError(f"repeat '{repeat}' is not Y or N")
    medication, warnings = medication_concept(code, value(row, "name"))
    statement: JSON = {
        "resourceType": "MedicationStatement",
        "id": derived_id("gp-medication", practice, nhs, started, code),
        "identifier": [extract_identifier(practice, "medication", nhs, started, code)],
        "status": "active" if ended is None or date.fromisoformat(ended[:10]) >= today else "completed",
        "category": course(COURSES[repeat.upper()]),
        "medicationCodeableConcept": medication,
        "subject": reference("Patient", nhs),
        "effectivePeriod": {"start": started, "end": ended} if ended else {"start": started},
    }
    return RowPlan(
        key=f"medication {code} from {started} for {nhs}",
        stubs=[patient_stub(nhs)],
        resources=[statement],
        warnings=warnings,
    )


def medication_concept(code: str, name: str) -> tuple[JSON, list[str]]:
    if is_sctid(code) and _DMD_CONCEPT.match(code):
        return concept(DMD_SYSTEM, code, name), []
    return snomed_concept("code", code, name)


def feed(roster: Roster, today: date) -> Feed:
    return Feed("GP medications", COLUMNS, lambda row: map_row(row, roster, today))
