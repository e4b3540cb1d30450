"""The consent engine, rule by rule: a table of hand-built cases, then the chain and the service options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from consent.engine import (
    ConsentEngine,
    ConsentRequest,
    Consumer,
    Decision,
    PatientConsentService,
    Verdict,
)
from consent.model import DISCLOSE, TREAT
from tests.consent.consent_data import (
    AE,
    AE_DOCTOR,
    AMBULANCE,
    END_OF_LIFE,
    GP,
    PARAMEDIC,
    RESTRICTED,
    actor_ods,
    actor_ref,
    actor_role,
    allergy,
    care_plan,
    concept,
    condition,
    consent,
    data,
    decide,
    emergency_sharing,
    flag,
    organization,
    period,
    provision,
    request,
    validated,
)

LONDON = ZoneInfo("Europe/London")
AUTHORIZED, REJECT = Decision.AUTHORIZED, Decision.REJECT


@dataclass
class Case:
    """One row: these Consents, this request, this resource -> this decision, decided by this Consent and
    provision (None for the default), with these words in the reason and in the trace."""

    name: str
    consents: list[dict[str, Any]]
    request: ConsentRequest
    resource: dict[str, Any]
    decision: Decision
    consent: str | None = None
    provision: str | None = None
    reason: str = ""
    trace: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


SHARE = emergency_sharing()


def _permit_all(consent_id: str = "all", **options: Any) -> dict[str, Any]:
    return consent(consent_id, provision("permit"), **options)


def at(text: str) -> datetime:
    """An instant in London wall-clock time ("2025-06-30T23:30")."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


# fmt: off
CASES: list[Case] = [
    # --- the example: permit with a nested deny -----------------------------------------------------
    Case("ambulance sees the DNACPR flag", [SHARE], request(), flag(), AUTHORIZED, "Consent/share", "provision",
         "the consumer is its actor ODS RYA"),
    Case("ambulance sees allergies", [SHARE], request(), allergy(), AUTHORIZED, "Consent/share", "provision",
         "AllergyIntolerance is a listed class"),
    Case("ambulance sees the end-of-life plan (the deny is for A&E)", [SHARE], request(),
         care_plan(category=END_OF_LIFE), AUTHORIZED, "Consent/share", "provision"),
    Case("nested deny in permit wins: A&E and the end-of-life plan", [SHARE], request(AE),
         care_plan(category=END_OF_LIFE), REJECT, "Consent/share", "provision.provision[0]",
         "overriding provision (permit) for what it covers"),
    Case("nested deny covers only what it names: A&E sees another care plan", [SHARE], request(AE), care_plan(),
         AUTHORIZED, "Consent/share", "provision", "the consumer is its actor Organization/RXW"),
    Case("A&E sees the flag", [SHARE], request(AE), flag(), AUTHORIZED, "Consent/share", "provision"),
    Case("class not listed: a Condition", [SHARE], request(), condition(), REJECT, None, None,
         "no consent permits this", "Condition is not among its classes"),
    Case("actor mismatch: a GP practice", [SHARE], request(GP), flag(), REJECT, None, None,
         "no consent permits this", "is not among its actors"),
    Case("purpose mismatch: TREAT when only ETREAT is permitted", [SHARE], request(purpose=TREAT), flag(), REJECT,
         None, None, "no consent permits this", "purpose TREAT is not among ETREAT"),
    Case("no purpose stated: a permit needs certainty", [SHARE], request(purpose=None), flag(), REJECT,
         trace="a permit needs certainty"),
    # --- period edges -------------------------------------------------------------------------------
    Case("last minute of the end date", [SHARE], request(moment=at("2025-12-31T23:59")), flag(), AUTHORIZED,
         "Consent/share", "provision"),
    Case("expired: the day after the end date", [SHARE], request(moment=at("2026-01-01T00:00")), flag(), REJECT,
         trace="it ended 2025-12-31"),
    Case("not yet started: the second before the start date", [emergency_sharing(date_time="2023-06-01")],
         request(moment=at("2023-12-31T23:59:59")), flag(), REJECT, trace="it starts 2024-01-01"),
    Case("first instant of the start date", [SHARE], request(moment=at("2024-01-01T00:00")), flag(), AUTHORIZED,
         "Consent/share"),
    Case("end date in summer time: 23:30 BST is still 30 June",
         [consent("bst", provision(during=period(end="2025-06-30")))],
         request(moment=datetime.fromisoformat("2025-06-30T23:30+01:00")), flag(), AUTHORIZED, "Consent/bst"),
    Case("end date in summer time: 23:30 UTC is already 1 July in London",
         [consent("bst", provision(during=period(end="2025-06-30")))],
         request(moment=datetime.fromisoformat("2025-06-30T23:30+00:00")), flag(), REJECT, trace="it ended"),
    Case("given after the moment asked about", [_permit_all(date_time="2025-06-01")], request(), flag(), REJECT,
         trace="was given 2025-06-01"),
    # --- statuses: only active Consents decide ------------------------------------------------------
    Case("withdrawn (inactive)", [emergency_sharing(status="inactive")], request(), flag(), REJECT,
         trace="is inactive (withdrawn or no longer in force), so it permits nothing"),
    Case("rejected", [emergency_sharing(status="rejected")], request(), flag(), REJECT, trace="was rejected"),
    Case("entered in error", [emergency_sharing(status="entered-in-error")], request(), flag(), REJECT,
         trace="was entered in error"),
    Case("draft", [emergency_sharing(status="draft")], request(), flag(), REJECT, trace="is a draft"),
    Case("proposed", [emergency_sharing(status="proposed")], request(), flag(), REJECT, trace="only proposed"),
    # --- actors -------------------------------------------------------------------------------------
    Case("actor by literal reference", [consent("ref", provision(actors=[actor_ref("Organization/RYA")]))],
         request(), flag(), AUTHORIZED, "Consent/ref", "provision", "the consumer is its actor Organization/RYA"),
    Case("actor by ODS identifier, consumer known by ODS code only",
         [consent("ods", provision(actors=[actor_ods("rya")]))],
         request(Consumer(ods_code="RYA")), flag(), AUTHORIZED, "Consent/ods", "provision", "ODS RYA"),
    Case("actor by conditional reference on the ODS code",
         [consent("cond", provision(actors=[actor_ref(
             "Organization?identifier=https://fhir.nhs.uk/Id/ods-organization-code|RYA")]))],
         request(), flag(), AUTHORIZED, "Consent/cond"),
    Case("actor by role: a paramedic", [consent("role", provision(actors=[actor_role(PARAMEDIC)]))], request(),
         flag(), AUTHORIZED, "Consent/role", "provision", "the consumer holds role 397897005"),
    Case("actor by role: an A&E doctor is not a paramedic",
         [consent("role", provision(actors=[actor_role(PARAMEDIC)]))], request(AE), flag(), REJECT,
         trace="does not hold role 397897005"),
    Case("named actor with a job role the consumer lacks",
         [consent("both", provision(actors=[actor_ref("Organization/RYA", concept(AE_DOCTOR))]))], request(),
         flag(), REJECT, trace="does not hold role 309294001"),
    Case("a practitioner is never a consumer system",
         [consent("prac", provision(actors=[actor_ref("Practitioner/dr-who")]))], request(), flag(), REJECT,
         trace="is not among its actors"),
    Case("a Group as permitted actor: cannot tell, so no permit",
         [consent("grp", provision(actors=[actor_ref("Group/trusts")]))], request(), flag(), REJECT,
         trace="Closer cannot tell whether the consumer is, or belongs to, Group/trusts"),
    Case("a Group as denied actor: cannot tell, so the deny applies",
         [_permit_all(), consent("grp", provision("deny", actors=[actor_ref("Group/trusts")]))], request(), flag(),
         REJECT, "Consent/grp", "provision", "a deny that may apply is applied"),
    # --- action, purpose ----------------------------------------------------------------------------
    Case("action: a read is not a disclosure", [consent("push", provision(actions=["disclose"]))], request(),
         flag(), REJECT, trace="the request is to access, and it covers only disclose"),
    Case("action: a push is a disclosure", [consent("push", provision(actions=["disclose"]))],
         request(action=DISCLOSE), flag(), AUTHORIZED, "Consent/push", "provision", "action disclose is listed"),
    Case("purpose: emergency treatment is a kind of treatment", [consent("treat", provision(purposes=["TREAT"]))],
         request(), flag(), AUTHORIZED, "Consent/treat", "provision", "ETREAT is a kind of TREAT"),
    Case("purpose: a deny of treatment covers emergencies", [_permit_all(), consent("no", provision(
         "deny", purposes=["TREAT"]))], request(), flag(), REJECT, "Consent/no", "provision"),
    # --- class versus data --------------------------------------------------------------------------
    Case("data: the named care plan", [consent("named", provision(data_refs=[data("CarePlan/cp1")]))], request(),
         care_plan("cp1"), AUTHORIZED, "Consent/named", "provision", "it is CarePlan/cp1, a named resource"),
    Case("data: another care plan", [consent("named", provision(data_refs=[data("CarePlan/cp1")]))], request(),
         care_plan("cp2"), REJECT, trace="it is not among its data"),
    Case("data: dependents reach what refers to the named resource",
         [consent("dep", provision(data_refs=[data("CarePlan/cp1", "dependents")]))], request(),
         care_plan("cp2", basedOn=[{"reference": "CarePlan/cp1"}]), AUTHORIZED, "Consent/dep", "provision",
         "it refers to CarePlan/cp1"),
    Case("data: related cannot be followed without the named resource",
         [consent("rel", provision(data_refs=[data("CarePlan/cp1", "related")]))], request(), flag(), REJECT,
         trace="cannot tell whether CarePlan/cp1 refers to Flag/f1"),
    Case("class and data must both hold", [consent("both", provision(classes=["Flag"], data_refs=[
         data("CarePlan/cp1")]))], request(), care_plan("cp1"), REJECT, trace="CarePlan is not among its classes"),
    Case("code: a deny of end-of-life plans inside a permit", [consent("eol", provision(provisions=[
         provision("deny", codes=[END_OF_LIFE])]))], request(), care_plan(category=END_OF_LIFE), REJECT,
         "Consent/eol", "provision.provision[0]", "the resource carries code http://snomed.info/sct|736373009"),
    Case("security label: restricted allergies denied", [consent("lbl", provision(provisions=[
         provision("deny", labels=[RESTRICTED])]))], request(), allergy(label=RESTRICTED), REJECT, "Consent/lbl",
         "provision.provision[0]", "security label"),
    Case("security label: unlabelled allergies permitted", [consent("lbl", provision(provisions=[
         provision("deny", labels=[RESTRICTED])]))], request(), allergy(), AUTHORIZED, "Consent/lbl", "provision"),
    Case("dataPeriod on a permit is not read, so it does not permit",
         [consent("dp", provision(data_period=period("2024-01-01")))], request(), flag(), REJECT,
         trace="dataPeriod"),
    # --- nesting ------------------------------------------------------------------------------------
    Case("nested permit in deny re-permits its narrower scope", [consent("mostly-no", provision(
         "deny", purposes=["ETREAT"], provisions=[provision("permit", classes=["Flag"])]))], request(), flag(),
         AUTHORIZED, "Consent/mostly-no", "provision.provision[0]", "overriding provision (deny)"),
    Case("outside the nested permit the deny stands", [consent("mostly-no", provision(
         "deny", purposes=["ETREAT"], provisions=[provision("permit", classes=["Flag"])]))], request(), allergy(),
         REJECT, "Consent/mostly-no", "provision"),
    Case("three levels: permit > deny care plans > permit the emergency plan for paramedics", [consent("deep",
         provision(provisions=[provision("deny", classes=["CarePlan"], provisions=[
             provision("permit", actors=[actor_role(PARAMEDIC)], codes=[END_OF_LIFE])])]))],
         request(), care_plan(category=END_OF_LIFE), AUTHORIZED, "Consent/deep", "provision.provision[0].provision[0]"),
    Case("three levels: the A&E doctor stays denied", [consent("deep",
         provision(provisions=[provision("deny", classes=["CarePlan"], provisions=[
             provision("permit", actors=[actor_role(PARAMEDIC)], codes=[END_OF_LIFE])])]))],
         request(AE), care_plan(category=END_OF_LIFE), REJECT, "Consent/deep", "provision.provision[0]"),
    Case("a nested deny whose period is over no longer applies", [consent("lapsed", provision(provisions=[
         provision("deny", during=period("2024-01-01", "2024-06-30"))]))], request(), flag(), AUTHORIZED,
         "Consent/lapsed", "provision"),
    Case("no criteria: permits everything in its scope", [_permit_all()], request(), flag(), AUTHORIZED,
         "Consent/all", "provision", "it lists no criteria"),
    # --- several Consents ---------------------------------------------------------------------------
    Case("a deny in one Consent beats a permit in another", [SHARE, consent("no-plans", provision(
         "deny", classes=["CarePlan"]), date_time="2023-01-01")], request(), care_plan(), REJECT, "Consent/no-plans",
         "provision", trace="Consent/share provision would permit this, but a deny wins"),
    Case("the deny is narrower: the flag is still shared", [SHARE, consent("no-plans", provision(
         "deny", classes=["CarePlan"]))], request(), flag(), AUTHORIZED, "Consent/share", "provision"),
    Case("a withdrawn deny no longer blocks", [SHARE, consent("no-plans", provision("deny"), status="inactive")],
         request(), care_plan(), AUTHORIZED, "Consent/share", "provision", trace="Consent/no-plans is inactive"),
    Case("two permits: the first decides, the other is noted", [SHARE, _permit_all()], request(), flag(),
         AUTHORIZED, "Consent/share", "provision", trace="Consent/all provision also permits this"),
    Case("a Consent of another patient says nothing here", [_permit_all(patient="p2")], request(), flag(), REJECT,
         trace="Consent/all is Patient/p2's, not Patient/p1's"),
    # --- whose record ---------------------------------------------------------------------------------
    Case("another patient's resource", [_permit_all(), _permit_all("theirs", patient="p2")], request(),
         flag(patient="p2"), REJECT, None, None, "Flag/f1 belongs to Patient/p2, not Patient/p1"),
    Case("the Patient resource is the patient's own record",
         [consent("demo", provision(classes=["Patient"]))], request(), validated({"resourceType": "Patient",
                                                                                  "id": "p1"}),
         AUTHORIZED, "Consent/demo", "provision"),
    Case("not patient data: patient consent abstains and the default denies", [_permit_all()], request(),
         organization(), REJECT, None, None, "no consent permits this", "not part of any patient's record"),
    Case("no patient named in the request: the resource's own patient's Consents apply",
         [_permit_all("theirs", patient="p2")], request(patient=None), flag(patient="p2"), AUTHORIZED,
         "Consent/theirs", "provision"),
    Case("a patient named only by NHS number cannot be matched to Consents", [_permit_all()], request(),
         validated({"resourceType": "Flag", "id": "f9", "status": "active", "code": concept(END_OF_LIFE),
                    "subject": {"type": "Patient", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                                                                  "value": "9434765919"}}}),
         REJECT, None, None, "names its patient only by identifier"),
    Case("no Consents at all", [], request(), flag(), REJECT, None, None, "no consent permits this",
         "Patient/p1 has no consents on record"),
    # --- policy and scope -----------------------------------------------------------------------------
    Case("opt-out policy with no provision denies everything",
         [_permit_all(), consent("optout", None, policy="OPTOUT")], request(), flag(), REJECT, "Consent/optout",
         "policyRule", "its policy is an opt-out"),
    Case("opt-in policy gives an untyped base provision its permit",
         [consent("optin", provision(None, classes=["Flag"]), policy="OPTIN")], request(), flag(), AUTHORIZED,
         "Consent/optin", "provision"),
    Case("a research Consent does not govern sharing", [_permit_all(scope="research")], request(), flag(), REJECT,
         trace="has scope research, not patient-privacy"),
    Case("a malformed Consent decides nothing, and the trace says why",
         [consent("broken", provision(provisions=[provision(None)]), check=False)], request(), flag(), REJECT,
         trace="Consent/broken cannot be read: provision.provision[0].type is missing"),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case) -> None:
    verdict = decide(case.consents, case.request, case.resource)
    assert verdict.decision is case.decision, verdict
    assert verdict.consent == case.consent, verdict
    if case.provision is not None or case.consent is None:
        assert verdict.provision == case.provision, verdict
    assert case.reason in verdict.reason, verdict
    assert case.trace in "\n".join(verdict.trace) or case.trace in verdict.reason, verdict
    if case.consent is None:
        assert verdict.service == "default" or verdict.decision is REJECT


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert {c.decision for c in CASES} == {AUTHORIZED, REJECT}


def test_every_decision_names_its_consent_and_provision() -> None:
    """Whenever a Consent decided, the verdict names it and a provision path that exists in it."""
    for case in CASES:
        verdict = decide(case.consents, case.request, case.resource)
        if verdict.consent is None:
            continue
        assert verdict.provision is not None
        assert verdict.provision == "policyRule" or verdict.provision.startswith("provision")
        assert verdict.reason.startswith(f"{verdict.consent} {verdict.provision} ")


# --- the chain ----------------------------------------------------------------------------------------


class Fixed:
    """A service that always answers the same (the shape of a break-glass or a legal-hold service)."""

    def __init__(self, name: str, decision: Decision, reason: str) -> None:
        self.name = name
        self.verdict = Verdict(decision, reason)
        self.calls = 0

    def can_see(self, request: ConsentRequest, resource: Mapping[str, Any]) -> Verdict:
        self.calls += 1
        return self.verdict


class Broken:
    def can_see(self, request: ConsentRequest, resource: Mapping[str, Any]) -> Verdict:
        raise RuntimeError("store unavailable")


def test_a_reject_before_the_consents_wins() -> None:
    hold = Fixed("legal-hold", Decision.REJECT, "records of this patient are on legal hold")
    patient = PatientConsentService.of([SHARE])
    verdict = ConsentEngine([hold, patient]).can_see(request(), flag())
    assert verdict.decision is REJECT
    assert verdict.service == "legal-hold"
    assert verdict.reason == "records of this patient are on legal hold"


def test_an_authorize_before_the_consents_wins_and_later_services_are_not_asked() -> None:
    glass = Fixed("break-glass", Decision.AUTHORIZED, "break-glass access recorded")
    later = Fixed("later", Decision.REJECT, "never asked")
    verdict = ConsentEngine([glass, PatientConsentService.of([]), later]).can_see(request(), flag())
    assert verdict.permitted and verdict.service == "break-glass"
    assert later.calls == 0


def test_all_proceed_gives_the_default_deny_with_every_services_reason() -> None:
    quiet = Fixed("quiet", Decision.PROCEED, "no opinion on flags")
    verdict = ConsentEngine([quiet, PatientConsentService.of([emergency_sharing(status="inactive")])]).can_see(
        request(), flag()
    )
    assert verdict.decision is REJECT
    assert verdict.reason == "no consent permits this"
    assert verdict.consent is None and verdict.provision is None
    assert verdict.trace[0] == "quiet: no opinion on flags"
    assert any("Consent/share is inactive" in line for line in verdict.trace)


def test_an_empty_chain_denies() -> None:
    assert ConsentEngine([]).can_see(request(), flag()).decision is REJECT


def test_the_default_can_be_set_to_allow_but_not_to_abstain() -> None:
    quiet = Fixed("quiet", Decision.PROCEED, "no opinion")
    assert ConsentEngine([quiet], default=AUTHORIZED).can_see(request(), flag()).permitted
    with pytest.raises(ValueError, match="AUTHORIZED or REJECT"):
        ConsentEngine([quiet], default=Decision.PROCEED)


def test_a_service_that_raises_is_a_reject_not_a_crash() -> None:
    verdict = ConsentEngine([Broken(), Fixed("allow", AUTHORIZED, "yes")]).can_see(request(), flag())
    assert verdict.decision is REJECT
    assert "Broken failed (RuntimeError: store unavailable)" in verdict.reason


def test_a_consent_source_that_raises_is_a_reject() -> None:
    def failing(patient: str) -> list[Any]:
        raise ConnectionError("database gone")

    verdict = ConsentEngine([PatientConsentService(failing)]).can_see(request(), flag())
    assert verdict.decision is REJECT and "database gone" in verdict.reason


def test_engines_compose() -> None:
    inner = ConsentEngine([PatientConsentService.of([SHARE])])
    outer = ConsentEngine([Fixed("quiet", Decision.PROCEED, "no opinion"), inner])
    assert outer.can_see(request(), flag()).consent == "Consent/share"


def test_visible_keeps_only_what_may_be_seen_in_order() -> None:
    engine = ConsentEngine([PatientConsentService.of([SHARE])])
    resources = [flag(), condition(), care_plan("cp1", category=END_OF_LIFE), care_plan("cp2"), allergy()]
    assert [r["id"] for r in engine.visible(request(AE), resources)] == ["f1", "cp2", "a1"]


def test_consents_are_fetched_for_the_resources_patient() -> None:
    asked: list[str] = []

    def source(patient: str) -> list[Any]:
        asked.append(patient)
        return [_permit_all("theirs", patient="p2")] if patient == "Patient/p2" else []

    verdict = ConsentEngine([PatientConsentService(source)]).can_see(request(patient="p2"), flag(patient="p2"))
    assert verdict.permitted and asked == ["Patient/p2"]


# --- service options ------------------------------------------------------------------------------------


def test_related_data_is_decided_when_the_named_resource_can_be_followed() -> None:
    rule = consent("rel", provision(data_refs=[data("CarePlan/cp1", "related")]))
    refs = {"CarePlan/cp1": ["Flag/f1", "Patient/p1"]}
    service = PatientConsentService.of([rule], related=refs.get)
    engine = ConsentEngine([service])
    assert engine.can_see(request(), flag("f1")).permitted
    assert engine.can_see(request(), care_plan("cp1")).permitted
    other = engine.can_see(request(), flag("f2"))
    assert other.decision is REJECT and any("not among its data" in t for t in other.trace)


def test_strict_mode_refuses_a_patient_with_an_unreadable_consent() -> None:
    broken = consent("broken", provision("deny", provisions=[provision(None)]), check=False)
    lenient = ConsentEngine([PatientConsentService.of([SHARE, broken])]).can_see(request(), flag())
    assert lenient.permitted  # the brief's rule: a malformed Consent decides nothing
    strict = ConsentEngine([PatientConsentService.of([SHARE, broken], strict=True)]).can_see(request(), flag())
    assert strict.decision is REJECT
    assert "Consent/broken cannot be read, and this service refuses rather than guess" in strict.reason
    withdrawn = {**broken, "status": "inactive"}
    assert (
        ConsentEngine([PatientConsentService.of([SHARE, withdrawn], strict=True)]).can_see(request(), flag()).permitted
    )


def test_a_resource_that_is_not_a_resource_is_rejected() -> None:
    service = PatientConsentService.of([_permit_all()])
    assert service.can_see(request(), {"id": "x"}).decision is REJECT
    assert service.can_see(request(), ["not", "a", "dict"]).decision is REJECT  # type: ignore[arg-type]


def test_requests_check_their_inputs() -> None:
    with pytest.raises(ValueError, match="time zone"):
        ConsentRequest(AMBULANCE, TREAT, datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="not a Patient"):
        ConsentRequest(AMBULANCE, TREAT, at("2025-01-01T00:00"), patient="Group/g1")
    with pytest.raises(ValueError, match="literal reference"):
        Consumer(organization="RYA")
    assert ConsentRequest(AMBULANCE, TREAT, at("2025-01-01T00:00"), patient="p1").patient == "Patient/p1"
    assert Consumer(ods_code=" rya ").ods_code == "RYA"
    assert str(AMBULANCE) == "West Midlands Ambulance Service (Organization/RYA, ODS RYA)"
