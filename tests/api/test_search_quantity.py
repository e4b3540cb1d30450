"""Quantity and number search over the REST API: precision ranges, prefixes and unit matching."""

from __future__ import annotations

from typing import Any

from apiutil import check, created, nhs_number, send
from fhirdata import observation, patient
from flask.testing import FlaskClient

UCUM = "http://unitsofmeasure.org"


def measured(client: FlaskClient, subject: str, quantity: dict[str, Any] | None) -> str:
    resource = observation(f"Patient/{subject}", 0)
    if quantity is None:
        del resource["valueQuantity"]
        resource["valueString"] = "not measured"
    else:
        resource["valueQuantity"] = quantity
    return str(created(client, resource)["id"])


def test_value_quantity(client: FlaskClient) -> None:
    subject = str(created(client, patient(nhs_number()))["id"])
    low = measured(client, subject, {"value": 99.6, "unit": "kg", "system": UCUM, "code": "kg"})
    mid = measured(client, subject, {"value": 100.4, "unit": "kg", "system": UCUM, "code": "kg"})
    high = measured(client, subject, {"value": 100.6, "unit": "kg", "system": UCUM, "code": "kg"})
    unit_only = measured(client, subject, {"value": 5.4, "unit": "mg"})
    pounds = measured(client, subject, {"value": 72, "unit": "lb", "system": UCUM, "code": "[lb_av]"})
    other_system = measured(
        client, subject, {"value": 100, "unit": "kg", "system": "http://example.org/u", "code": "kg"}
    )
    absent = measured(client, subject, None)
    check(
        client,
        [
            ("/Observation?value-quantity=100", {low, mid, other_system}),
            ("/Observation?value-quantity=eq100", {low, mid, other_system}),
            ("/Observation?value-quantity=100.0", {other_system}),
            ("/Observation?value-quantity=1e2", {low, mid, high, pounds, other_system}),
            ("/Observation?value-quantity=ne100", {high, unit_only, pounds}),
            ("/Observation?value-quantity=gt100", {mid, high}),
            ("/Observation?value-quantity=ge100", {mid, high, other_system}),
            ("/Observation?value-quantity=lt100", {low, unit_only, pounds}),
            ("/Observation?value-quantity=le100", {low, unit_only, pounds, other_system}),
            ("/Observation?value-quantity=sa100", {mid, high}),
            ("/Observation?value-quantity=eb100", {low, unit_only, pounds}),
            ("/Observation?value-quantity=ap100", {low, mid, high, other_system}),
            (f"/Observation?value-quantity=100|{UCUM}|kg", {low, mid}),
            ("/Observation?value-quantity=100||kg", {low, mid, other_system}),
            (f"/Observation?value-quantity=ge100|{UCUM}|kg", {mid, high}),
            ("/Observation?value-quantity=5.4||mg", {unit_only}),  # matched on the unit text
            (f"/Observation?value-quantity=5.4|{UCUM}|mg", set()),
            (f"/Observation?value-quantity=gt50|{UCUM}|%5Blb_av%5D", {pounds}),
            (f"/Observation?value-quantity=gt50|{UCUM}|", {low, mid, high, pounds}),
            ("/Observation?value-quantity=5.4,72", {unit_only, pounds}),
            ("/Observation?value-quantity=gt100&value-quantity=lt100.5", {mid}),
            ("/Observation?value-quantity:missing=true", {absent}),
        ],
    )


def assessment(client: FlaskClient, subject: str, *probabilities: float) -> str:
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": f"Patient/{subject}"},
    }
    if probabilities:
        resource["prediction"] = [{"probabilityDecimal": p} for p in probabilities]
    return str(created(client, resource)["id"])


def test_number_probability(client: FlaskClient) -> None:
    subject = str(created(client, patient(nhs_number()))["id"])
    one = assessment(client, subject, 0.2)
    two = assessment(client, subject, 0.25, 0.8)
    none = assessment(client, subject)
    check(
        client,
        [
            ("/RiskAssessment?probability=0.2", {one}),  # [0.15, 0.25): 0.25 is outside
            ("/RiskAssessment?probability=0.25", {two}),
            ("/RiskAssessment?probability=0.80", {two}),
            ("/RiskAssessment?probability=0.2,0.8", {one, two}),
            ("/RiskAssessment?probability=1e-1", set()),
            ("/RiskAssessment?probability=gt0.5", {two}),
            ("/RiskAssessment?probability=lt0.5", {one, two}),
            ("/RiskAssessment?probability=ge0.8", {two}),
            ("/RiskAssessment?probability=le0.2", {one}),
            ("/RiskAssessment?probability=ne0.2", {two}),
            ("/RiskAssessment?probability=ap0.22", {one}),
            ("/RiskAssessment?probability=sa0.7", {two}),
            ("/RiskAssessment?probability=eb0.21", {one}),
            ("/RiskAssessment?probability:missing=true", {none}),
            ("/RiskAssessment?probability:missing=false", {one, two}),
        ],
    )


def test_bad_numbers_are_400(client: FlaskClient) -> None:
    for url in ("/RiskAssessment?probability=", "/Observation?value-quantity="):
        for value in ("abc", "gt", "1.2.3", "1e", "kg"):
            response = send(client, "GET", url + value)
            assert response.status_code == 400, url + value
            assert response.get_json()["resourceType"] == "OperationOutcome"
