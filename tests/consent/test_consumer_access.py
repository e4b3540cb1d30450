"""Consumer systems through the app: the consent-guarded repository on every read path, `$alerts`,
`$consent-check`, and the audit of what was shown. Runs on SQLite and PostgreSQL.

The live-server matrix (tests/live/test_access_matrix.py) checks every consumer x patient x type against
the engine; these tests pin the rules around it: what a refusal looks like, paging and counts, batches,
deletions, the limits on consumer searches, and that nothing is disclosed unless it is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sharing
from bearer import consumer
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from closer.audit import events_for, verify
from closer.auth.principal import Principal
from consent.access import guard_for
from fhir_profiles.canonical import NHS_NUMBER_SYSTEM

JSON = dict[str, Any]


class Consumer:
    """A registered consumer system with a token for every scope sharing.CONSUMER_SCOPES lists."""

    def __init__(self, app: Flask, who: sharing.Consumer, scopes: tuple[str, ...] = sharing.CONSUMER_SCOPES) -> None:
        self.http = consumer(app, who.name, scopes, ods=who.ods, purpose=who.purpose)

    def get(self, url: str) -> TestResponse:
        return self.http.get(url)

    def ids(self, url: str) -> list[str]:
        response = self.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [e["resource"]["id"] for e in response.get_json().get("entry", []) if e["search"]["mode"] == "match"]


@pytest.fixture
def loaded(client: FlaskClient) -> FlaskClient:
    sharing.load(client)
    return client


@pytest.fixture
def ambulance(app: Flask, loaded: FlaskClient) -> Consumer:
    return Consumer(app, sharing.AMBULANCE)


@pytest.fixture
def ae(app: Flask, loaded: FlaskClient) -> Consumer:
    return Consumer(app, sharing.AE)


def nhs(patient: str) -> str:
    return f"{NHS_NUMBER_SYSTEM}|{sharing.nhs_numbers()[patient]}"


# -- reads: a refusal looks like absence ------------------------------------------------------------------


def test_a_hidden_resource_is_the_same_404_as_one_that_does_not_exist(ambulance: Consumer) -> None:
    assert ambulance.get("/Flag/p1-dnar").status_code == 200
    hidden, absent = ambulance.get("/Flag/p2-dnar"), ambulance.get("/Flag/p9-dnar")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.get_json()["issue"][0]["diagnostics"] == "Flag/p2-dnar is not known"
    assert absent.get_json()["issue"][0]["diagnostics"] == "Flag/p9-dnar is not known"
    hidden, absent = ambulance.get("/Flag/p2-dnar/_history/1"), ambulance.get("/Flag/p9-dnar/_history/1")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.get_json() == {
        **absent.get_json(),
        "issue": [{**absent.get_json()["issue"][0], "diagnostics": "Version 1 of Flag/p2-dnar is not known"}],
    }
    assert ambulance.get("/Condition/p1-copd").status_code == 404  # p1 shares no Conditions


def test_a_deleted_resource_is_gone_only_to_those_who_could_see_it(loaded: FlaskClient, ambulance: Consumer) -> None:
    assert loaded.delete("/Flag/p1-falls").status_code == 204
    assert loaded.delete("/Flag/p2-falls").status_code == 204
    assert ambulance.get("/Flag/p1-falls").status_code == 410
    assert ambulance.get("/Flag/p2-falls").status_code == 404
    assert ambulance.get("/Flag/p2-falls/_history/2").status_code == 404
    history = ambulance.get("/Flag/p1-falls/_history").get_json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT"]
    assert ambulance.get("/Flag/p2-falls/_history").status_code == 404


def test_a_nested_deny_hides_the_end_of_life_plan_from_ae_only(ambulance: Consumer, ae: Consumer) -> None:
    assert ambulance.get("/CarePlan/p1-eol").status_code == 200
    assert ae.get("/CarePlan/p1-eol").status_code == 404
    assert ae.get("/CarePlan/p1-ecp").status_code == 200


def test_a_withdrawn_consent_and_a_data_only_consent(ambulance: Consumer) -> None:
    assert ambulance.ids("/Flag?patient=Patient/p3") == []
    assert ambulance.ids("/Flag?patient=Patient/p4") == ["p4-dnar"]
    assert ambulance.get("/Flag/p4-falls").status_code == 404


# -- search: counts, paging, includes, chains -----------------------------------------------------------


def test_counts_and_totals_count_only_what_the_consumer_may_see(ambulance: Consumer) -> None:
    assert ambulance.get("/CarePlan?patient=Patient/p1&_summary=count").get_json()["total"] == 3
    assert ambulance.get("/CarePlan?patient=Patient/p2&_summary=count").get_json()["total"] == 0
    assert ambulance.get("/Flag?patient=Patient/p4").get_json()["total"] == 1
    assert ambulance.get("/Condition?patient=Patient/p1&_summary=count").get_json()["total"] == 0


def test_paging_walks_exactly_the_visible_matches(ambulance: Consumer) -> None:
    seen: list[str] = []
    url: str | None = "/CarePlan?patient=Patient/p1&_count=1&_sort=_id"
    while url is not None:
        page = ambulance.get(url).get_json()
        assert page["total"] == 3
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        url = url.replace("http://localhost", "") if url else None
    assert seen == ["p1-ecp", "p1-ecp-old", "p1-eol"]


def test_includes_are_judged_one_by_one(ambulance: Consumer) -> None:
    bundle = ambulance.get("/EpisodeOfCare?patient=Patient/p1&_include=EpisodeOfCare:care-manager").get_json()
    assert {e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "include"} == {"cm1"}
    bundle = ambulance.get("/Flag?patient=Patient/p1&_include=Flag:patient").get_json()
    assert [e["search"]["mode"] for e in bundle["entry"]] == ["match", "match"]  # the Patient is not shared
    assert ambulance.ids("/Patient?_id=p1&_revinclude=Flag:patient") == []  # nor found by a revinclude


def test_a_patient_shared_with_ae_is_included_for_ae_only(ambulance: Consumer, ae: Consumer) -> None:
    url = "/Flag?patient=Patient/p1&_include=Flag:patient"
    included = [e["resource"]["id"] for e in ae.get(url).get_json()["entry"] if e["search"]["mode"] == "include"]
    assert included == ["p1"]
    assert ae.ids("/Patient?_id=p1&_revinclude=Flag:patient") == ["p1"]
    assert ambulance.ids("/Patient?_id=p1") == []


def test_a_chain_by_identifier_finds_what_the_reference_finds(ambulance: Consumer) -> None:
    by_identifier = ambulance.ids(f"/Flag?patient.identifier={nhs('p1')}")
    assert sorted(by_identifier) == sorted(ambulance.ids("/Flag?patient=Patient/p1")) == ["p1-dnar", "p1-falls"]
    assert ambulance.ids(f"/Flag?patient.identifier={nhs('p2')}") == []


@pytest.mark.parametrize(
    "url, words",
    [
        ("/Flag", "within one patient's record"),
        ("/CarePlan?status=active", "within one patient's record"),
        ("/Flag?patient.name=Family-p1", "chain only to an identifier"),
        ("/Flag/_history", "history of one resource"),
    ],
)
def test_consumer_searches_stay_inside_one_record(ambulance: Consumer, url: str, words: str) -> None:
    response = ambulance.get(url)
    assert response.status_code == 403
    assert words in response.get_json()["issue"][0]["diagnostics"]


def test_directory_resources_are_searchable_without_a_patient(ambulance: Consumer) -> None:
    assert "cm-north" in ambulance.ids("/Organization?name=North")


def test_a_search_too_broad_for_the_engine_is_refused(app: Flask, loaded: FlaskClient) -> None:
    app.extensions["closer.settings"] = app.extensions["closer.settings"].__class__(
        **{**app.extensions["closer.settings"].__dict__, "consumer_scan_limit": 2}
    )
    response = Consumer(app, sharing.AMBULANCE).get("/CarePlan?patient=Patient/p1,Patient/p2")
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["code"] == "too-costly"


def test_batch_entries_are_guarded_too(ambulance: Consumer) -> None:
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Flag/p1-dnar"}},
            {"request": {"method": "GET", "url": "Flag/p2-dnar"}},
            {"request": {"method": "GET", "url": "Flag?patient=Patient/p2"}},
        ],
    }
    reply = ambulance.http.post("/", json=batch).get_json()
    assert [e["response"]["status"][:3] for e in reply["entry"]] == ["200", "404", "200"]
    assert reply["entry"][2]["resource"]["total"] == 0


def test_consumers_cannot_write(ambulance: Consumer) -> None:
    response = ambulance.http.put("/Flag/p1-dnar", json=sharing.record_of("p1", "9434765919")[1])
    assert response.status_code == 403


# -- $alerts ---------------------------------------------------------------------------------------------


def alerts(who: Consumer, identifier: str) -> TestResponse:
    return who.get(f"/Patient/$alerts?identifier={identifier}")


def test_alerts_give_dnar_first_then_allergies_current_plans_and_contacts(ambulance: Consumer) -> None:
    bundle = alerts(ambulance, nhs("p1")).get_json()
    matches = [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]
    assert matches == ["p1-dnar", "p1-falls", "p1-allergy", "p1-ecp", "p1-eol", "p1-episode", "p1-team"]
    contacts = {e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "include"}
    assert contacts == {"cm1", "cm-north", "ooh-north"}
    assert bundle["total"] == len(matches)


def test_alerts_for_ae_leave_out_the_end_of_life_plan(ae: Consumer) -> None:
    matches = [e["resource"]["id"] for e in alerts(ae, nhs("p1")).get_json()["entry"] if e["search"]["mode"] == "match"]
    assert "p1-eol" not in matches and "p1-ecp" in matches


def test_alerts_without_consent_look_exactly_like_no_such_patient(ambulance: Consumer) -> None:
    unknown = f"{NHS_NUMBER_SYSTEM}|9434765919"
    assert "9434765919" not in sharing.nhs_numbers().values()
    nobody = alerts(ambulance, unknown)
    for patient in ("p2", "p3"):
        response = alerts(ambulance, nhs(patient))
        assert response.status_code == nobody.status_code == 200
        assert response.get_data() == nobody.get_data()


def test_alerts_agree_with_the_standard_searches(ambulance: Consumer) -> None:
    bundle = alerts(ambulance, nhs("p4")).get_json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ambulance.ids(f"/Flag?patient.identifier={nhs('p4')}")


def test_alerts_refuse_a_bad_nhs_number_whoever_asks(ambulance: Consumer) -> None:
    response = alerts(ambulance, f"{NHS_NUMBER_SYSTEM}|9434765918")
    assert response.status_code == 400
    assert "not a valid NHS number" in response.get_json()["issue"][0]["diagnostics"]


# -- audit ------------------------------------------------------------------------------------------------


def test_every_consumer_read_is_audited_with_its_consent_decision(app: Flask, ambulance: Consumer) -> None:
    ambulance.get("/Flag/p1-dnar")
    ambulance.get("/Flag/p2-dnar")
    alerts(ambulance, nhs("p2"))
    engine = app.extensions["closer.engine"]
    shown = events_for(engine, "Patient/p1")
    assert shown and shown[0]["outcome"] == "0"
    assert "Consent/c-p1" in shown[0]["outcomeDesc"]
    refused = events_for(engine, "Patient/p2")
    assert [e["outcome"] for e in refused] == ["4", "4"]
    assert all(e["outcomeDesc"].startswith("deny") for e in refused)
    assert verify(engine).ok


def disclosed(event: JSON) -> list[str]:
    return [e["what"]["reference"] for e in event.get("entity", []) if e.get("role", {}).get("code") == "4"]


def test_the_audit_names_only_what_was_sent(app: Flask, ambulance: Consumer) -> None:
    engine = app.extensions["closer.engine"]
    page = ambulance.get("/CarePlan?patient=Patient/p1&_count=1&_sort=_id").get_json()
    assert page["total"] == 3 and len(page["entry"]) == 1
    assert disclosed(events_for(engine, "Patient/p1", 1)[0]) == ["CarePlan/p1-ecp/_history/1"]
    ambulance.get("/CarePlan?patient=Patient/p1&_summary=count")
    counted = events_for(engine, "Patient/p1", 1)[0]
    assert disclosed(counted) == [] and counted["outcomeDesc"].startswith("counted, not shown")
    bundle = alerts(ambulance, nhs("p1")).get_json()
    sent = [f"{e['resource']['resourceType']}/{e['resource']['id']}/_history/1" for e in bundle["entry"]]
    audited = [d for e in events_for(engine, "Patient/p1", 1) for d in disclosed(e)]
    assert sorted(audited) == sorted(s for s in sent if not s.startswith(("Organization", "Practitioner")))
    assert "CarePlan/p1-ecp-old/_history/1" not in audited


def test_an_internal_alerts_call_is_audited_too(app: Flask, loaded: FlaskClient) -> None:
    before = len(events_for(app.extensions["closer.engine"], "Patient/p2"))
    assert loaded.get(f"/Patient/$alerts?identifier={nhs('p2')}").get_json()["total"] == 7
    assert len(events_for(app.extensions["closer.engine"], "Patient/p2")) == before + 1


def test_nothing_is_disclosed_when_the_audit_cannot_be_written(
    app: Flask, ambulance: Consumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr("closer.api.routes.record", broken)
    response = ambulance.get("/Flag/p1-dnar")
    assert response.status_code == 500
    assert b"p1-dnar" not in response.get_data()


# -- $consent-check ---------------------------------------------------------------------------------------


def test_consent_check_explains_a_decision_to_an_operator(loaded: FlaskClient) -> None:
    reply = loaded.get("/$consent-check?consumer=RXW&purpose=ETREAT&resource=CarePlan/p1-eol").get_json()
    found = {p["name"]: p for p in reply["parameter"]}
    assert found["decision"]["valueCode"] == "REJECT"
    assert found["consent"]["valueReference"]["reference"] == "Consent/c-p1"
    assert found["provision"]["valueString"] == "provision.provision[0]"


def test_consent_check_is_not_for_consumers(app: Flask, loaded: FlaskClient) -> None:
    curious = Consumer(app, sharing.Consumer("curious", "RYA", "ETREAT"), ("system/Consent.read",))
    assert curious.get("/$consent-check?consumer=RYA&resource=Flag/p1-dnar").status_code == 403


# -- the guarded one-statement lookups ----------------------------------------------------------------------

REFERRING_TYPES = ["AllergyIntolerance", "CarePlan", "Flag"]


def test_guarded_lookups_give_what_the_consumer_searches_give(app: Flask, ambulance: Consumer) -> None:
    """`referring` and `referring_identified` through the guard agree with the consumer's own searches, and
    what they return is what the guard notes as shown."""
    who = sharing.AMBULANCE
    principal = Principal("bench", who.name, "system", who.ods, (), datetime.now(UTC), who.purpose)
    seen = []
    for patient in sharing.PATIENTS:
        expected = sorted(
            (kind, rid) for kind in REFERRING_TYPES for rid in ambulance.ids(f"/{kind}?patient=Patient/{patient}")
        )
        guard = guard_for(app.extensions["closer.repository"], principal, datetime.now(UTC))
        by_id = guard.referring(REFERRING_TYPES, "patient", "Patient", [patient])
        assert [(r["resourceType"], r["id"]) for r in by_id] == expected
        system, _, value = nhs(patient).partition("|")
        by_number = guard.referring_identified(REFERRING_TYPES, "patient", "Patient", (system, value))
        assert [(r["resourceType"], r["id"]) for r in by_number] == expected
        assert {ref.split("/_history")[0] for ref in guard.shown} == {f"{k}/{i}" for k, i in expected}
        seen.append(len(expected))
    assert min(seen) == 0 < max(seen)  # some patients share these records with the ambulance service, some not
