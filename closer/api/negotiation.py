"""Content negotiation: read request bodies and write responses as FHIR JSON or XML."""

from __future__ import annotations

from typing import Any

from closer.errors import FhirError, invalid
from closer.fhir.model import dumps_json, loads_json, parse_xml, to_xml

JSON = "application/fhir+json"
XML = "application/fhir+xml"
_FORMATS = {
    "json": JSON,
    "application/json": JSON,
    "application/fhir+json": JSON,
    "application/json+fhir": JSON,
    "xml": XML,
    "text/xml": XML,
    "application/xml": XML,
    "application/fhir+xml": XML,
    "application/xml+fhir": XML,
}


def body_format(content_type: str | None) -> str:
    """The FHIR format of a request body, or 415 if it is not one we read."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in _FORMATS:
        return _FORMATS[mime]
    raise FhirError(
        f"Unsupported Content-Type '{content_type or ''}': send application/fhir+json or application/fhir+xml",
        415,
        "not-supported",
    )


def parse_body(data: bytes, content_type: str | None) -> Any:
    if not data.strip():
        raise invalid("The request body is empty")
    if body_format(content_type) == XML:
        return parse_xml(data)
    return loads_json(data)


def response_format(format_param: str | None, accept: str | None) -> str:
    """_format wins over Accept; anything we cannot produce falls back to JSON only for wildcards."""
    if format_param:
        mime = format_param.split(";")[0].strip().lower()
        if mime in _FORMATS:
            return _FORMATS[mime]
        raise FhirError(f"Unsupported _format '{format_param}'", 406, "not-supported")
    if not accept:
        return JSON
    for part in accept.split(","):
        mime = part.split(";")[0].strip().lower()
        if mime in _FORMATS:
            return _FORMATS[mime]
        if mime in ("*/*", "application/*", "text/*", ""):
            return JSON
    raise FhirError(
        f"Cannot produce any of Accept '{accept}': use application/fhir+json or application/fhir+xml",
        406,
        "not-supported",
    )


def render(resource: dict[str, Any], fmt: str) -> bytes:
    return to_xml(resource) if fmt == XML else dumps_json(resource)
