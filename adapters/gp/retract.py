"""The re-ingest rule of a GP practice extract: what becomes of a record the practice no longer sends. Pure.

A practice extract is a full extract: for every patient in patients.csv it carries every coded event,
medication course and allergy the practice holds. A record that an earlier extract of the same practice
made for such a patient and that the new extract no longer carries has been removed from the GP record.
It is never deleted here (history keeps what was shared and acted on) and never duplicated (ids come from
source keys); it is marked:

- Condition: verificationStatus entered-in-error (and no clinicalStatus, which R4 forbids then, con-5).
  GP systems keep a problem that has ended, as a past problem, so it stays in the extract; a coded entry
  disappears only when it is deleted, which in a GP record means it was recorded in error. "inactive"
  would claim the patient got better, which nobody said.
- Observation: status entered-in-error, for the same reason.
- MedicationStatement: status entered-in-error. Ended courses stay in the extract with their end date
  (and become completed), so a course that vanishes was deleted, not stopped.
- AllergyIntolerance: clinicalStatus inactive (verificationStatus untouched). An allergy list is the
  current list, and de-labelling (e.g. after a penicillin challenge test) removes an entry without it
  having been wrong; inactive is the weaker claim, and a safety-relevant allergy is not declared an error
  on an inference.

A record that reappears in a later extract is written afresh and so is current again.
"""

from __future__ import annotations

from adapters.gp.codes import ALLERGY_INACTIVE, CONDITION_ENTERED_IN_ERROR, extract_system, from_extract
from adapters.rows import JSON

MARKED_AS = {
    "Condition": "verificationStatus entered-in-error",
    "Observation": "status entered-in-error",
    "MedicationStatement": "status entered-in-error",
    "AllergyIntolerance": "clinicalStatus inactive",
}


def retracted(resource: JSON, practice: str) -> JSON:
    """The resource marked as gone from the practice's extract. A resource the extract did not make comes
    back unchanged (so does one already marked), and so is never written."""
    if not from_extract(resource, practice):
        return resource
    kind = resource["resourceType"]
    if kind == "Condition":
        changed = {key: item for key, item in resource.items() if key != "clinicalStatus"}
        changed["verificationStatus"] = CONDITION_ENTERED_IN_ERROR
        return changed
    if kind in ("Observation", "MedicationStatement"):
        return {**resource, "status": "entered-in-error"}
    if kind == "AllergyIntolerance":
        return {**resource, "clinicalStatus": ALLERGY_INACTIVE}
    return resource


def source_key(resource: JSON, practice: str) -> str:
    """The record's key in the extract (e.g. event/<nhs>/<date>/<code>), to name it in the report."""
    system = extract_system(practice)
    return next((str(i.get("value")) for i in resource.get("identifier", []) if i.get("system") == system), "")
