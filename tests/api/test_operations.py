"""The operation framework: `$name` routes, Parameters parsing, errors, registration and /metadata."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from importlib.metadata import EntryPoint
from typing import Any

import pytest
from apiutil import created, diagnostics, expressions, outcome, send, snapshot
from bearer import authenticated
from fhirdata import patient
from flask import Flask
from flask.testing import FlaskClient

from closer.api.interactions import Reply
from closer.api.operations import (
    OPERATION_DEFINITION_BASE,
    Operation,
    OperationCall,
    OperationRegistryError,
    Operations,
    Params,
    load_operations,
)
from closer.app import create_app
from closer.settings import Settings

PARAMETERS = "Parameters"


def echo(call: OperationCall) -> Reply:
    """Says how it was called and what each parameter became in Python."""
    where = f"{call.method} {call.resource_type} {call.resource_id}"
    if call.resource_id is not None:
        where += f" {call.target()['resourceType']}"
    parameter: list[dict[str, Any]] = [{"name": "_where", "valueString": where}]
    for name, value in call.params.items:
        shown = f"{type(value).__name__}:{value.items if isinstance(value, Params) else value}"
        parameter.append({"name": name, "valueString": shown})
    return Reply(200, {"resourceType": PARAMETERS, "parameter": parameter})


def typed(call: OperationCall) -> Reply:
    """Reads typed inputs through the accessors, so their errors can be tested."""
    day = call.params.day("when", required=True)
    ref = call.params.reference("ref")
    return Reply(200, {"resourceType": PARAMETERS, "parameter": [{"name": "out", "valueString": f"{day} {ref}"}]})


ECHO_SYSTEM = Operation(name="echo", handler=echo, methods=("GET", "POST"), documentation="Echo the inputs.")
ECHO_TYPE = Operation(name="echo-type", resource_type="Patient", handler=echo)
ECHO_INSTANCE = Operation(name="echo-instance", resource_type="Patient", instance=True, handler=echo, methods=("GET",))
TYPED = Operation(name="typed", resource_type="Observation", handler=typed, inputs=("when", "ref"))
TEST_OPERATIONS = [ECHO_SYSTEM, ECHO_TYPE, ECHO_INSTANCE, TYPED]


@pytest.fixture
def op_app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings, operations=[*load_operations().all(), *TEST_OPERATIONS])
    yield application
    application.extensions["closer.engine"].dispose()


@pytest.fixture
def op_client(op_app: Flask) -> FlaskClient:
    return authenticated(op_app)


def parameters(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": PARAMETERS, "parameter": list(items)}


def echoed(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["resourceType"] == PARAMETERS
    out: dict[str, list[str]] = {}
    for p in body["parameter"]:
        out.setdefault(p["name"], []).append(p["valueString"])
    return out


# -- routing -------------------------------------------------------------------------------------------


def test_operations_run_at_system_type_and_instance_level(op_client: FlaskClient) -> None:
    assert echoed(send(op_client, "GET", "/$echo"))["_where"] == ["GET None None"]
    assert echoed(send(op_client, "POST", "/Patient/$echo-type", parameters()))["_where"] == ["POST Patient None"]
    pid = created(op_client, patient())["id"]
    got = echoed(send(op_client, "GET", f"/Patient/{pid}/$echo-instance"))
    assert got["_where"] == [f"GET Patient {pid} Patient"]


def test_unknown_operation_is_404_naming_it(op_client: FlaskClient) -> None:
    for url in ("/Patient/$nope", "/Patient/abc/$nope", "/$nope"):
        for method in ("GET", "POST"):
            oo = outcome(send(op_client, method, url, parameters() if method == "POST" else None), 404)
            assert "$nope" in diagnostics(oo), url


def test_an_operation_name_is_never_read_as_an_id(op_client: FlaskClient, op_app: Flask) -> None:
    before = snapshot(op_app)
    oo = outcome(send(op_client, "GET", "/Patient/$sign-off"), 404)
    assert "operation" in diagnostics(oo).lower()
    assert "/RiskAssessment/$sign-off" in diagnostics(oo)  # says where it is invoked instead
    body = {**patient(), "id": "$x"}
    outcome(send(op_client, "PUT", "/Patient/$x", body), 404)
    outcome(send(op_client, "DELETE", "/Patient/$echo-type"), 405)
    outcome(send(op_client, "GET", "/Patient/%24nope"), 404)  # %24 is $
    assert snapshot(op_app) == before


def test_operation_invoked_at_the_wrong_level_says_where_it_is(op_client: FlaskClient) -> None:
    oo = outcome(send(op_client, "GET", "/Patient/$echo-instance"), 404)
    assert "/Patient/[id]/$echo-instance" in diagnostics(oo)
    oo = outcome(send(op_client, "POST", "/Observation/$echo-type", parameters()), 404)
    assert "/Patient/$echo-type" in diagnostics(oo)


def test_unknown_resource_type_is_404(op_client: FlaskClient) -> None:
    oo = outcome(send(op_client, "POST", "/Nonsense/$echo-type", parameters()), 404)
    assert "Nonsense" in diagnostics(oo)


def test_instance_operation_on_a_missing_resource_is_404(op_client: FlaskClient) -> None:
    outcome(send(op_client, "GET", "/Patient/no-such-patient/$echo-instance"), 404)


def test_wrong_method_is_405_with_allow(op_client: FlaskClient) -> None:
    response = send(op_client, "GET", "/Patient/$echo-type")
    oo = outcome(response, 405)
    assert response.headers["Allow"] == "POST"
    assert "GET" in diagnostics(oo)
    response = send(op_client, "PUT", "/$echo", parameters())
    outcome(response, 405)
    assert response.headers["Allow"] == "GET, POST"


# -- Parameters ----------------------------------------------------------------------------------------


def test_parameters_become_python_values(op_client: FlaskClient) -> None:
    body = parameters(
        {"name": "s", "valueString": "hello"},
        {"name": "c", "valueCode": "exclude"},
        {"name": "d", "valueDate": "2026-11-02"},
        {"name": "partial", "valueDate": "2026-11"},
        {"name": "n", "valueInteger": 3},
        {"name": "b", "valueBoolean": True},
        {"name": "r", "valueReference": {"reference": "Patient/1"}},
        {"name": "s", "valueString": "again"},
        {"name": "p", "part": [{"name": "inner", "valueCode": "x"}]},
    )
    got = echoed(send(op_client, "POST", "/$echo", body))
    assert got["s"] == ["str:hello", "str:again"]
    assert got["c"] == ["str:exclude"]
    assert got["d"] == ["date:2026-11-02"]
    assert got["partial"] == ["str:2026-11"]
    assert got["n"] == ["int:3"]
    assert got["b"] == ["bool:True"]
    assert got["r"] == ["dict:{'reference': 'Patient/1'}"]
    assert got["p"] == ["Params:(('inner', 'x'),)"]


def test_get_takes_query_parameters(op_client: FlaskClient) -> None:
    got = echoed(send(op_client, "GET", "/$echo?x=1&x=2&y=a&_format=json"))
    assert got["x"] == ["str:1", "str:2"]
    assert got["y"] == ["str:a"]
    assert "_format" not in got


def test_typed_accessors_read_query_and_body_alike(op_client: FlaskClient) -> None:
    body = parameters(
        {"name": "when", "valueDate": "2026-01-31"}, {"name": "ref", "valueReference": {"reference": "Patient/a"}}
    )
    response = send(op_client, "POST", "/Observation/$typed", body)
    assert response.get_json()["parameter"][0]["valueString"] == "2026-01-31 Patient/a"
    response = send(op_client, "POST", "/Observation/$typed?when=2026-01-31&ref=Patient/a", b"")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["parameter"][0]["valueString"] == "2026-01-31 Patient/a"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"resourceType": "Patient"}, "Parameters"),
        (parameters({"valueString": "x"}), "name"),
        (parameters({"name": "when", "valueDate": "31/01/2026"}), "when"),
        (parameters({"name": "when", "valueDate": "2026-02-30"}), "when"),
        (parameters({"name": "when", "valueString": "a", "valueCode": "b"}), "when"),
        (parameters({"name": "when"}), "when"),
        (parameters({"name": "when", "valueInteger": "3"}), "when"),
        (parameters({"name": "when", "valueReference": "Patient/1"}), "when"),
        (parameters({"name": "wen", "valueDate": "2026-01-31"}), "wen"),  # not one of the inputs
        (parameters({"name": "when", "valueDate": "2026-01"}), "when"),  # the handler wants a full date
        (parameters({"name": "when", "valueDate": "2026-01-31"}, {"name": "when", "valueDate": "2026-02-01"}), "when"),
        (parameters({"name": "when", "valueDate": "2026-01-31"}, {"name": "ref", "valueString": "nonsense"}), "ref"),
        (parameters(), "when"),  # required
        ({"resourceType": "Parameters", "parameter": {"name": "x"}}, "parameter"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(op_client: FlaskClient, body: Any, named: str) -> None:
    oo = outcome(send(op_client, "POST", "/Observation/$typed", body), 400)
    assert named in diagnostics(oo) + " ".join(expressions(oo))


def test_body_that_is_not_json_is_400(op_client: FlaskClient) -> None:
    outcome(send(op_client, "POST", "/$echo", b"{not json"), 400)


# -- registration and the CapabilityStatement ---------------------------------------------------------


def test_capability_lists_the_operations(op_client: FlaskClient) -> None:
    statement = send(op_client, "GET", "/metadata").get_json()
    rest = statement["rest"][0]
    resources = {r["type"]: r for r in rest["resource"]}
    assert {"name": "sign-off", "definition": f"{OPERATION_DEFINITION_BASE}/sign-off"}.items() <= resources[
        "RiskAssessment"
    ]["operation"][0].items()
    patient_ops = {op["name"]: op["definition"] for op in resources["Patient"]["operation"]}
    assert patient_ops["triage"] == f"{OPERATION_DEFINITION_BASE}/triage"
    assert {"echo-type", "echo-instance", "alerts"} <= set(patient_ops)
    system_ops = {op["name"]: op for op in rest["operation"]}
    assert set(system_ops) == {"echo", "consent-check", "programme-report"}
    assert system_ops["echo"]["documentation"] == "Echo the inputs."
    assert "operation" not in resources["Condition"]


def test_the_built_in_operations_are_registered(client: FlaskClient) -> None:
    statement = send(client, "GET", "/metadata").get_json()
    names = {op["name"] for r in statement["rest"][0]["resource"] for op in r.get("operation", [])}
    assert {"sign-off", "triage"} <= names


def test_duplicate_operation_names_are_a_start_up_error(settings: Settings) -> None:
    twin = Operation(name="echo", resource_type="Patient", handler=echo)
    with pytest.raises(OperationRegistryError, match="echo"):
        Operations.of([ECHO_SYSTEM, twin])
    with pytest.raises(OperationRegistryError, match="echo"):
        create_app(settings, operations=[ECHO_SYSTEM, twin])


def test_duplicate_entry_points_are_a_start_up_error() -> None:
    group = "closer.operations"
    first = EntryPoint("sign-off", "stratify.operations:SIGN_OFF", group)
    second = EntryPoint("sign-off", "stratify.operations:TRIAGE", group)
    with pytest.raises(OperationRegistryError, match="Two plugins register 'sign-off'"):
        load_operations([first, second])
    with pytest.raises(OperationRegistryError, match="operation's name"):
        load_operations([EntryPoint("other", "stratify.operations:SIGN_OFF", group)])
    with pytest.raises(OperationRegistryError, match="could not be loaded"):
        load_operations([EntryPoint("gone", "no_such_module:OP", group)])
    with pytest.raises(OperationRegistryError, match="not an Operation"):
        load_operations([EntryPoint("date", "datetime:date", group)])
    assert [op.name for op in load_operations([first]).all()] == ["sign-off"]


def test_operations_that_cannot_be_served_are_refused() -> None:
    with pytest.raises(OperationRegistryError, match="does not serve"):
        Operations.of([Operation(name="x", resource_type="Nonsense", handler=echo)])
    with pytest.raises(OperationRegistryError, match="methods"):
        Operations.of([Operation(name="x", handler=echo, methods=("DELETE",))])
    with pytest.raises(OperationRegistryError, match="instance-level"):
        Operations.of([Operation(name="x", handler=echo, instance=True)])
    with pytest.raises(OperationRegistryError, match="not a valid operation name"):
        Operations.of([Operation(name="$x", handler=echo)])


def test_params_accessors() -> None:
    params = Params((("d", date(2026, 1, 2)), ("i", {"system": "s", "value": " v "}), ("j", "s|v"), ("k", "v")))
    assert params.day("d") == date(2026, 1, 2)
    assert params.identifier("i") == ("s", "v")
    assert params.identifier("j") == ("s", "v")
    assert params.identifier("k") == (None, "v")
    assert params.text("missing") is None
