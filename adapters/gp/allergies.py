"""An allergies.csv row of a GP practice extract -> an AllergyIntolerance.

One record per substance per patient: the id comes from the practice, patient and code (not the date), so
a corrected date, reaction or severity updates the allergy in place. The reaction is free text (the
manifestation's text); its severity is mild, moderate or severe. No verificationStatus is claimed:
the extract does not say whether the allergy was confirmed. R4 keeps severity on a reaction, so a
severity without a reaction cannot be stored: the allergy is, with a warning, since an allergy must never
be lost over a detail.
"""

from __future__ import annotations

from adapters.gp.codes import ALLERGY_ACTIVE, extract_identifier, snomed_concept
from adapters.gp.roster import Roster, registered_practice
from adapters.identity import derived_id
from adapters.rows import JSON, Feed, Row, RowError, RowPlan, nhs_number, reference, required, value, when
from adapters.writing import patient_stub

COLUMNS = ("nhs_number", "snomed_code", "term", "reaction", "severity", "date")
SEVERITIES = ("mild", "moderate", "severe")


def map_row(row: Row, roster: Roster) -> RowPlan:
    """Check and map one allergies.csv row; raises RowError naming the first column at fault."""
    nhs = nhs_number(row)
    practice = registered_practice(roster, nhs)
    code = required(row, "snomed_code")
    concept, warnings = snomed_concept("snomed_code", code, value(row, "term"))
    recorded = when(row, "date")
    severity = value(row, "severity").lower()
    if severity and severity not in SEVERITIES:
        raise RowError(f"severity '{value(row, 'severity')}' is not one of {', '.join(SEVERITIES)}")
    allergy: JSON = {
        "resourceType": "AllergyIntolerance",
        "id": derived_id("gp-allergy", practice, nhs, code),
        "identifier": [extract_identifier(practice, "allergy", nhs, code)],
        "clinicalStatus": ALLERGY_ACTIVE,
        "code": concept,
        "patient": reference("Patient", nhs),
    }
    if recorded:
        allergy["recordedDate"] = recorded
    if reaction := value(row, "reaction"):
        allergy["reaction"] = [{"manifestation": [{"text": reaction}], **({"severity": severity} if severity else {})}]
    elif severity:
        warnings.append(f"severity '{severity}' is not stored: it needs a reaction to belong to (reaction is blank)")
    return RowPlan(key=f"allergy {code} for {nhs}", stubs=[patient_stub(nhs)], resources=[allergy], warnings=warnings)


def feed(roster: Roster) -> Feed:
    return Feed("GP allergies", COLUMNS, lambda row: map_row(row, roster))
