"""Building blocks for the social care tests: people, headers, raw XML and a view of what the store holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

from adapters.social_care.model import Assessment, Carer, ExtractHeader, Person, Service
from adapters.social_care.xmlwriter import NAMESPACE
from closer.store.query import parse_search
from closer.store.schema import resource_history, resources
from closer.store.sql import SqlRepository

JSON = dict[str, Any]
ExtractWriter = Callable[..., Path]  # the write_people fixture
LA = "LA893"
EXTRACT_DATE = date(2024, 6, 30)
HEADER = ExtractHeader(LA, EXTRACT_DATE, "Shropshire Council")
NHS = ("9990000018", "9990000026", "9990000034", "9990000042")


def home_care(hours: str = "14.5", **changes: Any) -> Service:
    service = Service("S1", "home-care", date(2024, 1, 15), hours_per_week=Decimal(hours), provider_name="Acme Care")
    return replace(service, **changes)


def person(**changes: Any) -> Person:
    """A person with an NHS number, one active home care package, an assessment and a main carer."""
    base = Person(
        la_person_id="P1",
        family_name="Smith",
        birth_date=date(1938, 5, 2),
        nhs_number=NHS[0],
        given_name="Ann",
        postcode="SY1 1AA",
        assessments=(Assessment("A1", "needs-assessment", date(2023, 12, 18), "eligible-needs"),),
        services=(home_care(),),
        carers=(Carer("C1", "Smith", "daughter", True, "Jane", date(2019, 3, 1)),),
    )
    return replace(base, **changes)


def xml_document(body: str, *, prolog: str = "", declaration: str = '<?xml version="1.0" encoding="UTF-8"?>') -> str:
    """An extract document around `body` (people as XML text), for the tests that need to write bad XML."""
    return (
        f"{declaration}\n{prolog}"
        f'<socialCareExtract xmlns="{NAMESPACE}" schemaVersion="1" localAuthority="{LA}" extractDate="2024-06-30">\n'
        f"{body}</socialCareExtract>\n"
    )


def person_xml(la_id: str = "P1", *, nhs: str = NHS[0], birth: str = "1938-05-02", extra: str = "") -> str:
    nhs_element = f"    <nhsNumber>{nhs}</nhsNumber>\n" if nhs else ""
    return (
        f"  <person>\n    <laPersonId>{la_id}</laPersonId>\n{nhs_element}    <familyName>Smith</familyName>\n"
        f"    <birthDate>{birth}</birthDate>\n{extra}  </person>\n"
    )


# -- hostile documents -----------------------------------------------------------------------------------
BILLION_LAUGHS = """<!DOCTYPE socialCareExtract [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""
DTD_REFUSED = "the file has a DOCTYPE or entity declaration, which an extract never needs: refused"


def billion_laughs() -> str:
    return xml_document(person_xml().replace("Smith", "&lol9;"), prolog=BILLION_LAUGHS)


def xxe(target: str) -> str:
    prolog = f'<!DOCTYPE socialCareExtract [\n  <!ENTITY secret SYSTEM "{target}">\n]>\n'
    return xml_document(person_xml().replace("Smith", "&secret;"), prolog=prolog)


def search(repo: SqlRepository, resource_type: str, params: list[tuple[str, str]]) -> list[JSON]:
    """An ordinary FHIR search, as a stratification step would make it."""
    query = parse_search(resource_type, params, strict=True, default_count=100)
    return repo.search(query).matches


def stored(repo: SqlRepository) -> list[JSON]:
    """Every current resource, without meta, ordered by type and id."""
    with repo.engine.connect() as conn:
        rows = conn.execute(select(resources.c.content).where(resources.c.deleted.is_(False))).all()
    found = []
    for row in rows:
        resource = orjson.loads(row.content)
        resource.pop("meta", None)
        found.append(resource)
    return sorted(found, key=lambda r: (r["resourceType"], r["id"]))


def versions(repo: SqlRepository) -> int:
    """How many versions the store holds in all: a re-ingest that changes nothing leaves it alone."""
    with repo.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(resource_history)).scalar_one())


def by_type(repo: SqlRepository, resource_type: str) -> list[JSON]:
    return [resource for resource in stored(repo) if resource["resourceType"] == resource_type]
