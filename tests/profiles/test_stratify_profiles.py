"""The stratification profiles hold what stratify writes: every builder's output passes the full write
validation (resource model, required bindings, profile), and the profile catches what it should."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from closer.errors import FhirError
from closer.fhir.validate import Validated, validate_resource
from fhir_profiles import load_code_systems, load_profiles, load_value_sets, validate
from stratify import codes
from stratify.models.base import Contribution, Prediction
from stratify.resources import Assessment, cancelled, candidate_flag, retired_flag, risk_assessment
from stratify.settings import BELOW_THRESHOLD, TIERS
from stratify.tiering import Decision
from stratify.triage import DECISIONS, triage_task

JSON = dict[str, Any]
AS_OF = date(2026, 10, 5)
RA_ID = "ra-2026Q4-p1"


def _assessment(tier: str = "severe", next_review: date | None = None, basis: tuple[str, ...] = ()) -> Assessment:
    contributions = (
        Contribution("nel_admissions", "2 emergency admissions in the last 12 months", 1.4),
        Contribution("efi", "moderate frailty (eFI)", 0.6),
    )
    return Assessment(
        patient_id="p1",
        practice="Z91001",
        locality="North",
        prediction=Prediction(0.52341, contributions),
        decision=Decision(tier, tier in ("severe", "moderate"), f"risk 52% meets the {tier} rule"),
        basis=basis,
        next_review=next_review,
    )


def _risk_assessment(**kwargs: Any) -> JSON:
    return risk_assessment(_assessment(**kwargs), "2026-Q4", AS_OF, ("default", "1"))


def _flag() -> JSON:
    return candidate_flag("p1", "severe", date(2026, 7, 1), RA_ID)


def _task(decision: str = "exclude", focus: str | None = f"RiskAssessment/{RA_ID}") -> JSON:
    return triage_task(
        task_id="triage-1",
        patient_id="p1",
        decision=decision,
        reason="Already under the community matron",
        decided_at=datetime(2026, 10, 12, 14, 30, tzinfo=UTC),
        decided_by="North locality MDT",
        focus=focus,
        next_review=date(2027, 1, 12) if decision == "exclude" else None,
        today=date(2026, 10, 12),
    )


def _stored(resource: JSON) -> JSON:
    """The resource as read back from the store, with the meta the store adds."""
    meta = {**resource.get("meta", {}), "versionId": "3", "lastUpdated": "2026-10-05T02:00:00.000Z"}
    return {**resource, "meta": meta}


def _issues(resource: JSON) -> list[tuple[str, str]]:
    """(expression, code) of each error validate_resource reports; [] if the resource is accepted."""
    try:
        validate_resource(resource)
    except FhirError as error:
        return [(issue.expression[0], issue.code) for issue in error.all_issues()]
    return []


# --- what the builders write passes -------------------------------------------------------------------


VALID: dict[str, Callable[[], JSON]] = {
    "severe candidate": lambda: _risk_assessment(basis=("Condition/c1", "Encounter/e1")),
    "below threshold with next review": lambda: _risk_assessment(tier=BELOW_THRESHOLD, next_review=date(2027, 1, 5)),
    "mild without basis or next review": lambda: _risk_assessment(tier="mild"),
    "cancelled": lambda: cancelled(_stored(_risk_assessment(tier="moderate"))),
    "candidate flag": _flag,
    "retired flag": lambda: retired_flag(_stored(_flag()), date(2026, 10, 5)),
    "exclusion": _task,
    "inclusion on a referral": lambda: _task("include", "ServiceRequest/sr1"),
    "inclusion without focus": lambda: _task("include", None),
}


@pytest.mark.parametrize("build", list(VALID.values()), ids=list(VALID))
def test_builders_write_valid_profiled_resources(build: Callable[[], JSON]) -> None:
    resource = build()
    assert resource["meta"]["profile"] in (
        [codes.RISK_ASSESSMENT_PROFILE],
        [codes.CANDIDATE_FLAG_PROFILE],
        [codes.TRIAGE_TASK_PROFILE],
    )
    assert validate(resource) == []
    assert isinstance(validate_resource(resource), Validated)


def test_rewritten_resources_keep_their_profile_but_not_the_store_meta() -> None:
    for rewritten in (retired_flag(_stored(_flag()), AS_OF), cancelled(_stored(_risk_assessment()))):
        assert rewritten["meta"] == {"profile": [rewritten["meta"]["profile"][0]]}
    unprofiled = {k: v for k, v in _stored(_flag()).items() if k != "meta"}
    assert "meta" not in retired_flag(unprofiled, AS_OF)


def test_every_tier_is_a_valid_qualitative_risk() -> None:
    for tier in (*TIERS, BELOW_THRESHOLD):
        assert validate(_risk_assessment(tier=tier)) == []


def test_a_tier_rise_flag_may_carry_its_assessment() -> None:
    flag = _flag()
    flag["code"]["coding"][0] = {
        "system": codes.FLAG_SYSTEM,
        "code": codes.TIER_RISE,
        "display": codes.FLAG_DISPLAY[codes.TIER_RISE],
    }
    assert _issues(flag) == []
    del flag["extension"]
    assert _issues(flag) == []


# --- and the profiles catch what is wrong -------------------------------------------------------------


def _prediction(ra: JSON) -> JSON:
    prediction: JSON = ra["prediction"][0]
    return prediction


def _extension(resource: JSON, url: str) -> JSON:
    found: JSON = next(e for e in resource["extension"] if e["url"] == url)
    return found


def _drop_extension(resource: JSON, url: str) -> None:
    resource["extension"] = [e for e in resource["extension"] if e["url"] != url]


def _swap(obj: JSON, old: str, **new: Any) -> None:
    """Replace element ``old`` with ``new``, e.g. a choice element with another of its types."""
    del obj[old]
    obj.update(new)


RA_BROKEN: dict[str, tuple[Callable[[JSON], Any], str, str]] = {
    "unknown tier": (
        lambda ra: _prediction(ra)["qualitativeRisk"]["coding"][0].update(code="extreme"),
        "RiskAssessment.prediction[0].qualitativeRisk",
        "code-invalid",
    ),
    "tier from another system": (
        lambda ra: _prediction(ra)["qualitativeRisk"]["coding"][0].update(system=codes.FLAG_SYSTEM),
        "RiskAssessment.prediction[0].qualitativeRisk",
        "code-invalid",
    ),
    "no tier": (
        lambda ra: _prediction(ra).pop("qualitativeRisk"),
        "RiskAssessment.prediction[0].qualitativeRisk",
        "required",
    ),
    "no probability": (
        lambda ra: _prediction(ra).pop("probabilityDecimal"),
        "RiskAssessment.prediction[0].probability",
        "required",
    ),
    "probability as a range": (
        lambda ra: _swap(_prediction(ra), "probabilityDecimal", probabilityRange={"low": {"value": 0.4}}),
        "RiskAssessment.prediction[0].probability",
        "invariant",
    ),
    "no outcome": (lambda ra: _prediction(ra).pop("outcome"), "RiskAssessment.prediction[0].outcome", "required"),
    "when as a range": (
        lambda ra: _swap(_prediction(ra), "whenPeriod", whenRange={"low": {"value": 0}, "high": {"value": 1}}),
        "RiskAssessment.prediction[0].when",
        "invariant",
    ),
    "two predictions": (
        lambda ra: ra["prediction"].append(copy.deepcopy(ra["prediction"][0])),
        "RiskAssessment.prediction",
        "invariant",
    ),
    "no prediction": (lambda ra: ra.pop("prediction"), "RiskAssessment.prediction", "required"),
    "no method": (lambda ra: ra.pop("method"), "RiskAssessment.method", "required"),
    "no occurrence": (lambda ra: ra.pop("occurrenceDateTime"), "RiskAssessment.occurrence", "required"),
    "occurrence as a period": (
        lambda ra: _swap(ra, "occurrenceDateTime", occurrencePeriod={"start": "2026-10-05"}),
        "RiskAssessment.occurrence",
        "invariant",
    ),
    "no note": (lambda ra: ra.pop("note"), "RiskAssessment.note", "required"),
    "subject is a group": (
        lambda ra: ra.update(subject={"reference": "Group/g1"}),
        "RiskAssessment.subject",
        "invariant",
    ),
    "no run": (
        lambda ra: _drop_extension(ra, codes.RUN_EXTENSION),
        "RiskAssessment.extension",
        "required",
    ),
    "run not a string": (
        lambda ra: _swap(_extension(ra, codes.RUN_EXTENSION), "valueString", valueInteger=20264),
        "RiskAssessment.extension[0].value",
        "invariant",
    ),
    "no practice": (lambda ra: _drop_extension(ra, codes.PRACTICE_EXTENSION), "RiskAssessment.extension", "required"),
    "practice not an ODS code": (
        lambda ra: _extension(ra, codes.PRACTICE_EXTENSION)["valueIdentifier"].update(system="https://example.org/gp"),
        "RiskAssessment.extension[1].value.system",
        "value",
    ),
    "no locality": (lambda ra: _drop_extension(ra, codes.LOCALITY_EXTENSION), "RiskAssessment.extension", "required"),
    "two next reviews": (
        lambda ra: ra["extension"].extend([{"url": codes.NEXT_REVIEW_EXTENSION, "valueDate": "2027-01-05"}] * 2),
        "RiskAssessment.extension",
        "invariant",
    ),
}


@pytest.mark.parametrize(("change", "expression", "code"), list(RA_BROKEN.values()), ids=list(RA_BROKEN))
def test_broken_risk_assessments(change: Callable[[JSON], Any], expression: str, code: str) -> None:
    ra = _risk_assessment()
    change(ra)
    assert _issues(ra) == [(expression, code)]


def test_missing_subject_is_required_by_model_and_profile() -> None:
    ra = _risk_assessment()
    del ra["subject"]
    assert _issues(ra) == [("RiskAssessment.subject", "required")]  # R4 RiskAssessment.subject is 1..1
    assert [(i.expression, i.code) for i in validate(ra)] == [("RiskAssessment.subject", "required")]


def test_missing_next_review_is_fine() -> None:
    ra = _risk_assessment(tier=BELOW_THRESHOLD, next_review=date(2027, 1, 5))
    _drop_extension(ra, codes.NEXT_REVIEW_EXTENSION)
    assert _issues(ra) == []


def _coding(flag: JSON, system: str) -> JSON:
    found: JSON = next(c for c in flag["code"]["coding"] if c["system"] == system)
    return found


FLAG_BROKEN: dict[str, tuple[Callable[[JSON], Any], str, str]] = {
    "unknown flag code": (
        lambda f: _coding(f, codes.FLAG_SYSTEM).update(code="urgent"),
        "Flag.code.coding[0]",
        "code-invalid",
    ),
    "no case management coding": (
        lambda f: f["code"].update(coding=[_coding(f, codes.TIER_SYSTEM)]),
        "Flag.code.coding",
        "required",
    ),
    "two case management codings": (
        lambda f: f["code"]["coding"].append(dict(_coding(f, codes.FLAG_SYSTEM), code=codes.TIER_RISE)),
        "Flag.code.coding",
        "invariant",
    ),
    "unknown tier": (
        lambda f: _coding(f, codes.TIER_SYSTEM).update(code="extreme"),
        "Flag.code.coding[1]",
        "code-invalid",
    ),
    "no period": (lambda f: f.pop("period"), "Flag.period", "required"),
    "subject is a location": (lambda f: f.update(subject={"reference": "Location/l1"}), "Flag.subject", "invariant"),
    "assessment is a condition": (
        lambda f: f["extension"][0].update(valueReference={"reference": "Condition/c1"}),
        "Flag.extension[0].value",
        "invariant",
    ),
    "assessment without a reference": (
        lambda f: f["extension"][0].pop("valueReference"),
        "Flag.extension[0].value",
        "required",
    ),
}


@pytest.mark.parametrize(("change", "expression", "code"), list(FLAG_BROKEN.values()), ids=list(FLAG_BROKEN))
def test_broken_flags(change: Callable[[JSON], Any], expression: str, code: str) -> None:
    flag = _flag()
    change(flag)
    assert _issues(flag) == [(expression, code)]


def _output(task: JSON) -> JSON:
    output: JSON = task["output"][0]
    return output


TASK_BROKEN: dict[str, tuple[Callable[[JSON], Any], str, str]] = {
    "no reason": (lambda t: t.pop("reasonCode"), "Task.reasonCode", "required"),
    "unknown decision": (
        lambda t: t["businessStatus"]["coding"][0].update(code="defer"),
        "Task.businessStatus",
        "code-invalid",
    ),
    "decision as text only": (
        lambda t: t.update(businessStatus={"text": "exclude"}),
        "Task.businessStatus",
        "code-invalid",
    ),
    "no decision": (lambda t: t.pop("businessStatus"), "Task.businessStatus", "required"),
    "another kind of task": (
        lambda t: t["code"]["coding"][0].update(code=codes.NEXT_REVIEW_OUTPUT),
        "Task.code",
        "value",
    ),
    "no code": (lambda t: t.pop("code"), "Task.code", "required"),
    "no patient": (lambda t: t.pop("for"), "Task.for", "required"),
    "for a group": (lambda t: t.update({"for": {"reference": "Group/g1"}}), "Task.for", "invariant"),
    "no authoredOn": (lambda t: t.pop("authoredOn"), "Task.authoredOn", "required"),
    "focus on a patient": (lambda t: t.update(focus={"reference": "Patient/p1"}), "Task.focus", "invariant"),
    "next review as text": (
        lambda t: _swap(_output(t), "valueDate", valueString="in three months"),
        "Task.output[0].value",
        "invariant",
    ),
    "output of another type": (
        lambda t: _output(t)["type"]["coding"][0].update(code=codes.TRIAGE_TASK),
        "Task.output[0].type",
        "value",
    ),
    "two outputs": (lambda t: t["output"].append(copy.deepcopy(t["output"][0])), "Task.output", "invariant"),
}


@pytest.mark.parametrize(("change", "expression", "code"), list(TASK_BROKEN.values()), ids=list(TASK_BROKEN))
def test_broken_triage_tasks(change: Callable[[JSON], Any], expression: str, code: str) -> None:
    task = _task()
    change(task)
    assert _issues(task) == [(expression, code)]


def test_profile_issues_are_unprocessable_not_malformed() -> None:
    task = _task()
    del task["reasonCode"]
    with pytest.raises(FhirError) as raised:
        validate_resource(task)
    assert raised.value.status == 422


# --- the JSON agrees with stratify.codes --------------------------------------------------------------


def test_profiles_are_shipped_under_the_urls_stratify_claims() -> None:
    types = {
        codes.RISK_ASSESSMENT_PROFILE: "RiskAssessment",
        codes.CANDIDATE_FLAG_PROFILE: "Flag",
        codes.TRIAGE_TASK_PROFILE: "Task",
    }
    for url, resource_type in types.items():
        assert load_profiles()[url]["type"] == resource_type


def _extension_slices(url: str) -> dict[str, str]:
    return {
        element["sliceName"]: element["type"][0]["profile"][0]
        for element in load_profiles()[url]["differential"]["element"]
        if element["path"].endswith(".extension") and "sliceName" in element
    }


def test_extension_slices_use_the_urls_stratify_writes() -> None:
    assert _extension_slices(codes.RISK_ASSESSMENT_PROFILE) == {
        "riskStratificationRun": codes.RUN_EXTENSION,
        "registeredPractice": codes.PRACTICE_EXTENSION,
        "locality": codes.LOCALITY_EXTENSION,
        "nextReview": codes.NEXT_REVIEW_EXTENSION,
    }
    assert _extension_slices(codes.CANDIDATE_FLAG_PROFILE) == {"riskAssessment": codes.ASSESSMENT_EXTENSION}


def _concepts(system: str) -> dict[str, str]:
    return {concept["code"]: concept["display"] for concept in load_code_systems()[system]["concept"]}


def test_code_systems_define_every_code_stratify_writes() -> None:
    assert _concepts(codes.TIER_SYSTEM) == codes.TIER_DISPLAY
    assert list(_concepts(codes.TIER_SYSTEM)) == [*TIERS, BELOW_THRESHOLD]
    assert _concepts(codes.FLAG_SYSTEM) == codes.FLAG_DISPLAY
    assert _concepts(codes.TRIAGE_SYSTEM) == codes.TRIAGE_DISPLAY
    assert tuple(_concepts(codes.TRIAGE_SYSTEM)) == DECISIONS
    assert set(_concepts(codes.TASK_CODE_SYSTEM)) == {codes.TRIAGE_TASK, codes.NEXT_REVIEW_OUTPUT}
    assert set(_concepts(codes.MODEL_SYSTEM)) == {"default", "fitted"}


def test_risk_tier_definitions_describe_the_support_offered() -> None:
    definitions = {c["code"]: c["definition"] for c in load_code_systems()[codes.TIER_SYSTEM]["concept"]}
    assert "emergency treatment plan" in definitions["severe"]
    assert "care plan" in definitions["moderate"]
    assert "social prescribers" in definitions["mild"] and "without a formal care plan" in definitions["mild"]
    assert "3 months" in definitions[BELOW_THRESHOLD]


def test_bound_value_sets_hold_the_whole_code_system() -> None:
    for system, code_system in load_code_systems().items():
        if "valueSet" not in code_system:
            continue
        (include,) = load_value_sets()[code_system["valueSet"]]["compose"]["include"]
        assert include["system"] == system
        assert [c["code"] for c in include["concept"]] == [c["code"] for c in code_system["concept"]]
