"""The sharing Consent a case manager records is valid R4 and means to the engine what it says."""

from __future__ import annotations

from datetime import UTC, datetime

from closer.fhir.validate import validate_resource
from consent.engine import ConsentRequest, Consumer
from consent.model import ACT_REASON_SYSTEM, Code
from consent.records import sharing_consent
from consent.source import consent_engine

MOMENT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_the_recorded_consent_permits_exactly_its_recipients_types_and_purpose() -> None:
    consent = sharing_consent("share-p1", "p1", ["RYA"], ["Flag"], given="2026-12-01")
    validate_resource(consent)
    engine = consent_engine(lambda patient: [consent] if patient == "Patient/p1" else [])
    flag = {"resourceType": "Flag", "id": "f1", "status": "active", "subject": {"reference": "Patient/p1"}}
    plan = {"resourceType": "CarePlan", "id": "c1", "subject": {"reference": "Patient/p1"}}

    def asks(ods: str, purpose: str = "ETREAT") -> ConsentRequest:
        return ConsentRequest(Consumer(ods_code=ods), Code(ACT_REASON_SYSTEM, purpose), MOMENT)

    assert engine.can_see(asks("RYA"), flag).permitted
    assert not engine.can_see(asks("RYA"), plan).permitted
    assert not engine.can_see(asks("RXW"), flag).permitted
    assert not engine.can_see(asks("RYA", "HRESCH"), flag).permitted
