"""Parse, validate and serialise FHIR R4 resources.

This is the only module that imports fhir.resources. Resources travel through the rest of the host
as plain dicts (the JSON shape), which is what we store and index; the pydantic models are used to
check structure and to convert XML, not as the working representation.
"""

from __future__ import annotations

from datetime import date, time
from functools import cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource as _ResourceBase
from pydantic import BaseModel, ValidationError

from closer.errors import FhirError, Issue, invalid
from closer.fhir.shapes import ShapeCache

Resource = dict[str, Any]

# Shapes fhir.resources has accepted: a resource of a known shape needs only its primitive values checked.
SHAPES = ShapeCache()

# The model classes are R4B. These types are new in R4B, or (Evidence, EvidenceVariable) changed shape
# from R4 (4.0.1), which we serve, so validating them with R4B models would be wrong.
_NOT_IN_R4 = frozenset(
    {
        "AdministrableProductDefinition",
        "Citation",
        "ClinicalUseDefinition",
        "Evidence",
        "EvidenceReport",
        "EvidenceVariable",
        "Ingredient",
        "ManufacturedItemDefinition",
        "NutritionProduct",
        "PackagedProductDefinition",
        "RegulatedAuthorization",
        "SubscriptionStatus",
        "SubscriptionTopic",
    }
)


@cache
def model_class(resource_type: str) -> Any:
    """The fhir.resources model for a resource type, or a 400 naming the unknown type."""
    try:
        cls = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        cls = None
    if cls is None or resource_type in _NOT_IN_R4 or not _is_resource(cls):
        raise FhirError(f"Unknown resource type '{resource_type}'", 400, "not-supported")
    return cls


def _is_resource(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, _ResourceBase)


def is_resource_type(name: str) -> bool:
    try:
        model_class(name)
    except FhirError:
        return False
    return True


def loads_json(body: bytes | str) -> Any:
    """Decode JSON, turning any decoding problem into a 400 that says where it failed."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"Malformed JSON: {exc}") from None


def dumps_json(resource: Any) -> bytes:
    return orjson.dumps(resource)


def parse_xml(body: bytes) -> Resource:
    """Turn a FHIR XML resource into its JSON shape (XXE and network access are off in lxml's parser)."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise invalid(f"Malformed XML: {exc}") from None
    if root.tag is None or not isinstance(root.tag, str) or not root.tag.startswith("{http://hl7.org/fhir}"):
        raise invalid("XML root element is not in the FHIR namespace http://hl7.org/fhir")
    resource_type = etree.QName(root).localname
    cls = model_class(resource_type)
    try:
        model = cls.model_validate_xml(body)
    except ValidationError as exc:
        raise _validation_error(resource_type, exc) from None
    except Exception as exc:  # the XML converter raises plain errors on unknown elements
        raise invalid(f"Invalid FHIR XML for {resource_type}: {exc}") from None
    return dict(orjson.loads(model.model_dump_json(exclude_none=True)))


def to_xml(resource: Resource) -> bytes:
    """Serialise a resource (dict) as FHIR XML, with dates and times exactly as stored."""
    cls = model_class(resource["resourceType"])
    model = cls.model_validate(resource)
    _restore_temporal_text(model, resource)
    xml: bytes = model.model_dump_xml()
    return xml


def _restore_temporal_text(model: Any, data: Any) -> None:
    """Put back the text of each date, dateTime, instant and time the model parsed into a Python value.

    The XML writer renders parsed values with isoformat(), which turns "Z" into "+00:00" and pads
    fractions to microseconds; a str is written as it is, so XML and JSON show the same value.
    """
    if isinstance(data, list) and isinstance(model, list):
        for i, (item_model, item_data) in enumerate(zip(model, data, strict=False)):
            if isinstance(item_data, str) and isinstance(item_model, date | time):
                model[i] = item_data
            else:
                _restore_temporal_text(item_model, item_data)
        return
    if not isinstance(data, dict) or not isinstance(model, BaseModel):
        return
    names = {field.alias or name: name for name, field in type(model).model_fields.items()}
    for key, value in data.items():
        name = names.get(key)
        if name is None:
            continue
        current = model.__dict__.get(name)
        if isinstance(value, str) and isinstance(current, date | time):
            model.__dict__[name] = value  # bypasses assignment validation, which would parse it again
        else:
            _restore_temporal_text(current, value)


def validate_structure(resource: Any) -> Resource:
    """Check a resource's structure against the R4 model; raise a 400 naming each bad element.

    Empty elements (ele-1) are reported first, before any other check. Then a resource whose JSON shape the
    model accepted before has only its primitive values checked (see closer.fhir.shapes); anything else, and
    any resource that fails a check, gets the full model validation, whose errors are the ones reported.
    """
    if not isinstance(resource, dict):
        raise invalid("A resource must be a JSON object")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise invalid("Missing resourceType", "resourceType")
    cls = model_class(resource_type)
    if type(resource) is dict:
        # the shape walk finds empty elements on its way and calls reject_empty_elements first if it does
        SHAPES.validate(cls, resource, validate_with_model, reject_empty_elements)
    else:
        reject_empty_elements(resource)
        validate_with_model(cls, resource)
    return resource


def reject_empty_elements(resource: Resource) -> None:
    """Raise a 400 naming every empty object, array or string (ele-1)."""
    empties = list(_empty_elements(resource, resource["resourceType"]))
    if empties:
        issues = [Issue("invalid", "Elements must have a value or children (ele-1)", "error", (e,)) for e in empties]
        raise FhirError(issues[0].diagnostics, 400, "invalid", issues=issues)


def validate_with_model(cls: Any, resource: Resource) -> None:
    """The full fhir.resources validation of a resource (a dict with a resourceType) against its model."""
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        raise _validation_error(resource["resourceType"], exc) from None
    except (TypeError, ValueError) as exc:
        raise invalid(f"Invalid {resource['resourceType']}: {exc}") from None
    except KeyError as exc:  # fhir_core's lookup of a nested resource type R4 does not have
        unknown = str(exc.args[0] if exc.args else exc).removeprefix("R4.").removesuffix("Type")
        raise invalid(f"Invalid {resource['resourceType']}: '{unknown}' is not an R4 resource type") from None


def _empty_elements(value: Any, path: str) -> Any:
    """Yield the FHIRPath of every empty object, array or string (FHIR forbids them)."""
    if isinstance(value, dict):
        if not value:
            yield path
        for key, child in value.items():
            yield from _empty_elements(child, f"{path}.{key}")
    elif isinstance(value, list):
        if not value:
            yield path
        for i, child in enumerate(value):
            yield from _empty_elements(child, f"{path}[{i}]")
    elif value is None or (isinstance(value, str) and value.strip() == "" and not path.endswith("div")):
        yield path


def _validation_error(resource_type: str, exc: ValidationError) -> FhirError:
    issues = []
    for err in exc.errors():
        expression = fhirpath_of(resource_type, err.get("loc", ()))
        message = str(err.get("msg", "invalid value"))
        if err.get("type") == "extra_forbidden":
            message = "Unknown element"
        elif err.get("type") == "missing":
            message = "Required element is missing"
        issues.append(
            Issue(
                "invalid" if err.get("type") != "missing" else "required",
                f"{expression}: {message}",
                "error",
                (expression,),
            )
        )
    first = issues[0].diagnostics if issues else f"Invalid {resource_type}"
    return FhirError(first, 400, "invalid", issues=issues)


def fhirpath_of(resource_type: str, loc: tuple[Any, ...] | list[Any]) -> str:
    """Turn a pydantic error location into a FHIRPath expression, e.g. Patient.name[0].given[1]."""
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = str(part)
            if name.endswith("__ext"):
                name = "_" + name[: -len("__ext")]
            path += f".{name}"
    return path


@cache
def summary_elements(resource_type: str) -> frozenset[str]:
    """Top-level elements marked isSummary in R4, for _summary=true, with their primitive extensions
    (`_birthDate` travels with `birthDate`)."""
    cls = model_class(resource_type)
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        extra = field.json_schema_extra or {}
        if isinstance(extra, dict) and extra.get("summary_element_property"):
            json_name = field.alias or name
            names.update((json_name, f"_{json_name}"))
    return frozenset(names | {"id", "meta", "resourceType"})
