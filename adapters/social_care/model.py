"""The social care extract as plain data: what the XML reader produces, the mapping consumes and the
XML writer (tests, the synthetic-county generator) writes. No IO, no FHIR."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

ASSESSMENT_TYPES = ("needs-assessment", "carers-assessment", "review")
ASSESSMENT_OUTCOMES = (
    "eligible-needs",
    "no-eligible-needs",
    "information-and-advice",
    "support-unchanged",
    "support-increased",
    "support-reduced",
    "support-ended",
    "carer-support",
    "no-further-action",
)
SERVICE_TYPES = ("home-care", "reablement", "day-care", "residential", "nursing", "equipment")
RELATIONSHIPS = (
    "spouse",
    "partner",
    "daughter",
    "son",
    "daughter-in-law",
    "son-in-law",
    "sibling",
    "grandchild",
    "niece-nephew",
    "other-relative",
    "friend",
    "neighbour",
    "other",
)


@dataclass(frozen=True)
class Assessment:
    id: str
    type: str  # one of ASSESSMENT_TYPES
    date: date
    outcome: str  # one of ASSESSMENT_OUTCOMES
    outcome_text: str = ""


@dataclass(frozen=True)
class Service:
    """A service or care package; hours_per_week is meaningful for home care only."""

    id: str
    type: str  # one of SERVICE_TYPES
    start: date
    end: date | None = None
    hours_per_week: Decimal | None = None
    provider_name: str = ""
    provider_ods: str = ""


@dataclass(frozen=True)
class Carer:
    """An unpaid carer of the person."""

    id: str
    family_name: str
    relationship: str  # one of RELATIONSHIPS
    main_carer: bool = False
    given_name: str = ""
    start: date | None = None


@dataclass(frozen=True)
class Person:
    la_person_id: str
    family_name: str
    birth_date: date
    nhs_number: str = ""  # as written (spaces allowed); empty when the authority does not know it
    given_name: str = ""
    postcode: str = ""
    assessments: tuple[Assessment, ...] = ()
    services: tuple[Service, ...] = ()
    carers: tuple[Carer, ...] = ()


@dataclass(frozen=True)
class ExtractHeader:
    """Who sent the extract and the day it describes."""

    local_authority: str  # ODS code
    extract_date: date
    local_authority_name: str = ""
