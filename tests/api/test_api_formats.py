"""Content negotiation: FHIR JSON and XML in and out, _format over Accept, and the MIME types we accept."""

from __future__ import annotations

from typing import Any

from apiutil import FHIR_JSON, FHIR_XML, created, nhs_number, send
from fhirdata import NHS, patient
from flask.testing import FlaskClient
from lxml import etree

NS = {"f": "http://hl7.org/fhir"}


def xml_patient(number: str, family: str = "Xmlson") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Patient xmlns="http://hl7.org/fhir">
  <identifier><system value="{NHS}"/><value value="{number}"/></identifier>
  <name><family value="{family}"/><given value="Ann"/><given value="Marie"/></name>
  <gender value="female"/>
  <birthDate value="1948-07-05"/>
</Patient>""".encode()


def xml_value(document: bytes, path: str) -> list[str]:
    root = etree.fromstring(document)
    return [str(v) for v in root.xpath(f"{path}/@value", namespaces=NS)]


def test_post_xml_then_read_as_xml_and_json(client: FlaskClient) -> None:
    number = nhs_number()
    response = send(client, "POST", "/Patient", xml_patient(number), {"Content-Type": FHIR_XML, "Accept": FHIR_XML})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.mimetype == FHIR_XML
    assert response.headers["Content-Type"] == f"{FHIR_XML}; charset=utf-8"
    root = etree.fromstring(response.data)
    assert root.tag == "{http://hl7.org/fhir}Patient"
    new_id = xml_value(response.data, "/f:Patient/f:id")[0]
    assert response.headers["Location"].endswith(f"/Patient/{new_id}/_history/1")

    as_xml = send(client, "GET", f"/Patient/{new_id}", headers={"Accept": FHIR_XML})
    assert as_xml.status_code == 200
    assert as_xml.mimetype == FHIR_XML
    assert xml_value(as_xml.data, "/f:Patient/f:name/f:family") == ["Xmlson"]
    assert xml_value(as_xml.data, "/f:Patient/f:name/f:given") == ["Ann", "Marie"]
    assert xml_value(as_xml.data, "/f:Patient/f:identifier/f:value") == [number]
    assert xml_value(as_xml.data, "/f:Patient/f:meta/f:versionId") == ["1"]

    as_json = send(client, "GET", f"/Patient/{new_id}", headers={"Accept": FHIR_JSON})
    assert as_json.status_code == 200
    assert as_json.mimetype == FHIR_JSON
    body = as_json.get_json()
    assert body["name"] == [{"family": "Xmlson", "given": ["Ann", "Marie"]}]
    assert body["identifier"] == [{"system": NHS, "value": number}]
    assert body["birthDate"] == "1948-07-05"
    assert body["gender"] == "female"
    # Dates and times read the same in both formats.
    assert xml_value(as_xml.data, "/f:Patient/f:meta/f:lastUpdated") == [body["meta"]["lastUpdated"]]
    assert body["meta"]["lastUpdated"].endswith("Z")


def test_json_in_xml_out_round_trips(client: FlaskClient) -> None:
    stored = created(client, patient(nhs_number(), family="Jsonford"))
    xml = send(client, "GET", f"/Patient/{stored['id']}?_format=xml")
    assert xml.status_code == 200
    # The XML we hand out is accepted back unchanged: a no-op update.
    again = send(client, "PUT", f"/Patient/{stored['id']}", xml.data, {"Content-Type": FHIR_XML})
    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.get_json()["meta"]["versionId"] == "1"
    assert again.get_json()["name"] == stored["name"]


def test_format_parameter_and_accept_header(client: FlaskClient) -> None:
    stored = created(client, patient(nhs_number()))
    url = f"/Patient/{stored['id']}"
    for value in ("xml", "application/fhir+xml", "text/xml", "application/xml"):
        response = send(client, "GET", url, headers={"Accept": FHIR_JSON}, query_string={"_format": value})
        assert response.status_code == 200, value
        assert response.mimetype == FHIR_XML, value
    for value in ("json", "application/fhir+json", "application/json"):
        response = send(client, "GET", url, headers={"Accept": FHIR_XML}, query_string={"_format": value})
        assert response.status_code == 200, value
        assert response.mimetype == FHIR_JSON, value
        assert response.get_json()["id"] == stored["id"]
    cases = {
        "application/json": FHIR_JSON,
        "application/json+fhir": FHIR_JSON,
        "*/*": FHIR_JSON,
        "text/html, application/fhir+xml;q=0.9": FHIR_XML,
        "application/xml+fhir": FHIR_XML,
        "application/fhir+json; fhirVersion=4.0": FHIR_JSON,
    }
    for accept, expected in cases.items():
        response = send(client, "GET", url, headers={"Accept": accept})
        assert response.status_code == 200, accept
        assert response.mimetype == expected, accept
    no_accept = client.get(url)
    assert no_accept.status_code == 200
    assert no_accept.mimetype == FHIR_JSON


def test_request_content_type_variants(client: FlaskClient) -> None:
    for content_type in ("application/json", "application/fhir+json; charset=utf-8", "application/json+fhir"):
        response = send(client, "POST", "/Patient", patient(nhs_number()), {"Content-Type": content_type})
        assert response.status_code == 201, content_type
    for content_type in ("application/xml", "text/xml; charset=utf-8"):
        response = send(client, "POST", "/Patient", xml_patient(nhs_number()), {"Content-Type": content_type})
        assert response.status_code == 201, content_type


def test_search_and_bundle_as_xml(client: FlaskClient) -> None:
    number = nhs_number()
    created(client, patient(number, family="Searchxml"))
    response = send(client, "GET", "/Patient", query_string={"identifier": f"{NHS}|{number}", "_format": "xml"})
    assert response.status_code == 200
    assert response.mimetype == FHIR_XML
    assert xml_value(response.data, "/f:Bundle/f:type") == ["searchset"]
    assert xml_value(response.data, "/f:Bundle/f:total") == ["1"]
    assert xml_value(response.data, "/f:Bundle/f:entry/f:resource/f:Patient/f:name/f:family") == ["Searchxml"]


def test_xml_transaction_response(client: FlaskClient) -> None:
    body: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": patient(nhs_number()), "request": {"method": "POST", "url": "Patient"}}],
    }
    response = send(client, "POST", "/", body, {"Accept": FHIR_XML})
    assert response.status_code == 200
    assert response.mimetype == FHIR_XML
    assert xml_value(response.data, "/f:Bundle/f:type") == ["transaction-response"]
    assert xml_value(response.data, "/f:Bundle/f:entry/f:response/f:status") == ["201 Created"]


def test_xml_with_extensions_and_primitive_extensions(client: FlaskClient) -> None:
    number = nhs_number()
    raw = f"""<Patient xmlns="http://hl7.org/fhir">
  <extension url="urn:test:ext"><valueString value="hello"/></extension>
  <identifier><system value="{NHS}"/><value value="{number}"/></identifier>
  <birthDate value="1950-01-01"><extension url="urn:test:time"><valueDateTime value="1950-01-01T08:30:00Z"/></extension>
  </birthDate>
</Patient>""".encode()
    response = send(client, "POST", "/Patient", raw, {"Content-Type": FHIR_XML})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["extension"] == [{"url": "urn:test:ext", "valueString": "hello"}]
    assert body["_birthDate"]["extension"][0]["valueDateTime"] == "1950-01-01T08:30:00Z"
    back = send(client, "GET", f"/Patient/{body['id']}?_format=xml")
    assert xml_value(back.data, "/f:Patient/f:birthDate/f:extension/f:valueDateTime") == ["1950-01-01T08:30:00Z"]


def test_prefer_minimal_with_xml(client: FlaskClient) -> None:
    headers = {"Content-Type": FHIR_XML, "Accept": FHIR_XML, "Prefer": "return=minimal"}
    response = send(client, "POST", "/Patient", xml_patient(nhs_number()), headers)
    assert response.status_code == 201
    assert response.data == b""
    assert response.headers["ETag"] == 'W/"1"'


def test_xml_output_keeps_date_and_time_text_as_stored(client: FlaskClient) -> None:
    pid = created(client, patient(nhs_number()))["id"]
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2024-01-10T10:00:00Z",
        "issued": "2024-01-10T10:00:00.120+01:00",
        "component": [{"code": {"text": "t"}, "valuePeriod": {"start": "2024-01", "end": "2024-02-03T04:05:06.7Z"}}],
    }
    stored = created(client, obs)
    xml = send(client, "GET", f"/Observation/{stored['id']}", headers={"Accept": FHIR_XML}).data
    assert xml_value(xml, "/f:Observation/f:effectiveDateTime") == ["2024-01-10T10:00:00Z"]
    assert xml_value(xml, "/f:Observation/f:issued") == ["2024-01-10T10:00:00.120+01:00"]
    assert xml_value(xml, "/f:Observation/f:component/f:valuePeriod/f:start") == ["2024-01"]
    assert xml_value(xml, "/f:Observation/f:component/f:valuePeriod/f:end") == ["2024-02-03T04:05:06.7Z"]
