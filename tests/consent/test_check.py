"""`$consent-check` output: a valid R4 Parameters resource that carries the whole explanation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from closer.fhir.validate import validate_resource
from consent.check import explain, verdict_parameters
from consent.engine import Consumer, Decision, Verdict
from consent.model import TREAT
from tests.consent.consent_data import (
    AE,
    END_OF_LIFE,
    PARAMEDIC,
    care_plan,
    emergency_sharing,
    flag,
    organization,
    request,
)


def values(parameters: dict[str, Any], name: str) -> list[Any]:
    found = []
    for p in parameters["parameter"]:
        if p["name"] == name:
            found.append(next(v for k, v in p.items() if k.startswith("value") or k == "part"))
    return found


def test_a_denial_names_the_consent_provision_and_reason() -> None:
    result = explain([emergency_sharing()], request(AE), care_plan(category=END_OF_LIFE))
    validate_resource(result)
    assert values(result, "decision") == ["REJECT"]
    assert values(result, "permitted") == [False]
    assert values(result, "consent") == [{"reference": "Consent/share"}]
    assert values(result, "provision") == ["provision.provision[0]"]
    assert values(result, "service") == ["patient-consent"]
    (reason,) = values(result, "reason")
    assert reason.startswith("Consent/share provision.provision[0] denies this, overriding provision (permit)")


def test_a_permit_echoes_the_request() -> None:
    result = explain([emergency_sharing()], request(), flag())
    validate_resource(result)
    assert values(result, "decision") == ["AUTHORIZED"]
    (parts,) = values(result, "request")
    echoed = {(p["name"], str(next(v for k, v in p.items() if k.startswith("value")))) for p in parts}
    assert ("patient", "{'reference': 'Patient/p1'}") in echoed
    assert ("consumer", "{'reference': 'Organization/RYA'}") in echoed
    assert ("resource", "{'reference': 'Flag/f1'}") in echoed
    assert ("role", str({"system": PARAMEDIC.system, "code": PARAMEDIC.code})) in echoed
    assert ("moment", "2025-03-01T12:00:00+00:00") in echoed


def test_the_default_deny_lists_what_was_considered() -> None:
    result = explain([emergency_sharing(status="inactive")], request(purpose=TREAT), flag())
    validate_resource(result)
    assert values(result, "decision") == ["REJECT"]
    assert values(result, "reason") == ["no consent permits this"]
    assert values(result, "consent") == [] and values(result, "provision") == []
    notes = values(result, "note")
    assert "Consent/share is inactive (withdrawn or no longer in force), so it permits nothing" in notes


def test_minimal_requests_and_odd_resources_still_give_valid_parameters() -> None:
    bare = request(Consumer(ods_code="RYA"), None, patient=None)
    for resource in (organization(), {"resourceType": "Flag"}, flag()):
        validate_resource(explain([], bare, resource))


def test_verdict_parameters_renders_any_verdict() -> None:
    verdict = Verdict(Decision.AUTHORIZED, "break-glass access recorded", service="break-glass", trace=("a", "b"))
    result = verdict_parameters(verdict, request(), flag())
    validate_resource(result)
    assert values(result, "note") == ["a", "b"]
    assert values(result, "permitted") == [True]


def test_the_documented_example_is_the_tested_fixture() -> None:
    """CONSENT.md's example Consent is the one the engine tests decide, and its explanation is current."""
    text = (Path(__file__).parents[2] / "consent" / "CONSENT.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    example = json.loads(blocks[0])
    validate_resource(example)
    assert example == emergency_sharing()
    result = explain([example], request(AE), care_plan(category=END_OF_LIFE))
    (reason,) = values(result, "reason")
    assert json.dumps(reason) in blocks[1]
