"""A cache of JSON shapes that fhir.resources has accepted, so repeated shapes skip the full model validation.

Bulk writes send tens of thousands of resources whose JSON *shape* repeats: the same keys, the same nesting,
the same shapes of list items; only the primitive values differ. For fhir.resources (pydantic v2 models
from fhir_core) the verdict on a resource is a function of

* its shape: which keys are present (unknown elements, required elements, one choice of value[x], the
  `_field` extension rules, FHIRPrimitiveExtension needing id or extension), whether each element is an
  object, an array or a primitive and which JSON type the primitive has; plus the `resourceType` (and
  `resource_type`) values, which pick the model of a contained or Bundle-entry resource and are checked
  against the model; we put those values in the shape itself;
* and each primitive value, checked on its own against its FHIR primitive type (date, code, id, ...).

So one walk gives a *signature* (the shape, hashable) and the primitive *leaves* (each with its path of
element names, list markers and resourceType markers). On a miss the caller's full validation runs (same
errors as ever); if it passes, each leaf path is resolved through the model classes to its FHIR primitive
type, and the signature is remembered with those types. On a hit only the leaves are checked, each with a
pydantic TypeAdapter over the very annotation the model field uses (fhir_core's own validators), so the
formats can never drift from the models'. If any leaf fails, the full validation runs, so a rejection
always carries the same errors as without this cache. The cache can only ever say "valid" for a shape
fhir.resources accepted with every leaf value passing the field's own validator.

What is never cached (always full validation), because the verdict could depend on more than the shape
and the leaf values:

* anything that is not plain JSON: a value that is not exactly dict, list, str, int, float or bool, a
  non-string key, nesting deeper than Python's recursion limit;
* a resource with an empty object, list or string, a blank string or a null anywhere: the caller's
  empty-element check (ele-1) rejects it, except a blank Narrative div, which goes to full validation;
* a shape in which a primitive sits where the model wants an object (fhir.resources parses a string
  there as JSON), an array where the model has a single element or the reverse, a key that names a
  field by its Python name instead of its JSON alias (`class_fhir` for `class`), `fhir_comments`
  (a str-or-list union), or any field with pydantic metadata or an annotation this module does not
  recognise. Such a signature is remembered as "not cacheable" so the model introspection is not
  repeated, and every resource of that shape gets the full validation.
"""

from __future__ import annotations

import threading
import types
import typing
from collections import OrderedDict
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from fhir_core.constraints import FHIR_TYPES_MAPS
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhir_core.types import FhirBase, FhirElementOrResourceBase, import_string  # the lookup fhir_core uses
from pydantic import ConfigDict, TypeAdapter

DEFAULT_MAXSIZE = 8192
# A shape with more distinct leaf paths than this (a big stored Bundle, a Questionnaire) is not remembered:
# such shapes rarely repeat, and 8192 of them would hold a lot of memory. Typical resources have under 100.
MAX_PLAN_PATHS = 1024
# Known-good primitive values are remembered per FHIR type (codes, systems and units repeat a lot);
# each set is emptied when it reaches this many, and long strings are never remembered.
_GOOD_VALUES_MAX = 4096
_GOOD_VALUE_MAX_LEN = 256

_LIST: Any = object()  # a list's signature is (_LIST, tuple of its distinct item signatures)
_EQ: Any = object()  # a resourceType value kept in the signature: (_EQ, type, value)
_ITEM = 0  # path marker: the items of a list
_TYPE_KEYS = frozenset({"resourceType", "resource_type"})


class _Unsupported(Exception):
    """The walk met something it does not sign; the resource gets the full validation."""


class _Empty(Exception):
    """The walk met an element FHIR forbids as empty; the caller's empty-element check reports it."""


class _NotCacheable:
    """The plan of a signature fhir.resources accepted but this module cannot check leaf by leaf."""

    def __repr__(self) -> str:
        return "NOT_CACHEABLE"


NOT_CACHEABLE = _NotCacheable()
Path = tuple[Any, ...]
Leaves = list[tuple[Path, Any]]


def signature(value: Any, path: Path, leaves: Leaves) -> Any:
    """The shape of a JSON value (hashable), appending each primitive leaf as (path, value) to `leaves`.

    An object's signature is its keys, in order, each followed by its value's signature; a list's is _LIST
    and the distinct signatures of its items (so lists of any length that hold the same item shapes share
    one); a primitive's is its type. resourceType and resource_type values are kept in the signature.
    Paths hold element names, _ITEM for "inside a list" and a 1-tuple (resourceType,) on entering an object
    that has one. Raises _Empty on anything closer.fhir.model._empty_elements might report (an empty
    object, list or string, a blank string, None) and _Unsupported on anything that is not plain JSON.

    Keys are taken in their order, not sorted: the verdict does not depend on it, producers write one
    order, and sorting cost a third of the walk. Another order is another shape: one more miss.
    """
    t = type(value)
    if t is dict:
        if not value:
            raise _Empty
        resource_type = value.get("resourceType")
        if type(resource_type) is str:
            path = path + ((resource_type,),)  # noqa: RUF005  (faster than unpacking)
        parts: list[Any] = []
        append = parts.append
        for key, child in value.items():
            if type(key) is not str:
                raise _Unsupported
            tc = type(child)
            if tc is str:
                if not child or child.isspace():  # the same test as strip() == "" (Py_UNICODE_ISSPACE)
                    raise _Empty
                append(key)
                if key in _TYPE_KEYS:
                    append((_EQ, str, child))
                else:
                    leaves.append((path + (key,), child))  # noqa: RUF005
                    append(str)
            elif tc is dict or tc is list:
                append(key)
                append(signature(child, path + (key,), leaves))  # noqa: RUF005
            elif tc is int or tc is float or tc is bool:
                append(key)
                if key in _TYPE_KEYS:
                    append((_EQ, tc, child))
                else:
                    leaves.append((path + (key,), child))  # noqa: RUF005
                    append(tc)
            elif child is None:
                raise _Empty
            else:
                raise _Unsupported
        return tuple(parts)
    if t is list:
        if not value:
            raise _Empty
        item_path = path + (_ITEM,)  # noqa: RUF005
        if len(value) == 1:
            return (_LIST, (signature(value[0], item_path, leaves),))
        return (_LIST, tuple({signature(item, item_path, leaves): None for item in value}))
    if t is str:
        if not value or value.isspace():
            raise _Empty
        leaves.append((path, value))
        return str
    if t is int or t is float or t is bool:
        leaves.append((path, value))
        return t
    if value is None:
        raise _Empty
    raise _Unsupported


class Checker:
    """Checks one primitive value with the TypeAdapter of a model field's annotation (fhir_core's own
    validators), remembering values that passed."""

    __slots__ = ("_validate", "annotation", "good")

    def __init__(self, annotation: Any, config: tuple[tuple[str, Any], ...] = ()) -> None:
        self.annotation = annotation
        self._validate = TypeAdapter(annotation, config=ConfigDict(**dict(config))).validate_python  # type: ignore[typeddict-item]
        self.good: set[Any] = set()

    def __call__(self, value: Any) -> bool:
        key = value if type(value) is str else _good_key(value)
        if key in self.good:
            return True
        try:
            self._validate(value)
        except Exception:
            return False
        if type(value) is not str or len(value) <= _GOOD_VALUE_MAX_LEN:
            if len(self.good) >= _GOOD_VALUES_MAX:
                self.good.clear()
            self.good.add(key)
        return True

    def __repr__(self) -> str:
        return f"Checker({self.annotation!r})"


def _good_key(value: Any) -> Any:
    """How a non-string value is remembered: 1, 1.0 and True are equal in Python but not equally valid, and
    0.0 equals -0.0, so the type (and the sign of a zero) is part of the key."""
    if type(value) is float and value == 0.0:
        return (float, str(value))
    return (type(value), value)


@lru_cache(maxsize=256)
def _checker(annotation: Any, config: tuple[tuple[str, Any], ...]) -> Checker:
    return Checker(annotation, config)


# Model settings that change nothing in how a single value is validated (and that TypeAdapter refuses
# or ignores for a plain type); every other setting of the model is applied to the value's TypeAdapter.
_MODEL_ONLY_CONFIG = frozenset({"extra", "validate_assignment", "populate_by_name", "title"})


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        return typing.Union[tuple(args)]  # noqa: UP007  (a union built at run time)
    return annotation


def _mentions(annotation: Any, predicate: Callable[[Any], bool]) -> bool:
    if predicate(annotation):
        return True
    return any(_mentions(arg, predicate) for arg in typing.get_args(annotation))


def _is_fhir_base(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, FhirBase)


def _is_list(annotation: Any) -> bool:
    return annotation is list or typing.get_origin(annotation) is list


class _Field(typing.NamedTuple):
    is_list: bool
    complex: Any  # the FhirBase type of an object element, else None
    checker: Checker | None  # the primitive type's checker, else None


@lru_cache(maxsize=4096)
def _field(cls: Any, key: str) -> _Field | None:
    """What the model class expects under a JSON key, or None if this module cannot say."""
    fields = _fields_by_alias(cls)
    info = fields.get(key)
    if info is None or info.metadata or info.discriminator is not None:
        return None
    annotation = _strip_optional(info.annotation)
    is_list = _is_list(annotation)
    if is_list:
        args = typing.get_args(annotation)
        if len(args) != 1:
            return None
        annotation = _strip_optional(args[0])
    if _is_fhir_base(annotation):
        return _Field(is_list, annotation, None)
    if _mentions(annotation, _is_fhir_base) or _mentions(annotation, _is_list):
        return None  # e.g. fhir_comments: str | list[str]
    try:
        config = tuple(sorted((k, v) for k, v in cls.model_config.items() if k not in _MODEL_ONLY_CONFIG))
        return _Field(is_list, None, _checker(annotation, config))
    except Exception:  # unhashable or not a type pydantic can build a validator for
        return None


@lru_cache(maxsize=2048)
def _fields_by_alias(cls: Any) -> dict[str, Any]:
    return {info.alias: info for info in cls.model_fields.values() if info.alias}


def _model_of(fhir_type: Any) -> Any:
    model = fhir_type.get_model_klass()
    return model if isinstance(model, type) and issubclass(model, FHIRAbstractModel) else None


def resolve(root: type, path: Path) -> Checker | None:
    """The checker for a leaf at `path` in a resource of model `root`, or None if it cannot be checked alone.

    Mirrors how fhir.resources picks models: the field's annotation, and for Resource-typed elements
    (contained, Bundle.entry.resource, Parameters.parameter.resource) the model named by resourceType,
    exactly as FhirElementOrResourceBase.fhir_model_validator looks it up.
    """
    return _in_object(root, None, path)


@lru_cache(maxsize=65536)
def _in_object(cls: Any, polymorphic: Any, path: Path) -> Checker | None:
    """Resolve `path` inside an object of model `cls`; `polymorphic` is the FhirElementOrResourceBase type
    of the element holding the object, if it is one (then its resourceType picks the model)."""
    if path and type(path[0]) is tuple:
        if polymorphic is not None:
            name = polymorphic._prefix + path[0][0] + "Type"
            if name not in FHIR_TYPES_MAPS:
                return None
            cls = import_string(FHIR_TYPES_MAPS[name])
            if not (isinstance(cls, type) and issubclass(cls, FHIRAbstractModel)):
                return None
        # elsewhere (the root, ExampleScenario.instance) the value is in the signature, nothing to pick
        path = path[1:]
    if not path or type(path[0]) is not str:
        return None  # a leaf cannot sit directly in an object
    field = _field(cls, path[0])
    if field is None:
        return None
    rest = path[1:]
    if field.is_list:
        if not rest or type(rest[0]) is not int:
            return None  # a single value where the model wants a list
        rest = rest[1:]
    if rest and type(rest[0]) is int:
        return None  # a list where the model wants one value, or a list in a list
    if not rest:
        return field.checker  # None for a primitive where an object belongs (a JSON string there is parsed)
    if field.complex is None:
        return None  # an object or list inside a primitive
    model = _model_of(field.complex)
    if model is None:
        return None
    inner = field.complex if issubclass(field.complex, FhirElementOrResourceBase) else None
    return _in_object(model, inner, rest)


class ShapeCache:
    """A bounded LRU of signatures fhir.resources accepted, each with the checker of every leaf path."""

    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        self.maxsize = maxsize
        self._plans: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._plans)

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
            self.hits = self.misses = 0

    def validate(
        self,
        cls: type,
        resource: dict[str, Any],
        full: Callable[[type, dict[str, Any]], Any],
        precheck: Callable[[dict[str, Any]], Any],
    ) -> None:
        """Accept `resource` if its shape was accepted before and every leaf passes its type; otherwise
        call full(cls, resource), which raises on an invalid resource, and remember the shape if it passes.

        precheck(resource) (the empty-element check, which raises) runs before any validation whenever the
        walk meets an empty or blank element or something it does not sign; when the walk finishes, it has
        seen every element and none is empty, so the check could not raise and is skipped.
        """
        leaves: Leaves = []
        try:
            key = (cls, signature(resource, (), leaves))
        except (_Empty, _Unsupported, RecursionError):
            precheck(resource)
            full(cls, resource)
            return
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
        if plan is not None and plan is not NOT_CACHEABLE:
            for path, value in leaves:
                check = plan.get(path)
                if check is None:
                    break
                if (value if type(value) is str else _good_key(value)) in check.good:
                    continue  # the common case, inlined: a value this type accepted before
                if not check(value):
                    break
            else:
                self.hits += 1
                return
        self.misses += 1
        full(cls, resource)
        if plan is None:
            paths = dict.fromkeys(path for path, _ in leaves)
            if len(paths) <= MAX_PLAN_PATHS:
                self._remember(key, self._plan(cls, paths))

    def _plan(self, cls: type, paths: Iterable[Path]) -> Any:
        plan: dict[Path, Checker] = {}
        for path in paths:
            check = resolve(cls, path)
            if check is None:
                return NOT_CACHEABLE
            plan[path] = check
        return plan

    def _remember(self, key: Any, plan: Any) -> None:
        with self._lock:
            self._plans[key] = plan
            self._plans.move_to_end(key)
            while len(self._plans) > self.maxsize:
                self._plans.popitem(last=False)
