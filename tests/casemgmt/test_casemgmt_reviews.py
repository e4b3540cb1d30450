"""Plans, reviews and every discharge route over the FHIR API, on SQLite and PostgreSQL: agreeing and
superseding plans, review Tasks falling due, continue / adjust / transfer, and discharge for improvement
(criteria met and not met), by choice, and (refused) for death while the person is alive."""

from __future__ import annotations

from datetime import timedelta

from cm_data import (
    ANN,
    BOB,
    MANAGER,
    NORTH_PRACTICE,
    agree,
    emergency_admission,
    enrolled,
    ok,
    outcome,
    plan,
    put,
    read,
    repository,
    review,
    search,
    setting_up,
    settings,
    today,
)
from flask import Flask
from flask.testing import FlaskClient

from casemgmt import codes
from casemgmt.service import caseload, due_reviews
from stratify.codes import TIER_SYSTEM

JSON = dict


def assessed(client: FlaskClient, nhs: str, tier: str) -> None:
    """A RiskAssessment today putting the person in `tier`."""
    put(
        client,
        {
            "resourceType": "RiskAssessment",
            "id": f"ra-test-{nhs}",
            "status": "final",
            "subject": {"reference": f"Patient/{nhs}"},
            "occurrenceDateTime": today().isoformat(),
            "prediction": [{"qualitativeRisk": {"coding": [{"system": TIER_SYSTEM, "code": tier}]}}],
        },
    )


def plans_of(client: FlaskClient, nhs: str, status: str) -> list[JSON]:
    return search(client, f"CarePlan?patient=Patient/{nhs}&status={status}")


def test_a_severe_tier_needs_an_emergency_plan_and_plans_supersede(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, ANN)
    enrolled(client, app, ANN, tier="severe")
    soon = today() + timedelta(days=28)
    refused = agree(client, ANN, ("carePlan", plan("Weekly calls", soon)))
    assert "emergency" in outcome(refused, 422)
    no_review = agree(client, ANN, ("carePlan", plan("Weekly calls")), ("emergency", plan("Call 999")))
    assert "carePlan" in outcome(no_review, 422)

    made = ok(
        agree(
            client,
            ANN,
            ("carePlan", plan("Weekly calls", soon, "Walks 50 m with a frame")),
            ("emergency", plan("Call the rapid response team")),
            ("endOfLife", plan("Wishes: to die at home")),
        )
    )
    written = {p["resource"]["id"]: p["resource"] for p in made["parameter"]}
    care = written[f"careplan-{ANN}-care-1"]
    assert care["category"][0]["coding"][0]["code"] == codes.CARE_PLAN
    assert care["author"] == {"reference": MANAGER} and care["status"] == "active"
    assert care["extension"] == [{"url": codes.NEXT_REVIEW_EXTENSION, "valueDate": soon.isoformat()}]
    assert care["contained"][0]["description"]["text"] == "Walks 50 m with a frame"
    assert care["goal"] == [{"reference": "#baseline"}]
    assert {f"careplan-{ANN}-emergency-1", f"careplan-{ANN}-end-of-life-1"} <= set(written)

    ok(agree(client, ANN, ("emergency", plan("Call the GP first, then 999"))))
    assert read(client, "CarePlan", f"careplan-{ANN}-emergency-1")["status"] == "revoked"
    newer = read(client, "CarePlan", f"careplan-{ANN}-emergency-2")
    assert newer["replaces"] == [{"reference": f"CarePlan/careplan-{ANN}-emergency-1"}]
    assert len(plans_of(client, ANN, "active")) == 3


def test_plans_need_an_enrolled_person(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, BOB)
    refused = agree(client, BOB, ("carePlan", plan("Weekly calls", today() + timedelta(days=10))))
    assert "enrol them first" in outcome(refused, 422)


def test_reviews_fall_due_as_tasks_and_continue_or_adjust(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, ANN)
    enrolled(client, app, ANN)
    due = today() + timedelta(days=5)
    ok(agree(client, ANN, ("carePlan", plan("Weekly calls", due, "Independent indoors"))))
    repo, cm = repository(app), settings()
    assert due_reviews(repo, cm, today() - timedelta(days=10)) == []  # not yet within the notice
    (task,) = due_reviews(repo, cm, today())
    assert task["id"] == f"review-careplan-{ANN}-care-1-{due.strftime('%Y%m%d')}"
    assert (task["status"], task["owner"], task["focus"]) == (
        "requested",
        {"reference": MANAGER},
        {"reference": f"CarePlan/careplan-{ANN}-care-1"},
    )
    assert task["restriction"]["period"]["end"] == due.isoformat()
    assert [t["meta"]["versionId"] for t in due_reviews(repo, cm, today())] == ["1"]  # made once
    (item,) = caseload(repo, MANAGER, cm, today=due + timedelta(days=1))
    assert (item.review, item.review_task, item.next_review) == ("overdue", task["id"], due)
    assert item.practice == NORTH_PRACTICE  # read with the caseload's Patients, for the page's scope

    missing = review(client, ANN, ("decision", "continue"), ("reason", "Stable"))
    assert "nextReview" in outcome(missing, 422)
    later = today() + timedelta(days=60)
    done = ok(review(client, ANN, ("decision", "continue"), ("reason", "Stable"), ("nextReview", later)))
    assert done["id"] == task["id"] and done["status"] == "completed"
    assert done["businessStatus"]["coding"][0]["code"] == "continue"
    assert done["output"][0]["valueDate"] == later.isoformat()
    care = read(client, "CarePlan", f"careplan-{ANN}-care-1")
    assert care["extension"][0]["valueDate"] == later.isoformat()
    assert caseload(repo, MANAGER, cm)[0].review == "scheduled"

    adjusted = ok(
        review(client, ANN, ("decision", "adjust"), ("reason", "Falls"), ("nextReview", later), ("plan", "Daily calls"))
    )
    assert adjusted["businessStatus"]["coding"][0]["code"] == "adjust"
    assert read(client, "CarePlan", f"careplan-{ANN}-care-1")["status"] == "revoked"
    new = read(client, "CarePlan", f"careplan-{ANN}-care-2")
    assert new["description"] == "Daily calls" and new["contained"][0]["description"]["text"] == "Independent indoors"
    assert new["replaces"] == [{"reference": f"CarePlan/careplan-{ANN}-care-1"}]


def _ended(client: FlaskClient, nhs: str, outcome_code: str) -> JSON:
    episode = read(client, "EpisodeOfCare", f"eoc-{nhs}-1")
    assert episode["status"] == "finished" and "end" in episode["period"]
    assert episode["statusHistory"][-1]["status"] == "active"
    (kind,) = [e for e in episode["extension"] if e["url"] == codes.OUTCOME_EXTENSION]
    assert kind["valueCodeableConcept"]["coding"][0]["code"] == outcome_code
    assert read(client, "CareTeam", f"ct-{nhs}-1")["status"] == "inactive"
    assert [t["status"] for t in search(client, f"Task?patient=Patient/{nhs}&status=requested")] == []
    return episode


def _letters(client: FlaskClient, nhs: str) -> list[JSON]:
    return search(client, f"Communication?patient=Patient/{nhs}")


def test_transfer_ends_the_episode_without_a_discharge_letter(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, ANN)
    enrolled(client, app, ANN)
    ok(agree(client, ANN, ("carePlan", plan("Weekly calls", today() + timedelta(days=3)))))
    due_reviews(repository(app), settings(), today())
    refused = review(client, ANN, ("decision", "transfer"), ("reason", "Needs 24-hour care"))
    assert "setting" in outcome(refused, 422)
    done = ok(review(client, ANN, ("decision", "transfer"), ("reason", "24-hour care"), ("setting", "Nursing home")))
    assert done["businessStatus"]["coding"][0]["code"] == "transfer"
    episode = _ended(client, ANN, "transfer")
    assert "Nursing home" in episode["extension"][-1]["valueCodeableConcept"]["text"]
    assert read(client, "CarePlan", f"careplan-{ANN}-care-1")["status"] == "completed"
    assert _letters(client, ANN) == []


def test_discharge_for_improvement_is_checked_against_the_criteria(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, ANN)
    enrolled(client, app, ANN)
    assessed(client, ANN, "moderate")
    put(client, emergency_admission(ANN, 1, today() - timedelta(days=40)))
    ok(agree(client, ANN, ("carePlan", plan("Weekly calls", today() + timedelta(days=3)))))
    due_reviews(repository(app), settings(), today())
    asked = (("decision", "discharge"), ("reason", "Much better"), ("dischargeReason", "improvement"))
    refused = outcome(review(client, ANN, *asked), 422)
    assert "months_without_emergency_admission" in refused and "max_tier" in refused
    assert "dischargeReason" in refused

    assessed(client, ANN, "mild")
    put(client, {**emergency_admission(ANN, 1, today() - timedelta(days=40)), "status": "entered-in-error"})
    done = ok(review(client, ANN, *asked))
    assert done["businessStatus"]["coding"][0]["code"] == "discharge"
    _ended(client, ANN, "improvement")
    (letter,) = _letters(client, ANN)
    assert letter["recipient"] == [{"reference": f"Organization/{NORTH_PRACTICE}"}]
    assert letter["about"] == [{"reference": f"EpisodeOfCare/eoc-{ANN}-1"}]
    assert letter["category"][0]["coding"][0]["code"] == codes.DISCHARGE_LETTER
    assert letter["sender"] == {"reference": "Organization/cmt-north-1"}
    assert read(client, "CarePlan", f"careplan-{ANN}-care-1")["status"] == "completed"
    assert caseload(repository(app), MANAGER, settings()) == []


def test_discharge_by_choice_and_death_only_when_deceased(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, ANN)
    enrolled(client, app, ANN)
    alive = review(client, ANN, ("decision", "discharge"), ("reason", "Died"), ("dischargeReason", "death"))
    assert "not recorded as deceased" in outcome(alive, 422)
    unsaid = review(client, ANN, ("decision", "discharge"), ("reason", "Refuses support"))
    assert "dischargeReason" in outcome(unsaid, 422)
    ok(review(client, ANN, ("decision", "discharge"), ("reason", "Refuses support"), ("dischargeReason", "choice")))
    _ended(client, ANN, "choice")
    (letter,) = _letters(client, ANN)
    assert "Refuses support" in letter["payload"][0]["contentString"]
    enrolled_again = review(client, ANN, ("decision", "continue"), ("reason", "x"), ("nextReview", today()))
    assert outcome(enrolled_again, 422)
