"""An events.csv row of a GP practice extract (a coded clinical event) -> a Condition or an Observation.

The rule, which needs no terminology server: an event with no value is a problem or diagnosis and becomes a
Condition (category problem-list-item, clinicalStatus active, onset the event date); an event with a value
is a measurement and becomes an Observation (status final, effectiveDateTime the event date). A numeric
value becomes valueQuantity (with its UCUM code where the unit is one); a value that is not a number is kept
as valueString, unless it carries a unit, which only a number can have.

An event's id comes from its practice, patient, date and code, so a re-sent event is the same resource and
a corrected value updates it in place.
"""

from __future__ import annotations

from adapters.gp.codes import CONDITION_ACTIVE, PROBLEM_LIST_ITEM, extract_identifier, snomed_concept
from adapters.gp.roster import Roster, registered_practice
from adapters.gp.units import parse_number, quantity
from adapters.identity import derived_id
from adapters.rows import JSON, Feed, Row, RowError, RowPlan, nhs_number, reference, required, value, when
from adapters.writing import patient_stub

COLUMNS = ("nhs_number", "date", "snomed_code", "term", "value", "unit")


def map_row(row: Row, roster: Roster) -> RowPlan:
    """Check and map one events.csv row; raises RowError naming the first column at fault."""
    nhs = nhs_number(row)
    practice = registered_practice(roster, nhs)
    on = when(row, "date", needed=True)
    assert on is not None
    code = required(row, "snomed_code")
    concept, warnings = snomed_concept("snomed_code", code, value(row, "term"))
    source = [extract_identifier(practice, "event", nhs, on, code)]
    measured, unit = value(row, "value"), value(row, "unit")
    resource: JSON
    if measured:
        resource = {
            "resourceType": "Observation",
            "id": derived_id("gp-observation", practice, nhs, on, code),
            "identifier": source,
            "status": "final",
            "code": concept,
            "subject": reference("Patient", nhs),
            "effectiveDateTime": on,
            **_value(measured, unit),
        }
    elif unit:
        raise RowError(f"unit '{unit}' is given without a value")
    else:
        resource = {
            "resourceType": "Condition",
            "id": derived_id("gp-condition", practice, nhs, on, code),
            "identifier": source,
            "clinicalStatus": CONDITION_ACTIVE,
            "category": [PROBLEM_LIST_ITEM],
            "code": concept,
            "subject": reference("Patient", nhs),
            "onsetDateTime": on,
        }
    return RowPlan(
        key=f"event {code} on {on} for {nhs}", stubs=[patient_stub(nhs)], resources=[resource], warnings=warnings
    )


def _value(measured: str, unit: str) -> JSON:
    number = parse_number(measured)
    if number is not None:
        return {"valueQuantity": quantity(number[1], number[0], unit)}
    if unit:
        raise RowError(f"value '{measured}' is not a number, but has the unit '{unit}'")
    return {"valueString": measured}


def feed(roster: Roster) -> Feed:
    return Feed("GP events", COLUMNS, lambda row: map_row(row, roster))
