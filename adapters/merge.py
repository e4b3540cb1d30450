"""Laying one feed's view of a record over what other feeds already stored. Pure.

Several feeds write the same Patient (its id is the NHS number), so a feed that does not know a hospital
number or a GP extract's identifier must not drop it: lists of identified items are unioned.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

JSON = dict[str, Any]


def union(current: list[Any], incoming: list[Any], identity: Callable[[Any], Hashable]) -> list[Any]:
    """Current items in place (an incoming item with the same identity merged over its match), then new ones."""
    by_identity = {identity(item): item for item in incoming}
    merged = [{**item, **by_identity[identity(item)]} if identity(item) in by_identity else item for item in current]
    seen = {identity(item) for item in current}
    return merged + [item for item in incoming if identity(item) not in seen]


def system_value(item: JSON) -> Hashable:
    """The identity of an Identifier or ContactPoint."""
    return (item.get("system"), item.get("value"))
