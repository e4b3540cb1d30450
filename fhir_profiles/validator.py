"""Check resources against the profiles they claim in ``meta.profile``.

Closer publishes its own profiles as StructureDefinition differentials (see ``definitions/``). Rather
than generating snapshots, the validator walks the differential directly and enforces the constraint
kinds our profiles use:

* min/max cardinality of elements and slices (``code="required"`` when too few, ``"invariant"`` when
  too many);
* ``fixed[x]`` and ``pattern[x]`` values (``"value"``);
* required bindings on code, Coding and CodeableConcept to value sets we hold (``"code-invalid"``);
* slices told apart by ``value``/``pattern`` discriminators, and extension slices by url;
* allowed choice types and Reference target types (``"invariant"``).

Base R4 structure is not checked here; that is the job of the resource model. Issue expressions are
FHIRPath, with ``[i]`` indexes wherever the JSON holds a list, e.g. ``Patient.identifier[0].value``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from fhir_profiles.canonical import CANONICAL_BASE, HL7_STRUCTURE_DEFINITION_BASE, NHS_NUMBER_SYSTEM
from fhir_profiles.nhs_number import is_valid_nhs_number
from fhir_profiles.terminology import BUILTIN_VALUE_SETS, ValueSetCodes, strip_version

_PRIMITIVE_TYPES = frozenset(
    {
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
    }
)
_IMPLICITLY_SLICED = frozenset({"extension", "modifierExtension"})


@dataclass(frozen=True)
class ProfileIssue:
    """One way a resource fails a profile, shaped to become an OperationOutcome.issue."""

    expression: str
    message: str
    code: str = "invariant"
    severity: str = "error"


# --- loading -------------------------------------------------------------------------------------


def _definitions() -> Iterator[dict[str, Any]]:
    """Yield every JSON definition shipped in the package's ``definitions`` folder."""
    folder = resources.files("fhir_profiles") / "definitions"
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".json"):
            yield json.loads(entry.read_text(encoding="utf-8"))


def _index_by_url(resource_type: str) -> dict[str, dict[str, Any]]:
    index: dict[str, dict[str, Any]] = {}
    for definition in _definitions():
        if definition.get("resourceType") != resource_type:
            continue
        url = definition["url"]
        if url in index:
            raise ValueError(f"Two {resource_type} definitions share the url {url}")
        index[url] = definition
    return index


@functools.cache
def load_profiles() -> dict[str, dict[str, Any]]:
    """Our StructureDefinitions by canonical url; read once and shared, so treat as read-only."""
    return _index_by_url("StructureDefinition")


@functools.cache
def load_value_sets() -> dict[str, dict[str, Any]]:
    """Our ValueSets by canonical url (built-in R4 ones are separate); shared, so treat as read-only."""
    return _index_by_url("ValueSet")


@functools.cache
def load_code_systems() -> dict[str, dict[str, Any]]:
    """Our CodeSystems by canonical url, published so the systems our codings name can be read (the
    validator checks codes against ValueSets, not these); shared, so treat as read-only."""
    return _index_by_url("CodeSystem")


@functools.cache
def _value_set_codes(canonical: str) -> ValueSetCodes | None:
    url = strip_version(canonical)
    value_set = load_value_sets().get(url) or BUILTIN_VALUE_SETS.get(url)
    return None if value_set is None else ValueSetCodes.from_value_set(value_set)


# --- the differential as a tree ------------------------------------------------------------------


@dataclass
class _Slice:
    name: str
    node: _Node
    discriminators: list[tuple[str, str, Any]] = field(default_factory=list)
    """(type, path, expected) triples that an item must all satisfy to belong to this slice."""


@dataclass
class _Group:
    """All differential constraints on one child element name: the element itself and its slices."""

    base: _Node | None = None
    slices: list[_Slice] = field(default_factory=list)


@dataclass
class _Node:
    element: dict[str, Any]
    """The differential element, or ``{}`` for an ancestor the differential only implies."""
    children: dict[str, _Group] = field(default_factory=dict)

    # What the element asks of an instance, worked out once (the element is complete once compiled):
    # the checks run for every resource written, so they must not re-read the element each time.
    @functools.cached_property
    def allowed_types(self) -> tuple[str, ...]:
        return tuple(type_["code"] for type_ in self.element.get("type", []))

    @functools.cached_property
    def fixed(self) -> tuple[str, Any] | None:
        return _fixed_or_pattern(self.element)

    @functools.cached_property
    def required_value_set(self) -> str | None:
        binding = self.element.get("binding") or {}
        return str(binding["valueSet"]) if binding.get("strength") == "required" and binding.get("valueSet") else None

    @functools.cached_property
    def reference_targets(self) -> frozenset[str | None]:
        """The resource types a Reference may point to (None for a target we cannot resolve)."""
        return frozenset(
            _profile_type(target)
            for type_ in self.element.get("type", [])
            if type_.get("code") == "Reference"
            for target in type_.get("targetProfile", [])
        )


def _parse_id(element_id: str) -> tuple[tuple[str, str | None], ...]:
    """Split ``Patient.identifier:nhsNumber.system`` into ((Patient, None), (identifier, nhsNumber), ...)."""
    segments = []
    for segment in element_id.split("."):
        name, _, slice_name = segment.partition(":")
        segments.append((name, slice_name or None))
    return tuple(segments)


@functools.cache
def _compile(url: str) -> _Node:
    """Turn a profile's flat differential into a tree of nodes, slices grouped under their element."""
    profile = load_profiles()[url]
    elements = profile["differential"]["element"]
    root_key = _parse_id(elements[0]["id"])[:1]
    nodes: dict[tuple[tuple[str, str | None], ...], _Node] = {root_key: _Node({})}
    slices: list[tuple[str, _Group, _Slice]] = []

    def ensure(key: tuple[tuple[str, str | None], ...]) -> _Node:
        if key in nodes:
            return nodes[key]
        parent = ensure(key[:-1])
        node = nodes[key] = _Node({})
        name, slice_name = key[-1]
        group = parent.children.setdefault(name, _Group())
        if slice_name is None:
            group.base = node
        else:
            item = _Slice(slice_name, node)
            group.slices.append(item)
            slices.append((name, group, item))
        return node

    for element in elements:
        key = _parse_id(element["id"])
        if key[:1] != root_key:
            raise ValueError(f"{url}: element {element['id']} is outside {root_key[0][0]}")
        ensure(key).element = element
    for name, group, item in slices:
        item.discriminators = _discriminators(url, name, group, item)
    return nodes[root_key]


def _discriminators(url: str, name: str, group: _Group, item: _Slice) -> list[tuple[str, str, Any]]:
    """Work out what an instance must hold to fall in ``item``, from the slicing on its element."""
    slicing = group.base.element.get("slicing") if group.base else None
    if slicing:
        discriminators = slicing.get("discriminator", [])
    elif name in _IMPLICITLY_SLICED:  # extensions are sliced by url without saying so
        discriminators = [{"type": "value", "path": "url"}]
    else:
        raise ValueError(f"{url}: slice {item.name} has no slicing on its element")
    result = []
    for discriminator in discriminators:
        kind, path = discriminator["type"], discriminator["path"]
        if kind not in ("value", "pattern"):
            raise NotImplementedError(f"{url}: {kind} discriminators are not supported")
        expected = _slice_value(item, path)
        if expected is None:
            raise ValueError(f"{url}: slice {item.name} fixes no value for discriminator {path}")
        result.append((kind, path, expected))
    return result


def _slice_value(item: _Slice, path: str) -> Any:
    """The fixed/pattern value a slice declares at ``path``, or the profile url of an extension slice."""
    node: _Node | None = item.node
    for name in [] if path == "$this" else path.split("."):
        group = node.children.get(name) if node else None
        node = group.base if group else None
    found = _fixed_or_pattern(node.element) if node else None
    if found is not None:
        return found[1]
    if path == "url":
        for type_ in item.node.element.get("type", []):
            for profile in type_.get("profile", []):
                return profile
    return None


def _fixed_or_pattern(element: Mapping[str, Any]) -> tuple[str, Any] | None:
    """Return ("fixed"|"pattern", value) for an element's fixed[x]/pattern[x], if it has one."""
    for key, value in element.items():
        for prefix in ("fixed", "pattern"):
            if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
                return prefix, value
    return None


# --- reading instance data -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """One occurrence of an element in the instance."""

    value: Any
    """The JSON value; None for a primitive that only carries extensions."""
    expression: str
    type_code: str | None
    """The datatype, known when a choice element's JSON key names it (valueCodeableConcept)."""
    inner: Mapping[str, Any]
    """Where child elements live: the value itself, or the ``_name`` object of a primitive."""


def _choice_keys(obj: Mapping[str, Any], name: str) -> Iterator[tuple[str, str, str | None]]:
    """Yield (json key, FHIRPath name, type code) for the keys that hold element ``name``."""
    if not name.endswith("[x]"):
        if name in obj or f"_{name}" in obj:
            yield name, name, None
        return
    stem = name[:-3]
    seen: set[str] = set()
    for key in obj:
        bare = key.removeprefix("_")  # a primitive choice may carry only extensions, in _valueString
        suffix = bare[len(stem) :]
        if bare in seen or not bare.startswith(stem) or not suffix[:1].isupper():
            continue
        seen.add(bare)
        lowered = suffix[0].lower() + suffix[1:]
        yield bare, stem, lowered if lowered in _PRIMITIVE_TYPES else suffix


def _items(obj: Mapping[str, Any], name: str, expression: str) -> list[_Item]:
    """Every occurrence of child ``name`` in ``obj``, lists flattened and primitives paired with ``_``."""
    items: list[_Item] = []
    for key, path_name, type_code in _choice_keys(obj, name):
        value, extra = obj.get(key), obj.get(f"_{key}")
        base = f"{expression}.{path_name}"
        if isinstance(value, list) or isinstance(extra, list):
            values = value if isinstance(value, list) else []
            extras = extra if isinstance(extra, list) else []
            for index in range(max(len(values), len(extras))):
                item_value = values[index] if index < len(values) else None
                item_extra = extras[index] if index < len(extras) else None
                items.append(_item(item_value, item_extra, f"{base}[{index}]", type_code))
        else:
            items.append(_item(value, extra, base, type_code))
    return [item for item in items if item.value is not None or item.inner]


def _item(value: Any, extra: Any, expression: str, type_code: str | None) -> _Item:
    inner = value if isinstance(value, dict) else extra if isinstance(extra, dict) else {}
    return _Item(value, expression, type_code, inner)


def _values_at(value: Any, path: str) -> list[Any]:
    """Values reached by a dotted discriminator path, fanning out over lists."""
    current = [value]
    if path != "$this":
        for name in path.split("."):
            nxt: list[Any] = []
            for entry in current:
                found = entry.get(name) if isinstance(entry, dict) else None
                nxt.extend(found if isinstance(found, list) else [] if found is None else [found])
            current = nxt
    return current


def _matches_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern[x] semantics: everything in the pattern appears in the value; extras are fine."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            _matches_pattern(value.get(key), expected) for key, expected in pattern.items()
        )
    if isinstance(pattern, list):
        values = value if isinstance(value, list) else []
        return all(any(_matches_pattern(entry, expected) for entry in values) for expected in pattern)
    return bool(value == pattern)


# --- checking ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    resource: Mapping[str, Any]
    """The resource being checked, for resolving ``#id`` references to contained resources."""


def _cardinality(element: Mapping[str, Any], count: int, expression: str, what: str) -> Iterator[ProfileIssue]:
    minimum = element.get("min")
    maximum = element.get("max")
    if isinstance(minimum, int) and count < minimum:
        yield ProfileIssue(expression, f"{what}: minimum required = {minimum}, but only found {count}", "required")
    if isinstance(maximum, str) and maximum != "*" and count > int(maximum):
        yield ProfileIssue(expression, f"{what}: maximum allowed = {maximum}, but found {count}", "invariant")


def _check_node(node: _Node, obj: Mapping[str, Any], expression: str, ctx: _Context) -> Iterator[ProfileIssue]:
    for name, group in node.children.items():
        yield from _check_group(name, group, obj, expression, ctx)


def _check_group(
    name: str, group: _Group, obj: Mapping[str, Any], expression: str, ctx: _Context
) -> Iterator[ProfileIssue]:
    items = _items(obj, name, expression)
    path_name = name.removesuffix("[x]")
    where = f"{expression}.{path_name}"
    if group.base is not None:
        yield from _cardinality(group.base.element, len(items), where, where)
        for item in items:
            yield from _check_item(group.base, item, ctx)
    if not group.slices:
        return
    unmatched = list(items)
    for slice_ in group.slices:
        members = [item for item in unmatched if _in_slice(item, slice_)]
        unmatched = [item for item in unmatched if all(item is not member for member in members)]
        yield from _cardinality(slice_.node.element, len(members), where, f"{where} slice '{slice_.name}'")
        for item in members:
            yield from _check_item(slice_.node, item, ctx)
    slicing = group.base.element.get("slicing", {}) if group.base else {}
    if slicing.get("rules") == "closed":
        for item in unmatched:
            yield ProfileIssue(item.expression, f"{item.expression} does not match any permitted slice")


def _in_slice(item: _Item, slice_: _Slice) -> bool:
    for kind, path, expected in slice_.discriminators:
        found = _values_at(item.value, path)
        if kind == "value" and expected not in found:
            return False
        if kind == "pattern" and not any(_matches_pattern(value, expected) for value in found):
            return False
    return True


def _check_item(node: _Node, item: _Item, ctx: _Context) -> Iterator[ProfileIssue]:
    if node.allowed_types and item.type_code is not None and item.type_code not in node.allowed_types:
        yield ProfileIssue(
            item.expression, f"{item.expression} has type {item.type_code}; allowed: {', '.join(node.allowed_types)}"
        )
    if node.fixed is not None:
        yield from _check_fixed(node.fixed, item)
    if node.required_value_set is not None:
        yield from _check_binding(node.required_value_set, item)
    if node.reference_targets:
        yield from _check_reference(node.reference_targets, item, ctx)
    if node.children:
        yield from _check_node(node, item.inner, item.expression, ctx)


def _check_fixed(found: tuple[str, Any], item: _Item) -> Iterator[ProfileIssue]:
    kind, expected = found
    if kind == "fixed" and item.value != expected:
        yield ProfileIssue(item.expression, f"{item.expression} must be {expected!r}, not {item.value!r}", "value")
    elif kind == "pattern" and not _matches_pattern(item.value, expected):
        yield ProfileIssue(item.expression, f"{item.expression} must match {expected!r}", "value")


def _check_binding(value_set: str, item: _Item) -> Iterator[ProfileIssue]:
    codes = _value_set_codes(value_set)
    if codes is None:  # a test keeps every binding in our own profiles resolvable
        return
    value = item.value
    if isinstance(value, str):
        ok = codes.contains_code(value)
    elif isinstance(value, dict) and "coding" not in value and "code" in value:
        ok = codes.contains_coding(value.get("system"), value.get("code"))
    elif isinstance(value, dict):
        codings = value.get("coding") or []
        ok = any(codes.contains_coding(coding.get("system"), coding.get("code")) for coding in codings)
    else:
        return  # a primitive with only extensions has no code to check
    if not ok:
        yield ProfileIssue(
            item.expression,
            f"{item.expression}: {_describe_code(value)} is not in the required value set {value_set}",
            "code-invalid",
        )


def _describe_code(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    codings = value.get("coding") if "coding" in value else [value]
    shown = [f"{coding.get('system')}#{coding.get('code')}" for coding in codings or []]
    return ", ".join(shown) or "no coding"


def _check_reference(allowed: frozenset[str | None], item: _Item, ctx: _Context) -> Iterator[ProfileIssue]:
    if not isinstance(item.value, dict):
        return
    if None in allowed:  # a target we cannot resolve to a type: do not guess
        return
    actual = _reference_type(item.value, ctx.resource)
    if actual is not None and actual not in allowed:
        yield ProfileIssue(
            item.expression,
            f"{item.expression} refers to a {actual}; allowed: {', '.join(sorted(str(t) for t in allowed))}",
        )


def _profile_type(canonical: str) -> str | None:
    url = strip_version(canonical)
    known = load_profiles().get(url)
    if known is not None:
        return str(known["type"])
    if url.startswith(HL7_STRUCTURE_DEFINITION_BASE):
        return url.removeprefix(HL7_STRUCTURE_DEFINITION_BASE)
    return None


def _reference_type(reference: Mapping[str, Any], resource: Mapping[str, Any]) -> str | None:
    """The resource type a Reference points at, when it can be told without resolving it."""
    literal = reference.get("reference")
    if isinstance(literal, str) and literal.startswith("#"):
        for contained in resource.get("contained") or []:
            if isinstance(contained, dict) and contained.get("id") == literal[1:]:
                return str(contained.get("resourceType"))
    elif isinstance(literal, str) and not literal.startswith("urn:"):
        parts = literal.split("/_history/", 1)[0].split("/")
        if len(parts) >= 2 and parts[-2][:1].isupper():
            return parts[-2]
    declared = reference.get("type")
    if isinstance(declared, str) and declared:
        return declared.rsplit("/", 1)[-1]
    return None


# --- entry points --------------------------------------------------------------------------------


def check_nhs_numbers(resource: Mapping[str, Any]) -> list[ProfileIssue]:
    """Every top-level identifier with the NHS number system must hold a valid NHS number.

    This applies to any resource type, profiled or not, because a wrong NHS number links the record to
    the wrong person. Identifiers with no value are left to the profile's cardinality rules.
    """
    resource_type = str(resource.get("resourceType", "Resource"))
    identifiers = resource.get("identifier")
    if isinstance(identifiers, dict):
        entries: list[tuple[str, Any]] = [(f"{resource_type}.identifier", identifiers)]
    elif isinstance(identifiers, list):
        entries = [(f"{resource_type}.identifier[{i}]", entry) for i, entry in enumerate(identifiers)]
    else:
        return []
    issues = []
    for expression, identifier in entries:
        if not isinstance(identifier, dict) or identifier.get("system") != NHS_NUMBER_SYSTEM:
            continue
        value = identifier.get("value")
        if value is not None and not (isinstance(value, str) and is_valid_nhs_number(value)):
            issues.append(
                ProfileIssue(
                    f"{expression}.value",
                    f"{value!r} is not a valid NHS number (ten digits, no spaces, Modulus 11 check digit)",
                    "value",
                )
            )
    return issues


def validate(resource: Mapping[str, Any]) -> list[ProfileIssue]:
    """Check the NHS number rule and every profile the resource claims in ``meta.profile``.

    A claimed profile we do not hold is reported as ``not-supported``: as an error when it is under our
    own CANONICAL_BASE (a client asking for a Closer profile that does not exist), as a warning for
    outside profiles such as UK Core, which we accept without checking.
    """
    issues = check_nhs_numbers(resource)
    meta = resource.get("meta")
    claimed = meta.get("profile") if isinstance(meta, dict) else None
    resource_type = str(resource.get("resourceType", "Resource"))
    seen: set[str] = set()
    for index, canonical in enumerate(claimed if isinstance(claimed, list) else []):
        if not isinstance(canonical, str) or strip_version(canonical) in seen:
            continue
        seen.add(strip_version(canonical))
        where = f"{resource_type}.meta.profile[{index}]"
        issues.extend(_validate_profile(resource, resource_type, canonical, where))
    return issues


def _validate_profile(
    resource: Mapping[str, Any], resource_type: str, canonical: str, where: str
) -> list[ProfileIssue]:
    url = strip_version(canonical)
    profile = load_profiles().get(url)
    if profile is None:
        own = url.startswith(f"{CANONICAL_BASE}/")
        return [
            ProfileIssue(
                where,
                f"Profile {canonical} is not known to this server"
                + ("" if own else "; the resource was not checked against it"),
                "not-supported",
                "error" if own else "warning",
            )
        ]
    if profile["type"] != resource_type:
        return [
            ProfileIssue(
                where,
                f"Profile {canonical} is for {profile['type']} resources, not {resource_type}",
            )
        ]
    return list(_check_node(_compile(url), resource, resource_type, _Context(resource)))
