"""Reading Consents: dates as ranges in London time, references, and malformed Consents that decide nothing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closer.errors import FhirError
from closer.fhir.validate import validate_resource
from consent.engine import Decision
from consent.model import (
    END_OF_TIME,
    LONDON,
    Consent,
    Malformed,
    ResourceView,
    date_span,
    literal_reference,
    parse_consent,
)
from tests.consent.consent_data import (
    actor_ods,
    actor_ref,
    consent,
    decide,
    emergency_sharing,
    flag,
    period,
    provision,
    request,
)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2025", datetime(2025, 1, 1, tzinfo=LONDON), datetime(2026, 1, 1, tzinfo=LONDON)),
        ("2025-12", datetime(2025, 12, 1, tzinfo=LONDON), datetime(2026, 1, 1, tzinfo=LONDON)),
        ("2025-02", datetime(2025, 2, 1, tzinfo=LONDON), datetime(2025, 3, 1, tzinfo=LONDON)),
        ("2025-06-30", datetime(2025, 6, 29, 23, tzinfo=UTC), datetime(2025, 6, 30, 23, tzinfo=UTC)),
        ("2025-03-30", datetime(2025, 3, 30, tzinfo=UTC), datetime(2025, 3, 30, 23, tzinfo=UTC)),  # 23-hour day
        ("2025-10-26", datetime(2025, 10, 25, 23, tzinfo=UTC), datetime(2025, 10, 27, tzinfo=UTC)),  # 25 hours
        ("2025-06-30T10:00:00Z", datetime(2025, 6, 30, 10, tzinfo=UTC), datetime(2025, 6, 30, 10, 0, 1, tzinfo=UTC)),
        (
            "2025-06-30T10:00:00.5+01:00",
            datetime(2025, 6, 30, 9, 0, 0, 500000, tzinfo=UTC),
            datetime(2025, 6, 30, 9, 0, 0, 600000, tzinfo=UTC),
        ),
        ("9999-12-31", datetime(9999, 12, 31, tzinfo=LONDON), END_OF_TIME),
    ],
)
def test_dates_are_ranges_read_in_london(text: str, start: datetime, end: datetime) -> None:
    assert date_span(text) == (start, end)


@pytest.mark.parametrize("text", ["2025-13", "2025-02-30", "30/06/2025", "2025-06-30T10:00", "", "2025-06-30T25:00Z"])
def test_bad_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        date_span(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Organization/RYA", "Organization/RYA"),
        ("Organization/RYA/_history/3", "Organization/RYA"),
        ("https://other.example/fhir/Organization/RYA", "https://other.example/fhir/Organization/RYA"),
        ("urn:uuid:6e0a4b3c-2e7e-4b8f-9d1c-111111111111", "urn:uuid:6e0a4b3c-2e7e-4b8f-9d1c-111111111111"),
        ("#contained", None),
        ("RYA", None),
        ("Organization/RYA/extra", None),
        (42, None),
    ],
)
def test_literal_references(text: Any, expected: str | None) -> None:
    assert literal_reference(text) == expected


def test_a_consent_reads_into_a_tree_with_paths() -> None:
    parsed = parse_consent(emergency_sharing())
    assert isinstance(parsed, Consent)
    assert parsed.reference == "Consent/share" and parsed.patient == "Patient/p1" and parsed.in_scope
    assert parsed.root is not None
    assert [p.path for p in parsed.root.walk()] == ["provision", "provision.provision[0]"]
    assert [p.type for p in parsed.root.walk()] == ["permit", "deny"]
    assert [str(a) for a in parsed.root.actors] == ["ODS RYA", "Organization/RXW"]
    assert parse_consent(parsed) is parsed  # already parsed: passed through


def test_resource_view_reads_whose_record_it_is() -> None:
    assert ResourceView(flag()).patients == {"Patient/p1"}
    assert ResourceView({"resourceType": "Patient", "id": "p7"}).patients == {"Patient/p7"}
    assert ResourceView(
        {"resourceType": "Task", "id": "t", "for": {"reference": "Patient/p3/_history/2"}}
    ).patients == {"Patient/p3"}
    assert ResourceView({"resourceType": "Organization", "id": "RYA"}).patients == frozenset()
    group = {"resourceType": "Flag", "id": "f", "subject": {"reference": "Group/g"}}
    assert ResourceView(group).patients == frozenset() and not ResourceView(group).names_unknown_patient


BASE = emergency_sharing()


def broken(change: Any) -> dict[str, Any]:
    """The example Consent with one change applied (a function of a deep copy)."""
    resource = copy.deepcopy(BASE)
    change(resource)
    return resource


def _set(path: str, value: Any) -> Any:
    def change(resource: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = resource
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "deny"}
    for _ in range(levels):
        node = {"type": "permit", "provision": [node]}
    return node


# fmt: off
MALFORMED: list[tuple[str, Any, str]] = [
    ("not an object", ["Consent"], "is not a JSON object"),
    ("another resource type", {"resourceType": "Flag", "id": "x"}, "resourceType is 'Flag', not 'Consent'"),
    ("no status", broken(_set("status", _DELETE)), "Consent.status None is not a Consent status"),
    ("unknown status", broken(_set("status", "withdrawn")), "'withdrawn' is not a Consent status"),
    ("no patient", broken(_set("patient", _DELETE)), "Consent.patient must be a literal reference"),
    ("patient is a Group", broken(_set("patient", {"reference": "Group/g1"})), "Consent.patient must be"),
    ("no scope", broken(_set("scope", _DELETE)), "Consent.scope is missing"),
    ("bad dateTime", broken(_set("dateTime", "yesterday")), "Consent.dateTime 'yesterday' is not"),
    ("provision is a list", broken(_set("provision", [{"type": "permit"}])), "provision is not an object"),
    ("no provision and no opt-out", broken(_set("provision", _DELETE)), "Consent.provision is missing"),
    ("base type unknown", broken(_set("provision.type", "maybe")), "provision.type 'maybe' is neither"),
    ("base type missing, no policy", broken(_set("provision.type", _DELETE)), "provision.type is missing"),
    ("nested type missing", broken(_set("provision.provision.0.type", _DELETE)), "provision.provision[0].type is"),
    ("period reversed", broken(_set("provision.period", period("2025-01-01", "2024-01-01"))), "ends (2024-01-01)"),
    ("period date unreadable", broken(_set("provision.period", {"start": "soon"})), "'soon' is not a FHIR date"),
    ("actor without reference", broken(_set("provision.actor.0", {"role": {"coding": []}})), "reference is missing"),
    ("actor names nobody, no role", broken(_set("provision.actor.0", {"reference": {"display": "someone"}})),
     "names nobody and has no role"),
    ("actor reference not followable", broken(_set("provision.actor.0", actor_ref("not a reference"))),
     "is not a reference Closer can follow"),
    ("purpose without code", broken(_set("provision.purpose.0", {"system": "x"})), "provision.purpose[0] needs a code"),
    ("action as text only", broken(_set("provision.action", [{"text": "look"}])), "provision.action[0] has no coding"),
    ("class not a list", broken(_set("provision.class", {"code": "Flag"})), "provision.class must be a list"),
    ("data meaning unknown", broken(_set("provision.data", [{"meaning": "all", "reference": {"reference": "Flag/f"}}])),
     "'all' is not one of"),
    ("data without a literal reference", broken(_set("provision.data", [{"meaning": "instance", "reference": {}}])),
     "provision.data[0].reference must be"),
    ("modifierExtension on a provision", broken(_set("provision.provision.0.modifierExtension", [{"url": "x"}])),
     "provision.provision[0].modifierExtension changes the meaning"),
    ("modifierExtension on the Consent", broken(_set("modifierExtension", [{"url": "x"}])),
     "Consent.modifierExtension changes the meaning"),
    ("nested too deep", broken(_set("provision", _deep(20))), "is nested more than 16 levels deep"),
    ("a coding that is a string", broken(_set("provision.class", ["Flag"])), "provision.class[0] is not a Coding"),
]
# fmt: on


@pytest.mark.parametrize(("name", "resource", "why"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_consent_decides_nothing_and_says_why(name: str, resource: Any, why: str) -> None:
    parsed = parse_consent(resource)
    assert isinstance(parsed, Malformed), parsed
    assert why in parsed.reason
    # Beside nothing else it permits nothing; the trace names it and why.
    verdict = decide([resource], request(), flag())
    assert verdict.decision is Decision.REJECT and verdict.consent is None
    if isinstance(resource, dict) and resource.get("resourceType") == "Consent":
        assert any(why in line and "decides nothing" in line for line in verdict.trace), verdict.trace


def test_a_malformed_deny_beside_a_good_permit_decides_nothing() -> None:
    """The brief's rule (see CONSENT.md for the strict alternative): the readable permit still permits."""
    bad_deny = consent("bad", provision("deny", actors=[actor_ods("RYA")], provisions=[provision(None)]), check=False)
    verdict = decide([bad_deny, emergency_sharing()], request(), flag())
    assert verdict.permitted and verdict.consent == "Consent/share"
    assert any("Consent/bad cannot be read" in line for line in verdict.trace)


def test_some_malformed_consents_are_still_valid_r4() -> None:
    """Validation on write does not catch every Consent we cannot read, so the parser must be defensive."""
    for name in ("nested type missing", "period reversed", "modifierExtension on a provision"):
        resource = next(r for n, r, _ in MALFORMED if n == name)
        validate_resource(resource)  # structurally fine...
        assert isinstance(parse_consent(resource), Malformed)  # ...yet unreadable with confidence


def test_the_fixtures_are_valid_r4() -> None:
    with pytest.raises(FhirError):
        consent("bad", provision("maybe"))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(["type", "actor", "provision", "period", "class", "data", "purpose", "action", "code"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _json, max_size=5), st.sampled_from(["active", "inactive", None, 3]))
def test_no_provision_shape_crashes_the_parser_or_the_engine(root: dict[str, Any], status: Any) -> None:
    resource = consent("fuzz", root, check=False)
    resource["status"] = status
    parsed = parse_consent(resource)
    assert isinstance(parsed, Consent | Malformed)
    verdict = decide([resource], request(), flag())
    assert verdict.decision in (Decision.AUTHORIZED, Decision.REJECT)
    assert "failed" not in verdict.reason


def test_moments_compare_across_offsets() -> None:
    """The same instant written with different offsets decides the same."""
    rule = [consent("p", provision(during=period(end="2025-06-30")))]
    utc = datetime(2025, 6, 30, 22, 59, tzinfo=UTC)
    for moment in (utc, utc.astimezone(LONDON), utc.astimezone(timezone(timedelta(hours=-5)))):
        assert decide(rule, request(moment=moment), flag()).permitted
