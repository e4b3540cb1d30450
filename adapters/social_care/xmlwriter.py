"""Write a social care extract from plain dataclasses: test fixtures, the synthetic-county generator and the
matching review list (which keeps each held person as a <person> fragment) all use it.

The output is valid against schema/social-care-extract.xsd for any data the dataclasses allow with values
in their documented ranges. It is written incrementally, so a county-sized extract never sits in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import IO

from lxml import etree

from adapters.social_care.model import Assessment, Carer, ExtractHeader, Person, Service

NAMESPACE = "https://closer.example.nhs.uk/ns/social-care-extract/1"
SCHEMA_VERSION = "1"
ROOT = f"{{{NAMESPACE}}}socialCareExtract"
PERSON = f"{{{NAMESPACE}}}person"


def write_extract(target: Path | IO[bytes], header: ExtractHeader, people: Iterable[Person]) -> None:
    """Write a whole extract, one indented <person> after another, as UTF-8."""
    with etree.xmlfile(str(target) if isinstance(target, Path) else target, encoding="UTF-8") as xf:
        xf.write_declaration()
        attributes = {
            "schemaVersion": SCHEMA_VERSION,
            "localAuthority": header.local_authority,
            "extractDate": header.extract_date.isoformat(),
        }
        if header.local_authority_name:
            attributes["localAuthorityName"] = header.local_authority_name
        with xf.element(ROOT, attributes, nsmap={None: NAMESPACE}):
            for person in people:
                element = person_element(person)
                etree.indent(element, space="  ", level=1)
                xf.write("\n  ")
                _emit(xf, element)
            xf.write("\n")


def extract_bytes(header: ExtractHeader, people: Iterable[Person]) -> bytes:
    buffer = BytesIO()
    write_extract(buffer, header, people)
    return buffer.getvalue()


def person_bytes(person: Person) -> bytes:
    """One person as a standalone <person> document (it carries its own namespace declaration)."""
    return etree.tostring(person_element(person), encoding="UTF-8", xml_declaration=False)


def person_element(person: Person) -> etree._Element:
    element = etree.Element(PERSON, nsmap={None: NAMESPACE})
    _child(element, "laPersonId", person.la_person_id)
    _child(element, "nhsNumber", person.nhs_number)
    _child(element, "familyName", person.family_name)
    _child(element, "givenName", person.given_name)
    _child(element, "birthDate", person.birth_date)
    _child(element, "postcode", person.postcode)
    for assessment in person.assessments:
        _assessment(element, assessment)
    for service in person.services:
        _service(element, service)
    for carer in person.carers:
        _carer(element, carer)
    return element


def _assessment(parent: etree._Element, assessment: Assessment) -> None:
    element = etree.SubElement(parent, _tag("assessment"), id=assessment.id)
    _child(element, "type", assessment.type)
    _child(element, "date", assessment.date)
    _child(element, "outcome", assessment.outcome)
    _child(element, "outcomeText", assessment.outcome_text)


def _service(parent: etree._Element, service: Service) -> None:
    element = etree.SubElement(parent, _tag("service"), id=service.id)
    _child(element, "type", service.type)
    _child(element, "hoursPerWeek", service.hours_per_week)
    _child(element, "startDate", service.start)
    _child(element, "endDate", service.end)
    provider = _child(element, "provider", service.provider_name)
    if provider is not None and service.provider_ods:
        provider.set("odsCode", service.provider_ods)


def _carer(parent: etree._Element, carer: Carer) -> None:
    element = etree.SubElement(parent, _tag("carer"), id=carer.id)
    _child(element, "familyName", carer.family_name)
    _child(element, "givenName", carer.given_name)
    _child(element, "relationship", carer.relationship)
    _child(element, "mainCarer", "true" if carer.main_carer else "false")
    _child(element, "startDate", carer.start)


def _child(parent: etree._Element, name: str, value: str | date | Decimal | None) -> etree._Element | None:
    """An element holding `value`, or nothing when the value is empty (optional elements are left out)."""
    if value is None or value == "":
        return None
    element = etree.SubElement(parent, _tag(name))
    if isinstance(value, date):
        element.text = value.isoformat()
    elif isinstance(value, Decimal):
        element.text = format(value, "f")  # never exponent notation, which xs:decimal refuses
    else:
        element.text = value
    return element


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _emit(xf: etree._IncrementalFileWriter, element: etree._Element) -> None:
    """Write an element through the incremental writer, so it inherits the root's namespace declaration
    instead of repeating it on every person."""
    with xf.element(element.tag, dict(element.attrib)):
        if element.text:
            xf.write(element.text)
        for child in element:
            _emit(xf, child)
            if child.tail:
                xf.write(child.tail)
