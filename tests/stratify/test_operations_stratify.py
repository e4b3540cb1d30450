"""$sign-off and $triage over real stratification runs, on SQLite and PostgreSQL.

Everyone is made a candidate deterministically: the settings put anyone with a risk of 0% or more in the
moderate tier, a candidate tier. Dates are relative to today, as $triage checks the review date against
today.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fhirdata import NHS, NHS_NUMBERS, ODS, patient
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from stratify.models.base import load_model
from stratify.operations import LONDON, provenance_id
from stratify.resources import flag_id, period_of, risk_assessment_id
from stratify.runs import run
from stratify.runstore import RunRecord, signed_off
from stratify.settings import StratifySettings, parse_settings

NORTH, SOUTH = "A81001", "B82002"
PEOPLE = {"p-ann": NORTH, "p-bob": NORTH, "p-cat": SOUTH}
SIGNER = "Dr Asha Patel (GP partner, A81001)"
FHIR_JSON = "application/fhir+json"


def send(client: FlaskClient, method: str, url: str, body: dict[str, Any] | None = None) -> TestResponse:
    headers = {"Accept": FHIR_JSON}
    if body is None:
        return client.open(url, method=method, headers=headers)
    return client.open(url, method=method, headers=headers, json=body, content_type=FHIR_JSON)


def put(client: FlaskClient, resource: dict[str, Any]) -> TestResponse:
    return send(client, "PUT", f"/{resource['resourceType']}/{resource['id']}", resource)


def outcome(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body: dict[str, Any] = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body


def diagnostics(oo: dict[str, Any]) -> str:
    return " ".join(issue.get("diagnostics", "") for issue in oo["issue"])


def today() -> date:
    return datetime.now(LONDON).date()


def settings() -> StratifySettings:
    return parse_settings(
        {
            "practices": {NORTH: "North", SOUTH: "South"},
            "tiering": {"policy": "rules", "moderate": {"min_probability": 0.0}, "candidate_tiers": ["moderate"]},
        },
        "test",
    )


def registered(pid: str, practice: str, nhs: str) -> dict[str, Any]:
    return {
        **patient(nhs=nhs, given=pid[2:].title(), birth="1940-05-06"),
        "id": pid,
        "generalPractitioner": [
            {"reference": f"Organization/{practice}", "identifier": {"system": ODS, "value": practice}}
        ],
    }


@pytest.fixture
def people(client: FlaskClient) -> dict[str, str]:
    for (pid, practice), nhs in zip(PEOPLE.items(), NHS_NUMBERS, strict=False):
        response = put(client, registered(pid, practice, nhs))
        assert response.status_code == 201, response.get_data(as_text=True)
    return PEOPLE


def stratify(app: Flask, as_of: date) -> RunRecord:
    return run(app.extensions["closer.repository"], settings(), as_of, load_model("default"))


def read(client: FlaskClient, resource_type: str, resource_id: str) -> dict[str, Any]:
    response = send(client, "GET", f"/{resource_type}/{resource_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def parameters(**values: Any) -> dict[str, Any]:
    out = []
    for name, value in values.items():
        if isinstance(value, dict):
            key = "valueReference" if "reference" in value else "valueIdentifier"
        elif isinstance(value, date):
            key, value = "valueDate", value.isoformat()
        elif name == "decision":
            key = "valueCode"
        else:
            key = "valueString"
        out.append({"name": name, key: value})
    return {"resourceType": "Parameters", "parameter": out}


def returned(response: TestResponse) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["resourceType"] == "Parameters"
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in body["parameter"]}


def sign_off(client: FlaskClient, **values: Any) -> TestResponse:
    return send(client, "POST", "/RiskAssessment/$sign-off", parameters(**values))


def triage(client: FlaskClient, pid: str, **values: Any) -> TestResponse:
    return send(client, "POST", f"/Patient/{pid}/$triage", parameters(**values))


# -- $sign-off -----------------------------------------------------------------------------------------


def test_sign_off_makes_one_practices_assessments_final_with_provenance(
    client: FlaskClient, app: Flask, people: dict[str, str]
) -> None:
    day = today()
    record = stratify(app, day)
    period = period_of(day)
    assert record.period == period
    for pid in people:
        assert read(client, "RiskAssessment", risk_assessment_id(period, pid))["status"] == "preliminary"

    got = returned(sign_off(client, practice=NORTH, signedBy=SIGNER))
    assert got["practice"] == {"system": ODS, "value": NORTH}
    assert got["period"] == period  # the latest run's period by default
    assert got["signedBy"] == SIGNER
    assert got["assessments"] == 2
    assert got["provenance"] == {"reference": f"Provenance/{provenance_id(period, NORTH)}"}

    status = {pid: read(client, "RiskAssessment", risk_assessment_id(period, pid))["status"] for pid in people}
    assert status == {"p-ann": "final", "p-bob": "final", "p-cat": "preliminary"}

    provenance = read(client, "Provenance", provenance_id(period, NORTH))
    targets = sorted(t["reference"] for t in provenance["target"])
    assert targets == [f"RiskAssessment/{risk_assessment_id(period, pid)}/_history/2" for pid in ("p-ann", "p-bob")]
    assert provenance["recorded"] == got["signedAt"]
    assert provenance["activity"]["coding"][0]["code"] == "UPDATE"
    agent = provenance["agent"][0]
    assert agent["type"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
        "code": "verifier",
        "display": "Verifier",
    }
    assert agent["who"]["display"] == SIGNER
    assert provenance["reason"][0]["text"] == (
        f"GP sign-off of the risk stratification result for practice {NORTH}, period {period}"
    )
    found = send(client, "GET", f"/Provenance?target=RiskAssessment/{risk_assessment_id(period, 'p-ann')}")
    assert [e["resource"]["id"] for e in found.get_json()["entry"]] == [provenance["id"]]
    assert signed_off(app.extensions["closer.engine"], period) == {NORTH: (SIGNER, got["signedAt"])}


def test_second_sign_off_is_409_unless_the_same_signer_retries(
    client: FlaskClient, app: Flask, people: dict[str, str]
) -> None:
    stratify(app, today())
    first = returned(sign_off(client, practice=NORTH, signedBy=SIGNER))
    oo = outcome(sign_off(client, practice=NORTH, signedBy="Dr Someone Else"), 409)
    assert SIGNER in diagnostics(oo)
    assert first["signedAt"] in diagnostics(oo)
    again = returned(sign_off(client, practice=NORTH.lower(), period=first["period"], signedBy=SIGNER))
    assert again == first  # a retry gets the sign-off it made, nothing is written twice
    history = send(client, "GET", f"/RiskAssessment/{risk_assessment_id(first['period'], 'p-ann')}/_history")
    assert len(history.get_json()["entry"]) == 2


def test_a_re_run_of_the_quarter_leaves_the_signed_off_practice_final(
    client: FlaskClient, app: Flask, people: dict[str, str]
) -> None:
    day = today()
    stratify(app, day)
    returned(sign_off(client, practice={"system": ODS, "value": NORTH}, signedBy=SIGNER))
    record = stratify(app, day)
    assert record.counts["signed_off_practices_kept"] == [NORTH]
    period = period_of(day)
    status = {pid: read(client, "RiskAssessment", risk_assessment_id(period, pid))["status"] for pid in people}
    assert status == {"p-ann": "final", "p-bob": "final", "p-cat": "preliminary"}
    returned(sign_off(client, practice=SOUTH, signedBy="Dr South"))
    assert read(client, "RiskAssessment", risk_assessment_id(period, "p-cat"))["status"] == "final"


def test_sign_off_errors(client: FlaskClient, app: Flask, people: dict[str, str]) -> None:
    oo = outcome(sign_off(client, practice=NORTH, signedBy=SIGNER), 404)  # nothing run yet
    assert "No stratification run" in diagnostics(oo)
    stratify(app, today())
    outcome(sign_off(client, signedBy=SIGNER), 400)
    oo = outcome(sign_off(client, practice=NORTH), 400)
    assert "signedBy" in diagnostics(oo)
    oo = outcome(sign_off(client, practice=NORTH, signedBy="  "), 400)
    assert "signedBy" in diagnostics(oo)
    oo = outcome(sign_off(client, practice="Z99999", signedBy=SIGNER), 404)
    assert "Z99999" in diagnostics(oo)
    oo = outcome(sign_off(client, practice=NORTH, period="2001-Q1", signedBy=SIGNER), 404)
    assert "2001-Q1" in diagnostics(oo)
    oo = outcome(sign_off(client, practice=NORTH, period="last quarter", signedBy=SIGNER), 400)
    assert "period" in diagnostics(oo)
    outcome(sign_off(client, practice={"system": NHS, "value": NORTH}, signedBy=SIGNER), 400)
    outcome(sign_off(client, practice=NORTH, signedBy=SIGNER, signedOn="2026-01-01"), 400)
    outcome(send(client, "GET", f"/RiskAssessment/$sign-off?practice={NORTH}&signedBy=x"), 405)
    period = period_of(today())
    assert read(client, "RiskAssessment", risk_assessment_id(period, "p-ann"))["status"] == "preliminary"


def test_sign_off_of_a_practice_missing_from_the_periods_run(
    client: FlaskClient, app: Flask, people: dict[str, str]
) -> None:
    earlier = today() - timedelta(days=200)
    stratify(app, earlier)
    moved = registered("p-cat", NORTH, NHS_NUMBERS[2])  # the South practice's only patient moves North
    assert put(client, moved).status_code == 200
    stratify(app, today())
    oo = outcome(sign_off(client, practice=SOUTH, signedBy=SIGNER), 404)
    assert SOUTH in diagnostics(oo) and period_of(today()) in diagnostics(oo)
    returned(sign_off(client, practice=SOUTH, period=period_of(earlier), signedBy=SIGNER))


# -- $triage -------------------------------------------------------------------------------------------


def flag(client: FlaskClient, pid: str) -> dict[str, Any]:
    return read(client, "Flag", flag_id(pid))


def note(client: FlaskClient, day: date, pid: str) -> str:
    assessment = read(client, "RiskAssessment", risk_assessment_id(period_of(day), pid))
    return " ".join(n["text"] for n in assessment.get("note", []))


def test_triage_include_records_a_task(client: FlaskClient, app: Flask, people: dict[str, str]) -> None:
    day = today()
    stratify(app, day)
    response = triage(client, "p-ann", decision="include", reason="Lives alone, recent falls", decidedBy="MDT North")
    assert response.status_code == 201, response.get_data(as_text=True)
    task = response.get_json()
    assert response.headers["Location"] == f"http://localhost/Task/{task['id']}/_history/1"
    assert task["resourceType"] == "Task"
    assert task["for"] == {"reference": "Patient/p-ann"}
    assert task["businessStatus"]["coding"][0]["code"] == "include"
    assert task["focus"] == {"reference": f"RiskAssessment/{risk_assessment_id(period_of(day), 'p-ann')}"}
    assert task["requester"] == {"display": "MDT North"}
    assert "output" not in task
    assert read(client, "Task", task["id"]) == task
    assert flag(client, "p-ann")["status"] == "active"


def test_triage_exclude_retires_the_flag_until_the_review_date(
    client: FlaskClient, app: Flask, people: dict[str, str]
) -> None:
    day = today()
    stratify(app, day)
    assert flag(client, "p-bob")["status"] == "active"
    review = day + timedelta(days=100)
    response = triage(
        client,
        "p-bob",
        decision="exclude",
        reason="Already known to the community matron",
        nextReview=review,
        decidedBy="MDT North",
        focus={"reference": f"RiskAssessment/{risk_assessment_id(period_of(day), 'p-bob')}"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    task = response.get_json()
    assert task["businessStatus"]["coding"][0]["code"] == "exclude"
    assert task["output"][0]["valueDate"] == review.isoformat()
    retired = flag(client, "p-bob")
    assert retired["status"] == "inactive"
    assert retired["period"]["end"] == day.isoformat()

    # The same quarter again, and a later run still before the review date: not proposed.
    for as_of in (day, day + timedelta(days=95)):
        stratify(app, as_of)
        assert flag(client, "p-bob")["status"] == "inactive", as_of
        text = note(client, as_of, "p-bob")
        assert "Excluded" in text and review.isoformat() in text, text
        assert flag(client, "p-ann")["status"] == "active"

    # After the review date they are proposed again (everyone is in a candidate tier here).
    after = review + timedelta(days=1)
    stratify(app, after)
    again = flag(client, "p-bob")
    assert again["status"] == "active"
    assert again["period"]["start"] == after.isoformat()
    assert "Excluded" not in note(client, after, "p-bob")


def test_triage_errors(client: FlaskClient, app: Flask, people: dict[str, str]) -> None:
    day = today()
    stratify(app, day)
    ok = {"reason": "Reviewed at MDT", "decidedBy": "MDT North"}
    oo = outcome(triage(client, "p-bob", decision="exclude", **ok), 422)
    assert "nextReview" in diagnostics(oo)
    oo = outcome(triage(client, "p-bob", decision="exclude", nextReview=day, **ok), 422)
    assert "after today" in diagnostics(oo)
    outcome(triage(client, "p-bob", decision="include", nextReview=day + timedelta(days=9), **ok), 422)
    outcome(triage(client, "p-bob", decision="maybe", **ok), 422)
    outcome(triage(client, "nobody", decision="include", **ok), 404)
    oo = outcome(triage(client, "p-bob", decision="include", reason="x"), 400)
    assert "decidedBy" in diagnostics(oo)
    outcome(triage(client, "p-bob", decision="include", reason="x", decidedBy="y", nextReveiw=day), 400)
    outcome(triage(client, "p-bob", decision="include", focus={"reference": "Condition/c1"}, **ok), 400)
    other = {"reference": f"RiskAssessment/{risk_assessment_id(period_of(day), 'p-ann')}"}
    oo = outcome(triage(client, "p-bob", decision="include", focus=other, **ok), 422)
    assert "p-ann" in diagnostics(oo)
    outcome(triage(client, "p-bob", decision="include", focus={"reference": "RiskAssessment/none"}, **ok), 422)
    assert flag(client, "p-bob")["status"] == "active"
    assert send(client, "GET", "/Task").get_json().get("total") == 0


def test_triage_before_any_run_has_no_focus(client: FlaskClient, people: dict[str, str]) -> None:
    response = triage(client, "p-cat", decision="include", reason="Referred by GP", decidedBy="MDT South")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert "focus" not in response.get_json()
