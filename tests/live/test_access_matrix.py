"""The access-control matrix, over HTTP against a live server with real signed client assertions.

For each consumer system (tests/consent/sharing.py: the ambulance trust, A&E, a stranger), each synthetic
patient and each resource type, the API's answers (search, totals, paging, chains, read, vread, history,
`_include`/`_revinclude` and `$alerts`) are exactly what the consent engine permits, and nothing more.

The expected answers come from the consent engine run here, in the test process, over the same Consents
(`PatientConsentService.of(sharing.consents())` after `DirectoryService`), never from the server. The
consumers are registered as an operator registers them (`closer clients add NAME --ods --purpose --scope
--jwks FILE`, each with its own EC P-384 key) and get their tokens from the running server's token endpoint
with a `private_key_jwt` assertion they sign themselves. Afterwards the audit chain verifies, every consumer
is in it, and nothing the audit says was disclosed is something the engine refuses.

A refused resource must look exactly like one that does not exist: the same 404, word for word but the id.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from closer.auth.assertion import ASSERTION_TYPE, make_assertion
from closer.auth.keys import ES384, public_jwk
from consent.engine import ConsentEngine, ConsentRequest, Consumer, PatientConsentService
from consent.model import ACT_REASON_SYSTEM, Code
from consent.source import DirectoryService
from fhir_profiles.canonical import NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM
from fhir_profiles.nhs_number import generate_nhs_number

CONSENT_TESTS = Path(__file__).resolve().parent.parent / "consent"
if str(CONSENT_TESTS) not in sys.path:  # sharing.py and consent_data.py live there (no package)
    sys.path.insert(0, str(CONSENT_TESTS))
import sharing  # noqa: E402

pytestmark = pytest.mark.live

JSON = dict[str, Any]
FHIR_JSON = "application/fhir+json"
TOKEN_REUSE_SECONDS = 120.0  # tokens live 300 s; renew well before
CLIENT_PREFIX = "matrix-"  # registered client names: matrix-ambulance, matrix-ae, matrix-stranger
NO_SUCH_ID = "no-such-resource"
# Volatile parts of a searchset Bundle, which differ between two otherwise equal answers.
VOLATILE = ("id", "meta", "timestamp")

MATRIX = [(c, p, t) for c in sharing.CONSUMERS for p in sharing.PATIENTS for t in sharing.TYPES]
PAIRS = [(c, p) for c in sharing.CONSUMERS for p in sharing.PATIENTS]


def _matrix_id(value: Any) -> str:
    return value.name if isinstance(value, sharing.Consumer) else str(value)


# -- the expected answers: the consent engine, here ------------------------------------------------------


def _consent_request(who: sharing.Consumer, moment: datetime) -> ConsentRequest:
    """What the server builds for a registered consumer: its Organization (if the directory has one with its
    ODS code), its ODS code, and its purpose of use."""
    organization = next(
        (
            f"Organization/{r['id']}"
            for r in sharing.directory()
            if r["resourceType"] == "Organization"
            and any(i.get("system") == ODS_ORGANIZATION_SYSTEM and i.get("value") == who.ods for i in r["identifier"])
        ),
        None,
    )
    return ConsentRequest(
        Consumer(organization=organization, ods_code=who.ods), Code(ACT_REASON_SYSTEM, who.purpose), moment
    )


@dataclass(frozen=True)
class Expected:
    """The engine's verdict on every resource of the record set, per consumer."""

    resources: dict[tuple[str, str], JSON]  # (type, id) -> resource as written
    permitted: dict[str, frozenset[tuple[str, str]]]  # consumer name -> (type, id) it may see
    owner: dict[tuple[str, str], str]  # (type, id) -> patient id, for patient records

    @classmethod
    def build(cls, moment: datetime) -> Expected:
        engine = ConsentEngine([DirectoryService(), PatientConsentService.of(sharing.consents())])
        numbers = sharing.nhs_numbers()
        resources = {(r["resourceType"], r["id"]): r for r in sharing.everything()}
        owner = {(r["resourceType"], r["id"]): p for p in sharing.PATIENTS for r in sharing.record_of(p, numbers[p])}
        permitted = {}
        for who in sharing.CONSUMERS:
            request = _consent_request(who, moment)
            permitted[who.name] = frozenset(k for k, r in resources.items() if engine.can_see(request, r).permitted)
        return cls(resources, permitted, owner)

    def may_see(self, who: sharing.Consumer, resource_type: str, resource_id: str) -> bool:
        return (resource_type, resource_id) in self.permitted[who.name]

    def record(self, patient: str, resource_type: str) -> list[str]:
        """The ids of a patient's resources of one type, in the record set."""
        return [i for (t, i), p in self.owner.items() if p == patient and t == resource_type]

    def visible(self, who: sharing.Consumer, patient: str, resource_type: str) -> set[str]:
        return {i for i in self.record(patient, resource_type) if self.may_see(who, resource_type, i)}


# -- the live side: consumers with their own keys and tokens ------------------------------------------------


@dataclass
class Caller:
    """A registered consumer system: signs its own assertions, keeps its bearer token fresh."""

    who: sharing.Consumer
    client_id: str
    private: ec.EllipticCurvePrivateKey
    kid: str
    token_url: str
    http: requests.Session
    _token: tuple[float, str] | None = field(default=None, repr=False)

    def assertion(self) -> str:
        return make_assertion(self.private, ES384, client_id=self.client_id, token_url=self.token_url, kid=self.kid)

    def ask_token(self, scope: str) -> requests.Response:
        form = {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
        }
        return self.http.post(self.token_url, data=form, timeout=30)

    def token(self) -> str:
        if self._token is None or time.monotonic() - self._token[0] >= TOKEN_REUSE_SECONDS:
            reply = self.ask_token(" ".join(sharing.CONSUMER_SCOPES))
            assert reply.status_code == 200, f"{self.who.name}: token refused: {reply.status_code} {reply.text}"
            self._token = (time.monotonic(), reply.json()["access_token"])
        return self._token[1]

    def get(self, url: str, params: list[tuple[str, str]] | None = None, *, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token()}", "Accept": FHIR_JSON}
        return self.http.get(url, params=params, headers=headers, timeout=60)


@dataclass
class World:
    base: str
    server: Any  # conftest.LiveServer
    http: requests.Session
    callers: dict[str, Caller]
    expected: Expected
    numbers: dict[str, str]
    unknown_nhs: str  # an NHS number no patient has

    def caller(self, who: sharing.Consumer) -> Caller:
        return self.callers[who.name]

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"


def _register(server: Any, who: sharing.Consumer, http: requests.Session) -> Caller:
    """`closer clients add` with a JWKS file, as an operator registers a consumer's public key."""
    private = ec.generate_private_key(ec.SECP384R1())
    jwk = public_jwk(private)
    name = CLIENT_PREFIX + who.name
    jwks = server.workdir / f"{name}.jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    scopes = [arg for scope in sharing.CONSUMER_SCOPES for arg in ("--scope", scope)]
    server.cli("clients", "add", name, "--ods", who.ods, "--purpose", who.purpose, *scopes, "--jwks", str(jwks))
    listed = json.loads(server.cli("clients", "list", "--json"))
    client_id = next(c["client_id"] for c in listed if c["name"] == name)
    return Caller(who, client_id, private, jwk["kid"], f"{server.base_url}/auth/token", http)


@pytest.fixture(scope="module")
def world(live_server: Any) -> Iterator[World]:
    """One load of the record set and one registration of the consumers per backend."""
    http = requests.Session()
    internal = {"Authorization": live_server.authorization, "Accept": FHIR_JSON}
    for resource in sharing.everything():
        url = f"{live_server.base_url}/{resource['resourceType']}/{resource['id']}"
        reply = http.put(url, json=resource, headers=internal, timeout=60)
        assert reply.status_code in (200, 201), f"PUT {url}: {reply.status_code} {reply.text}"
    callers = {who.name: _register(live_server, who, http) for who in sharing.CONSUMERS}
    numbers = sharing.nhs_numbers()
    rng = random.Random(404)
    while (unknown := generate_nhs_number(rng)) in numbers.values():
        pass
    expected = Expected.build(datetime.now(UTC))
    try:
        yield World(live_server.base_url, live_server, http, callers, expected, numbers, unknown)
    finally:
        http.close()


# -- helpers over Bundles -------------------------------------------------------------------------------


def _ok(reply: requests.Response) -> JSON:
    assert reply.status_code == 200, f"GET {reply.url}: {reply.status_code} {reply.text}"
    body: JSON = reply.json()
    return body


def _entries(bundle: JSON, mode: str) -> list[tuple[str, str]]:
    return [
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode") == mode
    ]


def _ids(bundle: JSON) -> list[str]:
    return [i for _, i in _entries(bundle, "match")]


def _next(bundle: JSON) -> str | None:
    return next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)


def _stable(body: JSON) -> JSON:
    return {k: v for k, v in body.items() if k not in VOLATILE}


def _not_found(world: World, caller: Caller, path: str, missing_path: str, hidden: str) -> None:
    """`path` answers exactly as `missing_path` (which names NO_SUCH_ID) does: the same 404, word for word
    but the id."""
    got = caller.get(world.url(path))
    reference = caller.get(world.url(missing_path))
    assert reference.status_code == 404, f"GET {missing_path}: {reference.status_code} {reference.text}"
    assert got.status_code == 404, f"GET {path} ({hidden} is refused): {got.status_code} {got.text}"
    assert got.text.replace(hidden, NO_SUCH_ID) == reference.text, f"GET {path} tells itself apart from a missing one"


def _patient_criterion(patient: str, resource_type: str) -> tuple[str, str]:
    return ("_id", patient) if resource_type == "Patient" else ("patient", f"Patient/{patient}")


# -- the matrix -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "patient", "resource_type"), MATRIX, ids=_matrix_id)
def test_search(world: World, who: sharing.Consumer, patient: str, resource_type: str) -> None:
    """Search, its total, `_summary=count`, paging one at a time, and the identifier chain: the permitted ids."""
    caller = world.caller(who)
    expected = world.expected.visible(who, patient, resource_type)
    criterion = _patient_criterion(patient, resource_type)
    url = world.url(resource_type)

    found = _ok(caller.get(url, [criterion]))
    assert sorted(_ids(found)) == sorted(expected), f"GET {resource_type}?{criterion[0]}={criterion[1]}"
    assert found.get("total") == len(expected)
    assert not _entries(found, "include")

    counted = _ok(caller.get(url, [criterion, ("_summary", "count")]))
    assert counted.get("total") == len(expected)
    assert not counted.get("entry")

    walked: list[str] = []
    page = _ok(caller.get(url, [criterion, ("_count", "1")]))
    for _ in range(len(expected) + 2):
        assert page.get("total", len(expected)) == len(expected)
        walked.extend(_ids(page))
        link = _next(page)
        if link is None:
            break
        page = _ok(caller.get(link))
    else:
        pytest.fail(f"paging {resource_type} for {patient} one at a time does not end")
    assert sorted(walked) == sorted(expected), "paging with _count=1 walks other ids"
    assert len(walked) == len(set(walked))

    if resource_type != "Patient":
        chained = ("patient.identifier", f"{NHS_NUMBER_SYSTEM}|{world.numbers[patient]}")
        by_number = _ok(caller.get(url, [chained]))
        assert sorted(_ids(by_number)) == sorted(expected), f"GET {resource_type}?patient.identifier=..."
        assert by_number.get("total") == len(expected)


@pytest.mark.parametrize(("who", "patient", "resource_type"), MATRIX, ids=_matrix_id)
def test_read_vread_history(world: World, who: sharing.Consumer, patient: str, resource_type: str) -> None:
    """Read, vread and instance history: the resource when permitted, else the 404 of a missing one."""
    caller = world.caller(who)
    ids = world.expected.record(patient, resource_type)
    assert ids
    for resource_id in ids:
        path = f"{resource_type}/{resource_id}"
        if world.expected.may_see(who, resource_type, resource_id):
            read = _ok(caller.get(world.url(path)))
            assert (read["resourceType"], read["id"]) == (resource_type, resource_id)
            version = _ok(caller.get(world.url(f"{path}/_history/1")))
            assert (version["id"], version["meta"]["versionId"]) == (resource_id, "1")
            history = _ok(caller.get(world.url(f"{path}/_history")))
            assert [e["resource"]["id"] for e in history.get("entry", [])] == [resource_id]
        else:
            missing = f"{resource_type}/{NO_SUCH_ID}"
            _not_found(world, caller, path, missing, resource_id)
            _not_found(world, caller, f"{path}/_history/1", f"{missing}/_history/1", resource_id)
            _not_found(world, caller, f"{path}/_history", f"{missing}/_history", resource_id)


# (search type, _include or _revinclude, its value): what a patient-scoped search brings in beside its matches
INCLUDES = [
    ("Flag", "_include", "Flag:patient"),
    ("EpisodeOfCare", "_include", "EpisodeOfCare:care-manager"),
    ("EpisodeOfCare", "_include", "EpisodeOfCare:organization"),
    ("CareTeam", "_include", "CareTeam:participant"),
    ("Patient", "_revinclude", "Flag:patient"),
]


def _brought_in(world: World, patient: str, parameter: str, value: str, shown: set[str]) -> set[tuple[str, str]]:
    """What an include or revinclude reaches, in the record set, from the matches `shown` (their ids)."""
    source, _, _name = value.partition(":")
    if parameter == "_revinclude":  # Flag:patient, from a Patient match
        return {("Flag", i) for i in world.expected.record(patient, source)} if patient in shown else set()
    targets: set[tuple[str, str]] = set()
    for resource_id in shown:
        resource = world.expected.resources[(source, resource_id)]
        refs = {
            "Flag:patient": [resource.get("subject")],
            "EpisodeOfCare:care-manager": [resource.get("careManager")],
            "EpisodeOfCare:organization": [resource.get("managingOrganization")],
            "CareTeam:participant": [p.get("member") for p in resource.get("participant", [])],
        }[value]
        for ref in refs:
            if ref and "reference" in ref:
                kind, _, ident = ref["reference"].partition("/")
                targets.add((kind, ident))
    return targets


@pytest.mark.parametrize(("who", "patient"), PAIRS, ids=_matrix_id)
def test_include_and_revinclude(world: World, who: sharing.Consumer, patient: str) -> None:
    """An included resource appears iff the match it hangs off is visible and the engine permits it too."""
    caller = world.caller(who)
    for resource_type, parameter, value in INCLUDES:
        criterion = _patient_criterion(patient, resource_type)
        matches = world.expected.visible(who, patient, resource_type)
        reached = _brought_in(world, patient, parameter, value, matches)
        included = {key for key in reached if world.expected.may_see(who, *key)}
        found = _ok(caller.get(world.url(resource_type), [criterion, (parameter, value)]))
        asked = f"GET {resource_type}?{criterion[0]}={criterion[1]}&{parameter}={value}"
        assert set(_ids(found)) == matches, asked
        assert set(_entries(found, "include")) == included, asked


ALERT_ORDER = ("dnar", "falls", "allergy", "ecp", "eol", "episode", "team")
ALERT_TYPES = {
    "dnar": "Flag",
    "falls": "Flag",
    "allergy": "AllergyIntolerance",
    "ecp": "CarePlan",
    "eol": "CarePlan",
    "episode": "EpisodeOfCare",
    "team": "CareTeam",
}
# The contacts `$alerts` includes, by the alert they hang off.
ALERT_CONTACTS = {
    "episode": ("EpisodeOfCare:care-manager", "EpisodeOfCare:organization"),
    "team": ("CareTeam:participant",),
}


@pytest.mark.parametrize(("who", "patient"), PAIRS, ids=_matrix_id)
def test_alerts(world: World, who: sharing.Consumer, patient: str) -> None:
    """`$alerts`: the permitted alerts in the crew's order (DNAR first, the current emergency plan, never the
    superseded one), the contacts of the visible episode and team; nothing permitted is indistinguishable
    from no such patient."""
    caller = world.caller(who)
    url = world.url("Patient/$alerts")
    expected = [
        (ALERT_TYPES[part], f"{patient}-{part}")
        for part in ALERT_ORDER
        if world.expected.may_see(who, ALERT_TYPES[part], f"{patient}-{part}")
    ]
    contacts: set[tuple[str, str]] = set()
    for alert, includes in ALERT_CONTACTS.items():
        if (ALERT_TYPES[alert], f"{patient}-{alert}") in expected:
            for value in includes:
                contacts |= _brought_in(world, patient, "_include", value, {f"{patient}-{alert}"})
    contacts = {key for key in contacts if world.expected.may_see(who, *key)}

    found = _ok(caller.get(url, [("identifier", f"{NHS_NUMBER_SYSTEM}|{world.numbers[patient]}")]))
    asked = f"GET Patient/$alerts?identifier=...|{world.numbers[patient]} ({patient}) as {who.name}"
    assert _entries(found, "match") == expected, asked
    assert found.get("total") == len(expected), asked
    assert set(_entries(found, "include")) == contacts, asked
    if not expected:
        nobody = _ok(caller.get(url, [("identifier", f"{NHS_NUMBER_SYSTEM}|{world.unknown_nhs}")]))
        assert _stable(found) == _stable(nobody), f"{asked} tells itself apart from an unknown NHS number"


def test_scope_not_granted(world: World) -> None:
    """A consumer gets no token for a scope it was not registered with (400 invalid_scope), and a token for
    Flags only does not read Conditions (403)."""
    caller = world.caller(sharing.AMBULANCE)
    refused = caller.ask_token("system/Consent.read")
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_scope"

    narrow = caller.ask_token("system/Flag.read")
    assert narrow.status_code == 200, narrow.text
    token = narrow.json()["access_token"]
    flags = caller.get(world.url("Flag"), [("patient", "Patient/p1")], token=token)
    assert flags.status_code == 200, flags.text
    conditions = caller.get(world.url("Condition"), [("patient", "Patient/p1")], token=token)
    assert conditions.status_code == 403, conditions.text


def test_audit_chain_and_disclosures(world: World) -> None:
    """After the matrix, the audit chain verifies, every consumer is in it, and nothing it records as
    disclosed to a consumer is something the engine refuses that consumer."""
    for who in sharing.CONSUMERS:  # at least one audited request each, whatever order the tests ran in
        _ok(world.caller(who).get(world.url("Flag"), [("patient", "Patient/p1")]))

    verified = world.server.cli_status("audit", "verify")
    assert verified.returncode == 0, f"closer audit verify: {verified.stdout}{verified.stderr}"

    events = json.loads(world.server.cli("audit", "list", "--json", "--limit", "1000000"))
    names = {CLIENT_PREFIX + who.name: who for who in sharing.CONSUMERS}
    seen: dict[str, int] = dict.fromkeys(names, 0)
    refusals: dict[str, int] = dict.fromkeys(names, 0)
    for event in events:
        recipient = event["agent"][0].get("name")
        if recipient not in names:
            continue
        who = names[recipient]
        seen[recipient] += 1
        refusals[recipient] += event.get("outcome") == "4"
        assert event["agent"][0]["who"]["identifier"]["value"] == who.ods
        for entity in event.get("entity", []):
            if entity.get("role", {}).get("code") != "4":
                continue
            resource_type, resource_id, *_ = entity["what"]["reference"].split("/")
            assert world.expected.may_see(who, resource_type, resource_id), (
                f"the audit says {entity['what']['reference']} was disclosed to {recipient}: {event['outcomeDesc']}"
            )
    assert all(seen.values()), f"consumers missing from the audit: {seen}"
    assert refusals[CLIENT_PREFIX + sharing.STRANGER.name], "no refusal is recorded for the stranger"
