"""Required-strength terminology bindings of FHIR R4 (4.0.1), checked on every write.

The pydantic models check structure, not codes, so a Patient with gender "M" or an Encounter with
status "done" would otherwise be stored. A required binding means the element SHALL hold a code from
the value set, so a wrong code is an error, not a warning.

Two tables drive the check, both plain data so they can be compared with the spec line by line:

* ELEMENT_BINDINGS: (resource type, dotted path, value set) for the coded elements of the resource
  types we serve. The path walks lists at any level and reports the index of every list item. A segment
  ending in "*" also descends into same-named children at any depth (FHIRPath repeat()), which is how
  Consent's nested provisions are reached. A code element must hold one of the value set's codes. A
  CodeableConcept element is checked coding by coding: a coding in the value set's code system must use
  one of its codes; codings from other systems are left alone (they may be translations).

* DATATYPE_BINDINGS: the codes inside datatypes (Identifier.use, HumanName.use, ContactPoint.system and
  use, Address.use and type, Narrative.status, Timing.repeat units and days), found wherever the
  datatype appears by walking the whole JSON tree and recognising the element names that hold it in R4:
  "identifier", "name", "telecom", "address", "text" and "repeat". Only objects are checked, because
  some of those names hold strings elsewhere (Organization.name, CodeableConcept.text,
  AuditEvent.agent.network.address). Quantity.comparator is found the same way, as any "comparator"
  key: in these resources only Quantity and its profiles (Age, Duration, ...) have one.

Contained resources are checked with their own type's element bindings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_VALUE_SET_BASE = "http://hl7.org/fhir/ValueSet/"

# Value set id (as in http://hl7.org/fhir/ValueSet/<id>) -> the codes it allows, from R4 4.0.1.
VALUE_SETS: dict[str, frozenset[str]] = {
    "administrative-gender": frozenset({"male", "female", "other", "unknown"}),
    "link-type": frozenset({"replaced-by", "replaces", "refer", "seealso"}),
    "encounter-status": frozenset(
        {
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    "encounter-location-status": frozenset({"planned", "active", "reserved", "completed"}),
    "condition-clinical": frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"}),
    "condition-ver-status": frozenset(
        {"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}
    ),
    "observation-status": frozenset(
        {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
    ),
    "allergyintolerance-clinical": frozenset({"active", "inactive", "resolved"}),
    "allergyintolerance-verification": frozenset({"unconfirmed", "confirmed", "refuted", "entered-in-error"}),
    "allergy-intolerance-type": frozenset({"allergy", "intolerance"}),
    "allergy-intolerance-category": frozenset({"food", "medication", "environment", "biologic"}),
    "allergy-intolerance-criticality": frozenset({"low", "high", "unable-to-assess"}),
    "reaction-event-severity": frozenset({"mild", "moderate", "severe"}),
    "flag-status": frozenset({"active", "inactive", "entered-in-error"}),
    "request-status": frozenset({"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}),
    "request-intent": frozenset(
        {
            "proposal",
            "plan",
            "directive",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        }
    ),
    "request-priority": frozenset({"routine", "urgent", "asap", "stat"}),
    "care-plan-intent": frozenset({"proposal", "plan", "order", "option"}),
    "care-plan-activity-status": frozenset(
        {
            "not-started",
            "scheduled",
            "in-progress",
            "on-hold",
            "completed",
            "cancelled",
            "stopped",
            "unknown",
            "entered-in-error",
        }
    ),
    "care-plan-activity-kind": frozenset(
        {
            "Appointment",
            "CommunicationRequest",
            "DeviceRequest",
            "MedicationRequest",
            "NutritionOrder",
            "Task",
            "ServiceRequest",
            "VisionPrescription",
        }
    ),
    "care-team-status": frozenset({"proposed", "active", "suspended", "inactive", "entered-in-error"}),
    "episode-of-care-status": frozenset(
        {"planned", "waitlist", "active", "onhold", "finished", "cancelled", "entered-in-error"}
    ),
    "consent-state-codes": frozenset({"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}),
    "consent-provision-type": frozenset({"deny", "permit"}),
    "consent-data-meaning": frozenset({"instance", "related", "dependents", "authoredby"}),
    "task-status": frozenset(
        {
            "draft",
            "requested",
            "received",
            "accepted",
            "rejected",
            "ready",
            "cancelled",
            "in-progress",
            "on-hold",
            "failed",
            "completed",
            "entered-in-error",
        }
    ),
    "task-intent": frozenset(
        {
            "unknown",
            "proposal",
            "plan",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        }
    ),
    "event-status": frozenset(
        {"preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error", "unknown"}
    ),
    "days-of-week": frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"}),
    "units-of-time": frozenset({"s", "min", "h", "d", "wk", "mo", "a"}),
    "location-status": frozenset({"active", "suspended", "inactive"}),
    "location-mode": frozenset({"instance", "kind"}),
    "provenance-entity-role": frozenset({"derivation", "revision", "quotation", "source", "removal"}),
    "audit-event-action": frozenset({"C", "R", "U", "D", "E"}),
    "audit-event-outcome": frozenset({"0", "4", "8", "12"}),
    "network-type": frozenset({"1", "2", "3", "4", "5"}),
    "medication-statement-status": frozenset(
        {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"}
    ),
    "endpoint-status": frozenset({"active", "suspended", "error", "off", "entered-in-error", "test"}),
    "identifier-use": frozenset({"usual", "official", "temp", "secondary", "old"}),
    "name-use": frozenset({"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"}),
    "contact-point-system": frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"}),
    "contact-point-use": frozenset({"home", "work", "temp", "old", "mobile"}),
    "address-use": frozenset({"home", "work", "temp", "old", "billing"}),
    "address-type": frozenset({"postal", "physical", "both"}),
    "narrative-status": frozenset({"generated", "extensions", "additional", "empty"}),
    "quantity-comparator": frozenset({"<", "<=", ">=", ">"}),
}

# Value sets bound to CodeableConcept elements, with the one code system each draws its codes from.
CODEABLE_CONCEPT_SYSTEMS: dict[str, str] = {
    "condition-clinical": "http://terminology.hl7.org/CodeSystem/condition-clinical",
    "condition-ver-status": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
    "allergyintolerance-clinical": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
    "allergyintolerance-verification": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
}

# (resource type, path relative to the resource, value set id). "*" on a segment: repeat at any depth.
ELEMENT_BINDINGS: list[tuple[str, str, str]] = [
    ("Patient", "gender", "administrative-gender"),
    ("Patient", "contact.gender", "administrative-gender"),
    ("Patient", "link.type", "link-type"),
    ("Encounter", "status", "encounter-status"),
    ("Encounter", "statusHistory.status", "encounter-status"),
    ("Encounter", "location.status", "encounter-location-status"),
    ("Condition", "clinicalStatus", "condition-clinical"),
    ("Condition", "verificationStatus", "condition-ver-status"),
    ("Observation", "status", "observation-status"),
    ("AllergyIntolerance", "clinicalStatus", "allergyintolerance-clinical"),
    ("AllergyIntolerance", "verificationStatus", "allergyintolerance-verification"),
    ("AllergyIntolerance", "type", "allergy-intolerance-type"),
    ("AllergyIntolerance", "category", "allergy-intolerance-category"),
    ("AllergyIntolerance", "criticality", "allergy-intolerance-criticality"),
    ("AllergyIntolerance", "reaction.severity", "reaction-event-severity"),
    ("Flag", "status", "flag-status"),
    ("CarePlan", "status", "request-status"),
    ("CarePlan", "intent", "care-plan-intent"),
    ("CarePlan", "activity.detail.kind", "care-plan-activity-kind"),
    ("CarePlan", "activity.detail.status", "care-plan-activity-status"),
    ("CareTeam", "status", "care-team-status"),
    ("EpisodeOfCare", "status", "episode-of-care-status"),
    ("EpisodeOfCare", "statusHistory.status", "episode-of-care-status"),
    ("Consent", "status", "consent-state-codes"),
    ("Consent", "provision*.type", "consent-provision-type"),
    ("Consent", "provision*.data.meaning", "consent-data-meaning"),
    ("RiskAssessment", "status", "observation-status"),
    ("ServiceRequest", "status", "request-status"),
    ("ServiceRequest", "intent", "request-intent"),
    ("ServiceRequest", "priority", "request-priority"),
    ("Task", "status", "task-status"),
    ("Task", "intent", "task-intent"),
    ("Task", "priority", "request-priority"),
    ("Communication", "status", "event-status"),
    ("Communication", "priority", "request-priority"),
    ("Practitioner", "gender", "administrative-gender"),
    ("PractitionerRole", "availableTime.daysOfWeek", "days-of-week"),
    ("Location", "status", "location-status"),
    ("Location", "mode", "location-mode"),
    ("Location", "hoursOfOperation.daysOfWeek", "days-of-week"),
    ("Provenance", "entity.role", "provenance-entity-role"),
    ("AuditEvent", "action", "audit-event-action"),
    ("AuditEvent", "outcome", "audit-event-outcome"),
    ("AuditEvent", "agent.network.type", "network-type"),
    ("MedicationStatement", "status", "medication-statement-status"),
    ("Endpoint", "status", "endpoint-status"),
]

# Element name that holds a datatype -> (child element, value set id) pairs checked inside it.
DATATYPE_BINDINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "identifier": (("use", "identifier-use"),),
    "name": (("use", "name-use"),),
    "telecom": (("system", "contact-point-system"), ("use", "contact-point-use")),
    "address": (("use", "address-use"), ("type", "address-type")),
    "text": (("status", "narrative-status"),),
    "repeat": (
        ("durationUnit", "units-of-time"),
        ("periodUnit", "units-of-time"),
        ("dayOfWeek", "days-of-week"),
    ),
}

Issue = tuple[str, str]


def _rules_by_type() -> dict[str, list[tuple[list[str], str]]]:
    """ELEMENT_BINDINGS keyed by resource type, paths split, so each check looks up only its own rules."""
    rules: dict[str, list[tuple[list[str], str]]] = {}
    for resource_type, path, value_set in ELEMENT_BINDINGS:
        rules.setdefault(resource_type, []).append((path.split("."), value_set))
    return rules


_RULES_BY_TYPE = _rules_by_type()


def check_required_bindings(resource: dict[str, Any]) -> list[Issue]:
    """(FHIRPath expression, message) for every code outside its required value set; empty when clean."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return []
    issues = list(_element_issues(resource, resource_type))
    contained = resource.get("contained")
    if isinstance(contained, list):
        for i, inner in enumerate(contained):
            if isinstance(inner, dict):
                issues.extend(_element_issues(inner, f"{resource_type}.contained[{i}]"))
    if not _datatype_clean(resource):  # the walk that names each issue runs only when there is one
        issues.extend(_datatype_issues(resource, resource_type))
    return issues


def _element_issues(resource: dict[str, Any], prefix: str) -> Iterator[Issue]:
    """Check the resource's own coded elements; `prefix` starts each expression."""
    for segments, value_set in _RULES_BY_TYPE.get(str(resource.get("resourceType")), []):
        for expr, value in _values_at(resource, segments, prefix):
            yield from _check_value(value, value_set, expr)


def _values_at(node: Any, segments: list[str], expr: str) -> Iterator[tuple[str, Any]]:
    """Every value at the path below `node`, with its expression; list items get their index."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _values_at(item, segments, f"{expr}[{i}]")
        return
    if not segments:
        yield expr, node
        return
    if not isinstance(node, dict):
        return
    head, rest = segments[0], segments[1:]
    name = head.removesuffix("*")
    if name not in node:
        return
    yield from _values_at(node[name], rest, f"{expr}.{name}")
    if head.endswith("*"):
        # The same element nested inside itself, e.g. Consent.provision.provision.
        yield from _values_at(node[name], segments, f"{expr}.{name}")


def _check_value(value: Any, value_set: str, expr: str) -> Iterator[Issue]:
    """Check one code, or the codings of one CodeableConcept, against a value set."""
    system = CODEABLE_CONCEPT_SYSTEMS.get(value_set)
    if system is None:
        if not _allowed(value, value_set):
            yield expr, _message(value, value_set)
        return
    if not isinstance(value, dict) or not isinstance(value.get("coding"), list):
        return
    for i, coding in enumerate(value["coding"]):
        if not isinstance(coding, dict) or coding.get("system") != system or "code" not in coding:
            continue
        if not _allowed(coding["code"], value_set):
            yield f"{expr}.coding[{i}].code", _message(coding["code"], value_set)


def _datatype_issues(node: Any, expr: str) -> Iterator[Issue]:
    """Walk the whole tree, checking datatype codes under the element names that hold those datatypes."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _datatype_issues(item, f"{expr}[{i}]")
        return
    if not isinstance(node, dict):
        return
    if "comparator" in node:
        yield from _check_value(node["comparator"], "quantity-comparator", f"{expr}.comparator")
    for key, value in node.items():
        child_expr = f"{expr}.{key}"
        for element, value_set in DATATYPE_BINDINGS.get(key, ()):
            for item_expr, item in _values_at(value, [], child_expr):
                if isinstance(item, dict) and element in item:
                    for code_expr, code in _values_at(item[element], [], f"{item_expr}.{element}"):
                        yield from _check_value(code, value_set, code_expr)
        yield from _datatype_issues(value, child_expr)


def _datatype_clean(node: Any) -> bool:
    """Whether `_datatype_issues` would find nothing, without building an expression for every node
    (every write runs this; the walk that names issues costs several times more). Written as plain loops
    that descend only into objects and arrays: it visits every node of every resource written."""
    if isinstance(node, list):
        for item in node:  # noqa: SIM110  (a loop: all() over a generator costs more on this hot path)
            if isinstance(item, dict | list) and not _datatype_clean(item):
                return False
        return True
    if not isinstance(node, dict):
        return True
    if "comparator" in node and any(_check_value(node["comparator"], "quantity-comparator", "")):
        return False
    for key, value in node.items():
        rules = DATATYPE_BINDINGS.get(key)
        if rules is not None:
            for element, value_set in rules:
                for item in _flat(value):
                    if isinstance(item, dict) and element in item and not _codes_clean(item[element], value_set):
                        return False
        if isinstance(value, dict | list) and not _datatype_clean(value):
            return False
    return True


def _codes_clean(value: Any, value_set: str) -> bool:
    """Whether every code in `value` (one, or a list at any depth) passes `_check_value`."""
    for code in _flat(value):
        for _ in _check_value(code, value_set, ""):
            return False
    return True


def _flat(value: Any) -> Iterator[Any]:
    """The value, or the items of a list (at any depth), as `_values_at` with no path yields them."""
    if isinstance(value, list):
        for item in value:
            yield from _flat(item)
    else:
        yield value


def _allowed(code: Any, value_set: str) -> bool:
    """Whether `code` is one of the value set's codes; a non-string (e.g. an object) never is."""
    return isinstance(code, str) and code in VALUE_SETS[value_set]


def _message(code: Any, value_set: str) -> str:
    """Name the bad code, the value set and what it allows, so the client can fix the resource."""
    allowed = " | ".join(sorted(VALUE_SETS[value_set]))
    return f"Code {code!r} is not in the required value set {_VALUE_SET_BASE}{value_set} ({allowed})"
