"""Builders for the publisher tests: a patient with DNAR alert, allergy and emergency care plan, a Consent
sharing them with an ambulance service, and a receiver (pytest-httpserver) that records every raw request.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from closer.store.sql import SqlRepository
from consent.alertcodes import EMERGENCY_CARE_PLAN, SNOMED
from consent.publisher.settings import PublishSettings, Registration
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM

JSON = dict[str, Any]
AMBULANCE_ODS = "RYA"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
IRCP = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]}


def patient(pid: str) -> JSON:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": "Test", "given": [pid]}]}


def organization(ods: str = AMBULANCE_ODS) -> JSON:
    return {
        "resourceType": "Organization",
        "id": f"org-{ods.lower()}",
        "identifier": [{"system": ODS_ORGANIZATION_SYSTEM, "value": ods}],
        "name": f"Organization {ods}",
    }


def share_consent(pid: str, *, ods: str = AMBULANCE_ODS, status: str = "active", cid: str | None = None) -> JSON:
    """The patient lets `ods` have their DNAR Flags, allergies and care plans for emergency treatment."""
    return {
        "resourceType": "Consent",
        "id": cid or f"share-{pid}",
        "status": status,
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{pid}"},
        "dateTime": "2024-01-01",
        "provision": {
            "type": "permit",
            "actor": [{"role": IRCP, "reference": {"identifier": {"system": ODS_ORGANIZATION_SYSTEM, "value": ods}}}],
            "purpose": [{"system": ACT_REASON, "code": "ETREAT"}],
            "class": [
                {"system": RESOURCE_TYPES, "code": "Flag"},
                {"system": RESOURCE_TYPES, "code": "AllergyIntolerance"},
                {"system": RESOURCE_TYPES, "code": "CarePlan"},
            ],
        },
    }


def dnar_flag(pid: str, fid: str | None = None, status: str = "active") -> JSON:
    return {
        "resourceType": "Flag",
        "id": fid or f"dnar-{pid}",
        "status": status,
        "code": {"coding": [{"system": SNOMED, "code": "304253006"}]},
        "subject": {"reference": f"Patient/{pid}"},
    }


def allergy(pid: str, aid: str | None = None, note: str = "penicillin") -> JSON:
    return {
        "resourceType": "AllergyIntolerance",
        "id": aid or f"allergy-{pid}",
        "code": {"coding": [{"system": SNOMED, "code": "91936005"}], "text": note},
        "patient": {"reference": f"Patient/{pid}"},
    }


def emergency_plan(pid: str, pid_plan: str | None = None, title: str = "Emergency care plan") -> JSON:
    return {
        "resourceType": "CarePlan",
        "id": pid_plan or f"ecp-{pid}",
        "status": "active",
        "intent": "plan",
        "title": title,
        "category": [{"coding": [{"system": SNOMED, "code": EMERGENCY_CARE_PLAN}]}],
        "subject": {"reference": f"Patient/{pid}"},
    }


def seed_patient(repo: SqlRepository, pid: str, *, consent: bool = True) -> None:
    """A patient with a DNAR Flag, an allergy and an emergency care plan, sharing them (or not)."""
    repo.update(patient(pid))
    if consent:
        repo.update(share_consent(pid))
    repo.update(dnar_flag(pid))
    repo.update(allergy(pid))
    repo.update(emergency_plan(pid))


def settings(url: str, key_dir: Path, *, mode: str = "put", **overrides: Any) -> PublishSettings:
    """One ambulance endpoint at `url`, with backoff small enough for tests."""
    registration = Registration(name="ambulance", url=url, ods=AMBULANCE_ODS, mode=mode, timeout=5.0)
    values: dict[str, Any] = {
        "signing_key": key_dir / "publisher-key.pem",
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        "lease": 30.0,
        "registrations": (registration,),
    }
    values.update(overrides)
    return PublishSettings(**values)


def settings_toml(url: str, key_path: Path, *, lease: float = 30.0) -> str:
    return (
        "[publisher]\n"
        f'signing_key = "{key_path}"\n'
        "backoff_base = 0.01\nbackoff_cap = 0.05\n"
        f"lease = {lease}\n\n"
        "[[endpoint]]\n"
        'name = "ambulance"\n'
        f'url = "{url}"\n'
        f'ods = "{AMBULANCE_ODS}"\n'
        "timeout = 5.0\n"
    )


@dataclass(frozen=True)
class Receipt:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")

    @property
    def resource(self) -> JSON | None:
        return json.loads(self.body) if self.body else None


@dataclass
class Receiver:
    """Records every raw request; `answer` chooses each reply (default 200)."""

    server: HTTPServer
    receipts: list[Receipt] = field(default_factory=list)
    answer: Callable[[Receipt], tuple[int, str]] = lambda _r: (200, "")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server.expect_request(re.compile(r"^/.*")).respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        receipt = Receipt(request.method, request.path, dict(request.headers), request.get_data())
        with self.lock:
            self.receipts.append(receipt)
        status, body = self.answer(receipt)
        return Response(body, status=status, content_type="application/fhir+json")

    @property
    def url(self) -> str:
        return self.server.url_for("/fhir")
