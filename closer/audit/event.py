"""What one disclosure is, and the FHIR R4 AuditEvent that records it (pure: no database, no clock).

One AuditEvent answers who received what about which patient, when, with what outcome and on what
consent decision. Codes follow the R4 AuditEvent value sets and IHE BALP's use of them: a RESTful read
or search is type `rest` with its interaction as subtype; a push to a downstream endpoint is DICOM
110106 "Export". Every event also carries our own subtype code naming the disclosure action, so the
action can be read back without decoding the FHIR interaction codes.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir_profiles.canonical import CANONICAL_BASE, ODS_ORGANIZATION_SYSTEM

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
DISCLOSURE_ACTION = f"{CANONICAL_BASE}/CodeSystem/disclosure-action"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"

CLOSER = "Closer"
OUTCOMES = {"0": "success", "4": "minor failure", "8": "serious failure", "12": "major failure"}

_REST = {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
_EXPORT = {"system": DICOM, "code": "110106", "display": "Export"}

# action -> (AuditEvent.type, restful-interaction subtype or None, AuditEvent.action)
ACTIONS: dict[str, tuple[dict[str, str], str | None, str]] = {
    "read": (_REST, "read", "R"),
    "vread": (_REST, "vread", "R"),
    "search": (_REST, "search-type", "E"),
    "history": (_REST, "history-instance", "R"),
    "alerts": (_REST, "operation", "E"),
    "consent-check": (_REST, "operation", "E"),
    "operation": (_REST, "operation", "E"),  # any other $operation
    "batch": (_REST, "batch", "E"),
    "push": (_EXPORT, None, "R"),
    "retract": (_EXPORT, "delete", "D"),
}

_HISTORY = (
    (re.compile(r"^/?[A-Z][A-Za-z]*/[^/?]+/_history"), "history-instance"),
    (re.compile(r"^/?[A-Z][A-Za-z]*/_history"), "history-type"),
    (re.compile(r"^/?_history"), "history-system"),
)


@dataclass(frozen=True)
class Disclosure:
    """One disclosure to one recipient; checked when made, so a bad code fails at the caller, not in the log."""

    recipient: str  # client name or downstream endpoint name: who received it
    organization: str | None  # recipient's ODS code
    patient: str | None  # "Patient/<id>", or None when the request named no patient
    action: str  # one of ACTIONS
    entities: tuple[str, ...]  # what was disclosed, e.g. ("Flag/f1/_history/2",); empty when nothing
    outcome: str  # AuditEvent.outcome: "0" success, "4" minor failure (e.g. denied), "8" serious failure
    decision: str  # the consent decision in words
    purpose: str | None = None  # v3-ActReason code, e.g. "ETREAT"
    query: str | None = None  # request path and query, or the endpoint URL for a push
    request_id: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown disclosure action '{self.action}': one of {', '.join(ACTIONS)}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown AuditEvent outcome '{self.outcome}': one of {', '.join(OUTCOMES)}")
        if not self.recipient:
            raise ValueError("a disclosure needs a recipient")
        if self.patient is not None and not self.patient.startswith("Patient/"):
            raise ValueError(f"patient must be a 'Patient/<id>' reference, not '{self.patient}'")
        if isinstance(self.entities, str):
            raise ValueError("entities must be a sequence of references, not one string")
        object.__setattr__(self, "entities", tuple(self.entities))  # a list given is kept as a tuple


def format_recorded(moment: datetime) -> str:
    """FHIR instant with microseconds, in UTC (the log's `recorded` column keeps the same precision)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def build_event(disclosure: Disclosure, recorded: datetime, event_id: str | None = None) -> dict[str, Any]:
    """The AuditEvent (R4 JSON shape) for a disclosure made at `recorded`."""
    event_type, interaction, action = ACTIONS[disclosure.action]
    subtype = [{"system": DISCLOSURE_ACTION, "code": disclosure.action}]
    code = _interaction(disclosure.action, interaction, disclosure.query)
    if code is not None:
        subtype.insert(0, {"system": RESTFUL_INTERACTION, "code": code})
    event: dict[str, Any] = {"resourceType": "AuditEvent"}
    if event_id is not None:
        event["id"] = event_id
    event |= {
        "type": dict(event_type),
        "subtype": subtype,
        "action": action,
        "recorded": format_recorded(recorded),
        "outcome": disclosure.outcome,
        "outcomeDesc": disclosure.decision,
    }
    if disclosure.purpose:
        event["purposeOfEvent"] = [_purpose(disclosure.purpose)]
    event["agent"] = [_recipient(disclosure), _closer(disclosure)]
    event["source"] = {
        "site": CLOSER,
        "observer": {"display": CLOSER},
        "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
    }
    entities = [_disclosed(reference) for reference in disclosure.entities]
    if disclosure.patient:
        entities.insert(0, _patient(disclosure.patient))
    if disclosure.query:
        entities.append(_query(disclosure.query))
    if disclosure.request_id:
        entities.append(_request_id(disclosure.request_id))
    if entities:
        event["entity"] = entities
    return event


def _interaction(action: str, interaction: str | None, query: str | None) -> str | None:
    """A history disclosure is instance, type or system history by its path (instance when unknown)."""
    if action != "history" or not query:
        return interaction
    return next((code for pattern, code in _HISTORY if pattern.match(query)), interaction)


def _purpose(code: str) -> dict[str, Any]:
    return {"coding": [{"system": ACT_REASON, "code": code}]}


def _recipient(disclosure: Disclosure) -> dict[str, Any]:
    """agent[0]: who received the data; the requestor unless Closer pushed it unasked."""
    who: dict[str, Any] = {"display": disclosure.recipient}
    if disclosure.organization:
        who["identifier"] = {"system": ODS_ORGANIZATION_SYSTEM, "value": disclosure.organization}
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": DICOM, "code": "110152", "display": "Destination Role ID"}]},
        "who": who,
        "name": disclosure.recipient,
        "requestor": not _pushed(disclosure),
    }
    if _pushed(disclosure) and disclosure.query:
        agent["network"] = {"address": disclosure.query, "type": "5"}  # 5 = URI
    if disclosure.purpose:
        agent["purposeOfUse"] = [_purpose(disclosure.purpose)]
    return agent


def _closer(disclosure: Disclosure) -> dict[str, Any]:
    """agent[1]: Closer, the source of the data (and the requestor of a push)."""
    return {
        "type": {"coding": [{"system": DICOM, "code": "110153", "display": "Source Role ID"}]},
        "who": {"display": CLOSER},
        "name": CLOSER,
        "requestor": _pushed(disclosure),
    }


def _pushed(disclosure: Disclosure) -> bool:
    return ACTIONS[disclosure.action][0] is _EXPORT


def _patient(reference: str) -> dict[str, Any]:
    return {
        "what": {"reference": reference},
        "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
        "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
    }


def _disclosed(reference: str) -> dict[str, Any]:
    return {
        "what": {"reference": reference},
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
        "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
    }


def _query(query: str) -> dict[str, Any]:
    """R4 carries the query as base64Binary in entity.query."""
    return {
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
        "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
        "query": base64.b64encode(query.encode("utf-8")).decode("ascii"),
    }


def _request_id(request_id: str) -> dict[str, Any]:
    return {
        "what": {"identifier": {"value": request_id}},
        "type": {"system": BALP_ENTITY_TYPE, "code": "XrequestId", "display": "X-Request-Id"},
    }


def action_of(event: dict[str, Any]) -> str:
    """The disclosure action an event records (our own subtype code)."""
    return next((c["code"] for c in event.get("subtype", []) if c.get("system") == DISCLOSURE_ACTION), "?")
