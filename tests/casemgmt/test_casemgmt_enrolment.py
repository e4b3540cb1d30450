"""Referral, the triage queue and enrolment over the FHIR API (and the service the pages call), on SQLite
and PostgreSQL. A stratification run proposes one person; a GP refers another."""

from __future__ import annotations

from cm_data import (
    ANN,
    BOB,
    CAT,
    MANAGER,
    NORTH_PRACTICE,
    emergency_admission,
    enrol,
    include,
    ok,
    operation,
    outcome,
    put,
    read,
    refer,
    repository,
    search,
    setting_up,
    settings,
    today,
)
from flask import Flask
from flask.testing import FlaskClient

from casemgmt import codes
from casemgmt.service import triage_queue
from stratify.models.base import load_model
from stratify.runs import run
from stratify.settings import parse_settings
from tests.stratify.strat_data import FRAIL_CODES, gp_condition


def stratify(app: Flask) -> None:
    """A run in which ANN (four emergency admissions, thirteen frailty deficits) is a severe candidate."""
    strat = parse_settings(
        {
            "practices": {NORTH_PRACTICE: "North"},
            "tiering": {
                "severe": {"min_probability": 0.45, "min_frailty": "severe"},
                "moderate": {"min_probability": 0.25, "min_frailty": "moderate"},
                "mild": {"min_probability": 0.12, "min_frailty": "mild"},
            },
        },
        "tests",
    )
    run(repository(app), strat, today(), load_model("default"))


def history(client: FlaskClient, nhs: str) -> None:
    from datetime import timedelta

    for n in range(4):
        put(client, emergency_admission(nhs, n, today() - timedelta(days=20 + 60 * n)))
    for code in FRAIL_CODES:
        put(client, {**gp_condition(nhs, code, today().replace(year=2020)), "id": f"gp-{nhs}-{code}"})


def test_teams_cover_every_practice_and_load_as_organizations(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app)
    cm = settings()
    served = [p for team in cm.teams.values() for p in team.practices]
    assert sorted(served) == sorted(cm.stratify.practices) and len(served) == 36
    team = read(client, "Organization", "cmt-north-1")
    assert team["identifier"][0] == {"system": codes.TEAM_IDENTIFIER_SYSTEM, "value": "north-1"}
    assert team["type"][0]["coding"][0]["code"] == "case-management"
    assert read(client, "Organization", "ooh-central")["type"][0]["coding"][0]["code"] == "out-of-hours"
    assert len(search(client, f"Organization?type={codes.TEAM_TYPE_SYSTEM}|case-management")) == 12


def test_candidates_and_referrals_share_one_queue_until_triage_decides(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, ANN, BOB)
    history(client, ANN)
    stratify(app)
    referral = refer(client, BOB, "ae")
    assert referral["status"] == "active" and referral["performer"] == [{"reference": "Organization/cmt-north-1"}]

    queue = {item.patient_id: item for item in triage_queue(repository(app), "north-1", settings())}
    assert set(queue) == {ANN, BOB}
    ann, bob = queue[ANN], queue[BOB]
    assert (ann.source, ann.tier, ann.emergency_admissions, ann.seen_before) == ("stratification", "severe", 4, False)
    assert ann.focus.startswith("RiskAssessment/") and ann.factors and ann.probability
    assert (bob.source, bob.referral_source, bob.referral_reason) == ("referral", "ae", "Falls at home")
    assert bob.focus == f"ServiceRequest/{referral['id']}"
    assert triage_queue(repository(app), "south-1", settings()) == []

    include(client, ANN)
    include(client, BOB, bob.focus)
    assert triage_queue(repository(app), "north-1", settings()) == []


def test_enrolment_makes_an_episode_and_care_team_once(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, ANN, BOB)
    history(client, ANN)
    stratify(app)
    include(client, ANN)
    episode = enrol(client, ANN, tier=None)  # the tier comes from the latest RiskAssessment
    assert episode["id"] == f"eoc-{ANN}-1" and episode["status"] == "active"
    assert episode["careManager"] == {"reference": MANAGER}
    assert episode["managingOrganization"] == {"reference": "Organization/cmt-north-1"}
    assert episode["extension"][0]["valueCoding"]["code"] == "severe"
    assert "referralRequest" not in episode
    team = read(client, "CareTeam", f"ct-{ANN}-1")
    members = [p["member"]["reference"] for p in team["participant"]]
    assert members == [MANAGER, f"Organization/{NORTH_PRACTICE}", "Organization/ooh-north"]  # who a crew calls
    alerts = client.get(f"/Patient/$alerts?identifier=https://fhir.nhs.uk/Id/nhs-number|{ANN}").get_json()
    contacts = {e["resource"]["id"] for e in alerts["entry"] if e["search"]["mode"] == "include"}
    assert {"cmt-north-1", "ooh-north"} <= contacts
    caseload = search(client, f"EpisodeOfCare?care-manager={MANAGER}&status=active")
    assert [e["id"] for e in caseload] == [episode["id"]]

    again = operation(client, f"/Patient/{ANN}/$enrol", ("careManager", {"reference": MANAGER}))
    assert "already case managed" in outcome(again, 409)


def test_a_referral_included_at_triage_is_completed_on_enrolment(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, BOB)
    referral = refer(client, BOB, "self")
    include(client, BOB, f"ServiceRequest/{referral['id']}")
    episode = enrol(client, BOB, tier="mild")
    assert episode["referralRequest"] == [{"reference": f"ServiceRequest/{referral['id']}"}]
    assert read(client, "ServiceRequest", referral["id"])["status"] == "completed"


def test_enrolment_needs_an_inclusion_a_case_manager_and_a_tier(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, BOB, CAT)
    not_triaged = operation(client, f"/Patient/{CAT}/$enrol", ("careManager", {"reference": MANAGER}))
    assert "no triage decision" in outcome(not_triaged, 422)
    refer(client, BOB)
    include(client, BOB)
    missing = operation(client, f"/Patient/{BOB}/$enrol")
    assert "careManager" in outcome(missing, 400)
    unknown = operation(client, f"/Patient/{BOB}/$enrol", ("careManager", {"reference": "Practitioner/nobody"}))
    assert "careManager" in outcome(unknown, 422)
    no_tier = operation(client, f"/Patient/{BOB}/$enrol", ("careManager", {"reference": MANAGER}))
    assert "name = 'tier'" in outcome(no_tier, 422)  # no RiskAssessment to take it from
    bad_tier = operation(client, f"/Patient/{BOB}/$enrol", ("careManager", {"reference": MANAGER}), ("tier", "huge"))
    assert "tier" in outcome(bad_tier, 422)


def test_referral_checks_its_source(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, BOB)
    bad = operation(client, f"/Patient/{BOB}/$refer", ("source", "neighbour"), ("reason", "Worried"))
    assert "name = 'source'" in outcome(bad, 422)
    assert "reason" in outcome(operation(client, f"/Patient/{BOB}/$refer", ("source", "gp")), 400)
    assert ok(operation(client, f"/Patient/{BOB}/$refer", ("source", "gp"), ("reason", "Frail")), 201)
