"""A visit's Encounter as the fold of all its ADT events, taken in event-time order.

Interfaces resend, and messages overtake each other on the way. Folding every event received for the
visit, sorted by when it happened (EVN-2, else MSH-7), gives the same Encounter whatever order the
messages arrived in: an A11 that arrives before its A01 still leaves the visit entered-in-error, and
an A13 cancels only the discharge that happened before it. Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.encounter_codes import (
    AMBULATORY,
    EMERGENCY,
    EMERGENCY_ATTENDANCE,
    INPATIENT,
    PRE_ADMISSION,
    admission_coding,
    discharge_destination,
)
from adapters.hl7v2.mapping import VisitEvent
from adapters.identity import ODS_ORGANIZATION_SYSTEM, local_system

JSON = dict[str, Any]

_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
# At the same instant an event comes before the cancellation of it.
_RANK = {"A11": 1, "A12": 1, "A13": 1}
ATTENDER = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "ATND"}]}


def ordered(events: list[VisitEvent]) -> list[VisitEvent]:
    return sorted(events, key=lambda e: (e.sort_time or _EPOCH, _RANK.get(e.trigger, 0), e.control_id))


def fold(events: list[VisitEvent], *, encounter_id: str, visit_number: str, facility: str, patient_id: str) -> JSON:
    """The Encounter after applying `events` in event-time order."""
    status = "planned"
    klass: JSON | None = None
    admitted = discharged = method = destination = service = ""
    attending: JSON | None = None
    locations: list[JSON] = []  # the location history; the last one is current
    for event in ordered(events):
        trigger = event.trigger
        klass = event.patient_class or klass
        admitted = event.admitted or admitted
        method = event.admission_method or method
        service = event.hospital_service or service
        attending = event.attending or attending
        moved = event.location and (not locations or locations[-1] != event.location)
        if moved and trigger not in ("A12", "A13", "A11"):
            locations.append(event.location)  # type: ignore[arg-type]
        if trigger == "A05":
            status = "planned" if status in ("planned", "entered-in-error") else status
            klass = klass or PRE_ADMISSION
        elif trigger in ("A01", "A04", "A06", "A07", "A02"):
            status = "in-progress" if status != "finished" or trigger in ("A06", "A07") else status
            if trigger == "A06":
                klass = INPATIENT
            elif trigger == "A07":
                klass = AMBULATORY
        elif trigger == "A03":
            status = "finished"
            discharged = event.discharged or _text(event.sort_time)
            destination = event.discharge_destination or destination
        elif trigger == "A11":
            status = "entered-in-error"
        elif trigger == "A12":
            if len(locations) > 1:
                locations.pop()
        elif trigger == "A13":
            status = "in-progress"
            discharged = destination = ""
        # A08 changes details only.
    encounter: JSON = {
        "resourceType": "Encounter",
        "id": encounter_id,
        "identifier": [{"system": local_system("spell", facility), "value": visit_number}],
        "status": status,
        "class": klass or INPATIENT,
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    types, priority, method_extension = admission_coding(method) if method else ([], None, None)
    if klass == EMERGENCY:  # an A&E attendance, not (or not yet) an admission: typed as the ECDS feed types it
        types, priority = [EMERGENCY_ATTENDANCE], None
    elif klass == AMBULATORY:  # an outpatient (e.g. after A07): no admission for stratification to count
        types, priority = [], None
    if types:
        encounter["type"] = [{"coding": types}]
    if priority:
        encounter["priority"] = priority
    if service:
        encounter["serviceType"] = {"text": service}
    if attending:
        encounter["participant"] = [{"type": [ATTENDER], "individual": attending}]
    period = {k: v for k, v in (("start", admitted), ("end", discharged)) if v}
    if period:
        encounter["period"] = period
    hospitalization: JSON = {}
    if method_extension:
        hospitalization["extension"] = [method_extension]
    if destination and (disposition := discharge_destination(destination)):
        hospitalization["dischargeDisposition"] = disposition
    if hospitalization:
        encounter["hospitalization"] = hospitalization
    if locations:
        encounter["location"] = [
            {"location": where, "status": "active" if i == len(locations) - 1 and status != "finished" else "completed"}
            for i, where in enumerate(locations)
        ]
    if facility:
        encounter["serviceProvider"] = {"identifier": {"system": ODS_ORGANIZATION_SYSTEM, "value": facility}}
    return encounter


def _text(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""
