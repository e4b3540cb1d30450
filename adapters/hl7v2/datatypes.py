"""HL7 v2 data types (XPN, XAD, XTN, CX, XCN, XON, CE/CWE) to FHIR data types. Pure functions over
one repetition's components; empty values are left out, so the FHIR output has no empty elements."""

from __future__ import annotations

from typing import Any

from adapters.identity import GMC_SYSTEM, GMP_SYSTEM, ODS_ORGANIZATION_SYSTEM, local_system

JSON = dict[str, Any]

CODING_SYSTEMS = {
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "ICD-10": "http://hl7.org/fhir/sid/icd-10",
    "I10C": "http://hl7.org/fhir/sid/icd-10",
    "SCT": "http://snomed.info/sct",
    "SNM": "http://snomed.info/sct",
    "SNOMED": "http://snomed.info/sct",
    "SNOMEDCT": "http://snomed.info/sct",
    "OPCS4": "https://fhir.hl7.org.uk/Id/opcs-4",
    "LN": "http://loinc.org",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
}

_NAME_USE = {"L": "official", "D": "usual", "M": "maiden", "A": "nickname", "N": "nickname", "P": "nickname"}
_ADDRESS_USE = {"H": "home", "B": "work", "O": "work", "C": "temp", "M": "home", "BA": "old", "BI": "billing"}
_TELECOM_USE = {"PRN": "home", "ORN": "home", "WPN": "work", "VHN": "home", "ASN": "work", "EMR": "temp"}


def at(components: list[str], n: int) -> str:
    """Component n (1-based), "" when absent."""
    return components[n - 1].strip() if len(components) >= n else ""


def human_name(c: list[str]) -> JSON | None:
    """XPN: family^given^second given^suffix^prefix^degree^name type."""
    name: JSON = {}
    if family := at(c, 1):
        name["family"] = family.title() if family.isupper() else family
    given = [g.title() if g.isupper() else g for g in (at(c, 2), at(c, 3)) if g]
    if given:
        name["given"] = given
    if prefix := at(c, 5):
        name["prefix"] = [prefix.title() if prefix.isupper() else prefix]
    if suffix := at(c, 4):
        name["suffix"] = [suffix]
    if not name:
        return None
    if use := _NAME_USE.get(at(c, 7)):
        name["use"] = use
    return name


def address(c: list[str]) -> JSON | None:
    """XAD: street^other^city^state/county^postcode^country^type."""
    lines = [v for v in (at(c, 1), at(c, 2)) if v]
    result: JSON = {}
    if lines:
        result["line"] = lines
    if city := at(c, 3):
        result["city"] = city
    if district := at(c, 4):
        result["district"] = district
    if postcode := at(c, 5):
        result["postalCode"] = postcode
    if country := at(c, 6):
        result["country"] = country
    if not result:
        return None
    if use := _ADDRESS_USE.get(at(c, 7)):
        result["use"] = use
    return result


def contact_point(c: list[str]) -> JSON | None:
    """XTN: the number in XTN-1 (or XTN-4 email / XTN-12 unformatted), use code in XTN-2."""
    email = at(c, 4)
    value = at(c, 1) or at(c, 12)
    if not value and not email:
        return None
    point: JSON = {"system": "email", "value": email} if email and not value else {"system": "phone", "value": value}
    if at(c, 3) in ("Internet", "X.400", "NET"):
        point["system"] = "email"
    elif at(c, 3) == "FX":
        point["system"] = "fax"
    if use := _TELECOM_USE.get(at(c, 2)):
        point["use"] = use
    if at(c, 3) == "CP":
        point["use"] = "mobile"
    return point


def codeable_concept(c: list[str]) -> JSON | None:
    """CE/CWE: code^text^coding system (and the alternate triplet in components 4-6)."""
    codings = []
    for code, display, system in ((at(c, 1), at(c, 2), at(c, 3)), (at(c, 4), at(c, 5), at(c, 6))):
        if not code:
            continue
        coding: JSON = {"code": code}
        if system:
            coding["system"] = CODING_SYSTEMS.get(system.upper().replace(" ", ""), f"urn:hl7v2:{system}")
            if system.upper().startswith("HL7") and len(system) == 7 and system[3:].isdigit():
                coding["system"] = f"http://terminology.hl7.org/CodeSystem/v2-{system[3:]}"  # an HL7 table
        if display:
            coding["display"] = display
        codings.append(coding)
    text = at(c, 2) or at(c, 9)
    if not codings and not text:
        return None
    concept: JSON = {}
    if codings:
        concept["coding"] = codings
    if text:
        concept["text"] = text
    return concept


def practitioner_reference(c: list[str]) -> JSON | None:
    """XCN as a logical reference: national code (GMC consultant, GMP general practitioner) + name."""
    code = at(c, 1)
    name = " ".join(v for v in (at(c, 6), at(c, 3), at(c, 2)) if v)
    if not code and not name:
        return None
    reference: JSON = {"type": "Practitioner"}
    if code:
        authority = (at(c, 9) or at(c, 13)).upper()
        if authority in ("GMC", "GMP", ""):
            system = GMP_SYSTEM if code.startswith("G") else GMC_SYSTEM
        else:
            system = local_system("practitioner", authority)
        reference["identifier"] = {"system": system, "value": code}
    if name:
        reference["display"] = name
    return reference


def organization_code(c: list[str]) -> tuple[str, str]:
    """XON: (ODS code, name). The code is XON-3 in v2.3-2.4 and XON-10 from v2.5; some senders put
    it in XON-1 with no name."""
    code = at(c, 10) or at(c, 3)
    name = at(c, 1)
    if not code and name and name.replace(" ", "").isalnum() and len(name) <= 8 and name.upper() == name:
        return name, ""
    return code, name


def ods_reference(code: str, name: str) -> JSON:
    reference: JSON = {
        "reference": f"Organization/{code}",
        "identifier": {"system": ODS_ORGANIZATION_SYSTEM, "value": code},
    }
    if name:
        reference["display"] = name
    return reference
